"""The training loop: learn the tasks one after the other, evaluate after each.

:func:`train_continual` builds the benchmark and the learner of an
:class:`~hnet_utils.experiments.configs.ExperimentConfig`, learns the tasks in
order, fills the matrix ``R[i][j]`` (metric on task ``j`` after learning task
``i``) and returns a :class:`~hnet_utils.experiments.results.ContinualResult`.
Every method-specific decision is the learner's (``learners.Learner``); this
file only loops, samples batches and evaluates.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from hnet_utils.continual.baselines import TargetLearner
from hnet_utils.continual.learners import HnetLearner, Learner, build_target
from hnet_utils.continual.resume import can_resume, load_progress, restore, save_progress
from hnet_utils.data.augment import random_crop_flip
from hnet_utils.data.benchmarks import (Benchmark, TaskData, describe_data, make_benchmark, run_data,
                                        same_data)
from hnet_utils.experiments.configs import ExperimentConfig, validate_config
from hnet_utils.experiments.results import ContinualResult
from hnet_utils.networks.hypernet import HyperNetwork
from hnet_utils.settings import get_device


@dataclass
class TrainState:
    """What a training callback sees.

    ``event`` is ``"step"`` (every ``callback_every`` steps) or ``"task_end"``.
    ``step`` counts steps within the current ``task`` (1-based). ``matrix`` is
    the metric matrix filled so far (at ``"task_end"``, else ``None``).
    """

    event: str
    task: int
    step: int
    global_step: int
    loss: float
    hnet: HyperNetwork | None
    target: torch.nn.Module
    benchmark: Benchmark
    config: ExperimentConfig
    matrix: list | None = None
    learner: Learner | None = None  # every model of the method (e.g. a replay generator)


# ----------------------------------------------------------------------- batches


def subset_indices(n: int, k: int | None, seed: int) -> torch.Tensor:
    """All indices ``0..n-1`` (``k`` None or >= n) or a fixed random subset of ``k`` of them, sorted."""
    if k is None or k >= n:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=gen)[:k].sort().values


class BatchSampler:
    """Endless shuffled mini-batches of ``indices``: one stream of epochs, a new permutation each.

    Every batch has ``batch_size`` samples (all samples, once, when there are
    fewer): a batch that reaches the end of an epoch is completed from the
    next permutation, as in the authors' data handlers (hypercl
    ``Dataset._get_random_batch``). Cutting batches at epoch ends instead
    would make every ``ceil(n / batch_size)``-th step a small, noisy batch
    (4 of 100 regression samples with batch 32: a quarter of all Adam steps),
    which spoils the fits of the regression toy problem.
    """

    def __init__(self, indices: torch.Tensor, batch_size: int, generator: torch.Generator) -> None:
        self.indices, self.batch_size, self.generator = indices, batch_size, generator
        self._order, self._pos = torch.empty(0, dtype=torch.long), 0

    def _take(self, k: int) -> torch.Tensor:
        """Up to ``k`` indices from the current epoch (a new permutation when it is used up)."""
        if self._pos >= len(self._order):
            self._order = self.indices[torch.randperm(len(self.indices), generator=self.generator)]
            self._pos = 0
        part = self._order[self._pos:self._pos + k]
        self._pos += len(part)
        return part

    def state(self) -> list:
        """Where the sampler is: ``[order of the current epoch, position in it]`` (for resuming)."""
        return [self._order, self._pos]

    def set_state(self, state: list) -> None:
        """Continue from a :meth:`state`."""
        self._order, self._pos = state

    def next(self) -> torch.Tensor:
        """The next batch of ``min(batch_size, len(indices))`` indices."""
        size = min(self.batch_size, len(self.indices))
        parts, got = [], 0
        while got < size:
            parts.append(self._take(size - got))
            got += len(parts[-1])
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def task_indices(cfg: ExperimentConfig, tasks: Sequence[TaskData], split: str) -> list[torch.Tensor]:
    """The samples of each task's ``split`` (``"train"`` or ``"test"``) that a run with ``cfg``
    uses: all of them, or the subset of ``cfg.train_subset`` / ``cfg.test_subset`` drawn with
    the run's seed (the same for every method, so their numbers compare)."""
    size, offset = {"train": (cfg.train_subset, 1000), "test": (cfg.test_subset, 2000)}[split]
    return [subset_indices(t.num_samples(split), size, cfg.seed + offset + i)
            for i, t in enumerate(tasks)]


def steps_per_task(cfg: ExperimentConfig, num_train: int) -> int:
    """Training steps for one task: ``iterations``, or ``epochs`` full passes over ``num_train``."""
    if cfg.epochs is None:
        return cfg.iterations
    return cfg.epochs * math.ceil(num_train / cfg.batch_size)


# ------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_task(learner: Learner, benchmark: Benchmark, task: int, seen: int,
                  indices: torch.Tensor, scenario: int, batch_size: int,
                  device: torch.device) -> tuple[float, float | None]:
    """Metric of ``learner`` on the test samples ``indices`` of ``task`` after ``seen`` tasks.

    Returns ``(value, inferred)``: accuracy in percent (or MSE) and, when the
    learner infers the task (HNET+ENT), the percentage of samples whose task
    was inferred right (else ``None``).
    """
    data, classes = benchmark.tasks[task], benchmark.classes_per_task
    regression = benchmark.kind == "regression"
    # sums stay tensors (on the device) until the end: one host sync per call, not per batch
    total, score, task_right, inferred = 0, 0.0, 0, False
    for start in range(0, len(indices), batch_size):
        x, y = data.batch("test", indices[start:start + batch_size])
        x, y = x.to(device), y.to(device)
        pred = learner.predict(x, task, seen)
        if regression:
            score += F.mse_loss(pred.output, y, reduction="sum") / y[0].numel()
        else:
            label = y + task * classes if scenario == 3 else y
            score += (pred.output == label).sum()
        if pred.task is not None:
            inferred = True
            task_right += (pred.task == task).sum()
        total += y.shape[0]
    score, task_right = float(score), float(task_right)
    if regression:
        return score / total, None
    return 100.0 * score / total, (100.0 * task_right / total if inferred else None)


# ------------------------------------------------------------------------- engine


def machine_load() -> float | None:
    """The machine's 1-minute load average (``os.getloadavg``), or None where unavailable."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def make_benchmark_for(cfg: ExperimentConfig) -> Benchmark:
    """The benchmark of ``cfg`` (``make_benchmark``), seeded with ``cfg.seed``, holding out
    ``cfg.val_size`` validation samples per task (None: the benchmark's default)."""
    return make_benchmark(cfg.benchmark, num_tasks=cfg.num_tasks, seed=cfg.seed, val_size=cfg.val_size)


def check_benchmark(cfg: ExperimentConfig, benchmark: Benchmark) -> None:
    """Raise ``ValueError`` if ``benchmark`` does not match ``cfg``."""
    if benchmark.num_tasks < cfg.num_tasks:
        raise ValueError(f"num_tasks={cfg.num_tasks} but the benchmark has only "
                         f"{benchmark.num_tasks} tasks")
    if (benchmark.kind == "regression") != (cfg.benchmark == "regression"):
        raise ValueError(f"config benchmark {cfg.benchmark!r} does not match a "
                         f"{benchmark.kind} benchmark {benchmark.name!r}")
    built = benchmark.info.get("val_size")
    if cfg.val_size is not None and built != cfg.val_size:
        raise ValueError(f"val_size={cfg.val_size} but the benchmark holds out val_size={built}; "
                         "build it with make_benchmark_for(cfg)")


def data_of(cfg: ExperimentConfig) -> dict:
    """The data a run of ``cfg`` would train and be tested on here, now (``run_data``: label,
    sizes), without training: to check that a stored run was made on the same data."""
    benchmark = make_benchmark_for(cfg)
    check_benchmark(cfg, benchmark)
    tasks = benchmark.tasks[:cfg.num_tasks]
    return run_data(benchmark, task_indices(cfg, tasks, "train"), task_indices(cfg, tasks, "test"))


def describe_device(device: torch.device) -> str:
    """``"cpu (1 thread)"``, ``"cpu (N threads)"`` or ``"cuda (<GPU name>)"``: where a run happened."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    return str(device)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA); the batch order has its own seeded generator."""
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def on_device(benchmark: Benchmark, device: torch.device) -> Benchmark:
    """A shallow copy of ``benchmark`` whose stored data lie on ``device`` (the same
    object if it is the CPU), so that training batches are built there.

    Tensors shared between tasks (PermutedMNIST's images) are moved once; the
    tensors of the input transforms (permutation, normalisation) move too.
    """
    if device.type == "cpu":
        return benchmark
    moved: dict[int, torch.Tensor] = {}

    def move(value):
        if not isinstance(value, torch.Tensor):
            return value
        if id(value) not in moved:
            moved[id(value)] = value.to(device)
        return moved[id(value)]

    tasks = []
    for task in benchmark.tasks:
        task = copy.copy(task)
        task._splits = {name: type(split)(*map(move, split)) for name, split in task._splits.items()}
        if task._transform is not None:
            task._transform = copy.copy(task._transform)
            vars(task._transform).update({k: move(v) for k, v in vars(task._transform).items()})
        tasks.append(task)
    return dataclasses.replace(benchmark, tasks=tasks)


def make_learner(cfg: ExperimentConfig, benchmark: Benchmark, device: torch.device,
                 generator: torch.Generator, train_indices: list[torch.Tensor]) -> Learner:
    """The learner of ``cfg.method`` with freshly initialised models on ``device``."""
    regression = benchmark.kind == "regression"

    def make_target() -> torch.nn.Module:
        return build_target(cfg, tuple(benchmark.input_shape), benchmark.classes_per_task,
                            regression).to(device)

    if cfg.method == "hnet":
        return HnetLearner(cfg, benchmark, make_target(), device)
    if cfg.method in ("hnet_r", "dgr"):
        from hnet_utils.continual.replay import ReplayLearner
        return ReplayLearner(cfg, benchmark, make_target(), device)
    if cfg.method == "hnet_tir":
        from hnet_utils.continual.replay import TirLearner
        return TirLearner(cfg, benchmark, make_target(), device)
    return TargetLearner(cfg, benchmark, make_target, device, generator, train_indices)


def resolve_device(name: str | None) -> torch.device:
    """The device of ``cfg.device`` (None: automatic), checked against what this machine has:
    an unknown name, CUDA or MPS absent, or a GPU index beyond the GPUs present is a
    ``ValueError`` saying what is there."""
    try:
        device = get_device(name)
    except RuntimeError:
        raise ValueError(f"device={name!r} is not a device name; use 'cpu', 'cuda', 'cuda:N', "
                         "'mps' or None (automatic; --device none)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={name!r} asks for CUDA, which is not available here; "
                             "use device=None (automatic; --device none) or 'cpu'")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"device={name!r} asks for GPU {device.index}; this machine has "
                             f"{count} (cuda:0 to cuda:{count - 1})")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device={name!r} asks for Apple's MPS, which is not available here; "
                             "use device=None (automatic; --device none) or 'cpu'")
    elif device.type != "cpu":
        raise ValueError(f"device={name!r}: this package runs on 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return device


def train_continual(cfg: ExperimentConfig, benchmark: Benchmark | None = None,
                    callback: Callable[[TrainState], None] | None = None,
                    callback_every: int = 100, progress: bool = True,
                    resume_file: str | Path | None = None) -> ContinualResult:
    """Learn the tasks of ``cfg`` one after the other and evaluate after each.

    Args:
        cfg: the experiment (validated here, before anything is built).
        benchmark: a ready :class:`~hnet_utils.data.benchmarks.Benchmark`;
            default: built from ``cfg`` (:func:`make_benchmark_for`).
        callback: ``callback(TrainState)`` every ``callback_every`` steps and
            at the end of every task.
        progress: show ``tqdm`` progress bars.
        resume_file: where to keep the state after every finished task
            (``continual/resume.py``); if it holds the state of an interrupted
            run of ``cfg``, training continues after its last finished task,
            with the same results as an uninterrupted run. The caller deletes
            it when the results are safe. None: no resuming.

    Returns:
        A :class:`ContinualResult` with the trained models attached
        (``result.hnet``, ``result.target``, ``result.task_targets``).
    """
    validate_config(cfg)
    if not isinstance(callback_every, int) or callback_every < 1:
        raise ValueError(f"callback_every must be a positive integer, got {callback_every!r}")
    start_time = time.perf_counter()
    device = resolve_device(cfg.device)
    benchmark = make_benchmark_for(cfg) if benchmark is None else benchmark
    check_benchmark(cfg, benchmark)
    benchmark = on_device(benchmark, device)  # data resident on a GPU: no copy per batch
    seed_everything(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    K, tasks = cfg.num_tasks, benchmark.tasks[:cfg.num_tasks]
    train_idx, test_idx = task_indices(cfg, tasks, "train"), task_indices(cfg, tasks, "test")
    learner = make_learner(cfg, benchmark, device, generator, train_idx)
    samplers = [BatchSampler(idx, cfg.batch_size, generator) for idx in train_idx]
    data = run_data(benchmark, train_idx, test_idx)
    saved = None
    if resume_file is not None:
        if not can_resume(learner):
            raise ValueError(f"method {cfg.method!r} cannot resume after a finished task "
                             "(its learner has no state_dict); run it without resume_file")
        saved = load_progress(Path(resume_file), cfg, data)

    def next_batch(j: int):
        x, y = tasks[j].batch("train", samplers[j].next())
        x, y = x.to(device), y.to(device)
        return j, (random_crop_flip(x) if cfg.augment else x), y

    matrix: list[list[float | None]] = [[None] * K for _ in range(K)]
    inferred: list[float | None] = [None] * K
    global_step, loss, first, earlier_s = 0, torch.tensor(float("nan")), 0, 0.0
    loads: list[float | None] = []  # machine load after each task's training (after a resume: since)
    if saved is not None:
        restore(saved, generator, samplers, learner)
        matrix, inferred = saved["matrix"], saved["inferred"]
        first, earlier_s = saved["tasks_done"], saved["wall_time_s"]
        if progress:
            print(f"resuming after task {first} of {K} from {resume_file}")
    for t in range(first, K):
        learner.start_task(t)
        steps = steps_per_task(cfg, len(train_idx[t]))
        bar = tqdm(range(1, steps + 1), desc=f"{cfg.method} task {t + 1}/{K}",
                   disable=not progress, leave=False)
        for step in bar:
            loss = learner.step([next_batch(j) for j in learner.batch_tasks(t)], t + 1)
            global_step += 1
            if progress and step % 50 == 0:
                bar.set_postfix(loss=f"{float(loss):.4f}")
            if callback is not None and step % callback_every == 0:
                callback(TrainState("step", t, step, global_step, float(loss), learner.hnet,
                                    learner.target, benchmark, cfg, learner=learner))
        bar.close()
        loads.append(machine_load())
        learner.end_task(t)
        for j in range(t + 1):
            matrix[t][j], inferred[j] = evaluate_task(learner, benchmark, j, t + 1, test_idx[j],
                                                      cfg.scenario, cfg.eval_batch_size, device)
        if resume_file is not None and t + 1 < K:  # before the callback, which may stop the run
            save_progress(Path(resume_file), cfg, data, t + 1, matrix, inferred,
                          earlier_s + time.perf_counter() - start_time, generator, samplers, learner)
        if callback is not None:
            callback(TrainState("task_end", t, steps, global_step, float(loss), learner.hnet,
                                learner.target, benchmark, cfg, matrix=[row[:] for row in matrix],
                                learner=learner))

    result = ContinualResult(
        config=cfg.to_dict(), metric="mse" if benchmark.kind == "regression" else "accuracy",
        matrix=matrix, wall_time_s=earlier_s + time.perf_counter() - start_time,
        device=describe_device(device),
        task_inference_accuracy=None if inferred[0] is None else [float(v) for v in inferred],
        load_average=None if None in loads or not loads else round(sum(loads) / len(loads), 2),
        data=data,
    )
    result.hnet, result.target = learner.hnet, learner.target
    result.task_targets = getattr(learner, "task_targets", None) or None
    result.learner = learner  # every model of the method (learner.models()), e.g. replay generators
    return result


# ----------------------------------------------------------- a stored run, evaluated again


def evaluate_checkpoint(path, device: str | None = None) -> tuple[ExperimentConfig, list[float]]:
    """The final metric on each learned task of the models in a run checkpoint.

    ``path``: a file written by :func:`~hnet_utils.experiments.results.save_run_checkpoint`
    (``--checkpoint`` on the command line). The benchmark is rebuilt from the
    stored configuration and each task is evaluated on the same test samples
    as during training, so the values equal the last row of the run's matrix.
    ``device``: where to evaluate (default: the stored configuration's, else automatic).
    Returns ``(config, values)``.
    """
    from hnet_utils.experiments.results import load_run

    stored = load_run(path, device="cpu")
    cfg = stored["config"]
    device = resolve_device(device if device is not None else cfg.device)
    benchmark = make_benchmark_for(cfg)
    check_benchmark(cfg, benchmark)
    learned = stored["num_learned"]
    tasks = benchmark.tasks[:learned]
    train_idx, test_idx = task_indices(cfg, tasks, "train"), task_indices(cfg, tasks, "test")
    trained_on, here = stored["data"], run_data(benchmark, train_idx, test_idx)
    if trained_on is not None and not same_data(trained_on, here, splits=("test",)):
        raise ValueError(f"checkpoint {path} was tested on {describe_data(trained_on)}; the test "
                         f"data here are {describe_data(here)}, so its numbers would not be the "
                         "run's. Make the same data available (e.g. HNET_DATA_MIRROR) to evaluate it")
    learner = make_learner(cfg, benchmark, device, torch.Generator().manual_seed(cfg.seed), train_idx)
    learner.target = stored["target"].to(device) if stored["target"] is not None else learner.target
    if stored["hnet"] is not None:
        learner.hnet = stored["hnet"].to(device)
    if stored["task_targets"]:
        learner.task_targets = [net.to(device) for net in stored["task_targets"]]
    values = [evaluate_task(learner, benchmark, j, learned, test_idx[j], cfg.scenario,
                            cfg.eval_batch_size, device)[0] for j in range(learned)]
    return cfg, values
