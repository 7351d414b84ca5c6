"""Sequential (continual) training of every method, and its evaluation.

:func:`train_continual` is the engine: it builds the benchmark and models of
an :class:`~hnet_utils.presets.ExperimentConfig`, learns the tasks one after
the other, fills the matrix ``R[i][j]`` (metric on task ``j`` after learning
task ``i``) and returns a :class:`~hnet_utils.results.ContinualResult`.

Two learners share the loop, both with the interface ``start_task(t)``,
``step(batches, seen) -> loss``, ``end_task(t)``, ``models()``:

* :class:`HnetLearner` (this file) -- a hypernetwork generates the target's
  weights from a per-task embedding; old tasks are protected by the output
  regulariser (``regularizer.py``).
* :class:`~hnet_utils.baselines.TargetLearner` -- fine-tuning, training from
  scratch, multitask, EWC, online EWC and SI on the target's own weights.

Scenarios for the hypernetwork: the target always has ``C`` outputs (classes
per task) and every task gets its own output layer from its embedding. CL1
evaluates task ``j`` with embedding ``j``. CL2 and CL3 infer the task by the
lowest predictive entropy over all learned embeddings (HNET+ENT,
``inference.py``); CL2 scores the within-task class, CL3 the global class
``t*C + y`` (right only if the task was inferred correctly).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .baselines import TargetLearner
from .config import get_device
from .hypernet import ChunkedHyperNetwork, HyperNetwork
from .inference import all_task_logits, infer_task, pick
from .outliers import image_shape, mosaic, uniform_loss
from .presets import ExperimentConfig, preset_config, validate_config  # noqa: F401 (re-exported)
from .regularizer import OutputRegularizer, adam_lookahead
from .results import ContinualResult
from .targets import MLP, ResNet32, ZenkeNet, forward_with_weights, num_params, weight_init_std


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
    hnet: Any
    target: Any
    benchmark: Any
    config: ExperimentConfig
    matrix: list | None = None


# ---------------------------------------------------------------------- building


def make_benchmark_for(cfg: ExperimentConfig):
    """The benchmark of ``cfg`` (``benchmarks.make_benchmark``), seeded with ``cfg.seed``."""
    from .benchmarks import make_benchmark

    return make_benchmark(cfg.benchmark, num_tasks=cfg.num_tasks, seed=cfg.seed)


def output_layout(cfg: ExperimentConfig, classes_per_task: int, regression: bool) -> tuple[int, int]:
    """``(out_features, num_heads)`` of the target network for ``cfg``'s method and scenario."""
    if cfg.method == "hnet" or regression or cfg.scenario == 2:
        return classes_per_task, 1
    if cfg.scenario == 1:
        return classes_per_task, cfg.num_tasks
    return cfg.num_tasks * classes_per_task, 1


def build_target(cfg: ExperimentConfig, input_shape: tuple[int, ...], classes_per_task: int,
                 regression: bool = False) -> torch.nn.Module:
    """A freshly initialised target network for ``cfg`` (inputs of ``input_shape``)."""
    out, heads = output_layout(cfg, classes_per_task, regression)
    if cfg.target == "mlp":
        return MLP(in_features=math.prod(input_shape), hidden=cfg.target_hidden, out_features=out,
                   activation=cfg.target_activation, num_heads=heads)
    if len(input_shape) != 3:
        raise ValueError(f"target {cfg.target!r} needs image inputs (C, H, W); the benchmark "
                         f"gives {tuple(input_shape)}: use target='mlp'")
    if cfg.target == "zenke":
        return ZenkeNet(in_channels=input_shape[0], out_features=out, num_heads=heads)
    return ResNet32(in_channels=input_shape[0], out_features=out, num_heads=heads,
                    num_tasks=cfg.num_tasks)


def build_hnet(cfg: ExperimentConfig, target: torch.nn.Module) -> HyperNetwork:
    """The hypernetwork of ``cfg`` for ``target``, initialised to generate a standard target init."""
    n, init = num_params(target), weight_init_std(target)
    if cfg.hnet_type == "full":
        return HyperNetwork(n, cfg.embedding_dim, cfg.hnet_hidden, cfg.hnet_activation, init)
    return ChunkedHyperNetwork(n, cfg.embedding_dim, cfg.chunk_embedding_dim, cfg.chunk_size,
                               cfg.hnet_hidden, cfg.hnet_activation, init)


def subset_indices(n: int, k: int | None, seed: int) -> torch.Tensor:
    """All indices ``0..n-1`` (``k`` None or >= n) or a fixed random subset of ``k`` of them, sorted."""
    if k is None or k >= n:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=gen)[:k].sort().values


class BatchSampler:
    """Endless shuffled mini-batches of ``indices`` (a new permutation every epoch)."""

    def __init__(self, indices: torch.Tensor, batch_size: int, generator: torch.Generator) -> None:
        self.indices, self.batch_size, self.generator = indices, batch_size, generator
        self._order, self._pos = torch.empty(0, dtype=torch.long), 0

    def next(self) -> torch.Tensor:
        """The next batch of indices (shorter only if there are fewer samples than a batch)."""
        if self._pos >= len(self._order):
            self._order = self.indices[torch.randperm(len(self.indices), generator=self.generator)]
            self._pos = 0
        batch = self._order[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return batch


def steps_per_task(cfg: ExperimentConfig, num_train: int) -> int:
    """Training steps for one task: ``iterations``, or ``epochs`` full passes over ``num_train``."""
    if cfg.epochs is None:
        return cfg.iterations
    return cfg.epochs * math.ceil(num_train / cfg.batch_size)


# ----------------------------------------------------------------- hypernetwork


class HnetLearner:
    """Continual learning with a task-conditioned hypernetwork (von Oswald et al., 2020).

    Per task ``t``: snapshot the hypernetwork for the regulariser, add the
    embedding ``e(t)``, and train θ_h and ``e(t)`` with Adam on
    ``L_task + β/t Σ_{t'<t} ||h(e(t'), θ*) - h(e(t'), θ + Δθ)||²``. Old
    embeddings stay fixed. ``Δθ`` is the Adam lookahead when ``cfg.lookahead``.
    """

    def __init__(self, cfg: ExperimentConfig, benchmark, target: torch.nn.Module,
                 device: torch.device) -> None:
        self.cfg, self.benchmark, self.device = cfg, benchmark, device
        self.regression = benchmark.kind == "regression"
        self.target = target
        self.target.requires_grad_(False)  # its own weights are never used
        self.hnet = build_hnet(cfg, target).to(device)
        self.reg = OutputRegularizer(self.hnet, beta=cfg.beta, method=cfg.regularizer,
                                     subset_size=cfg.reg_subset,
                                     generator=torch.Generator().manual_seed(cfg.seed + 3000))
        self.optimizer: torch.optim.Optimizer | None = None
        self.task = -1
        self._lookahead_buffers: dict = {}  # reused Δθ tensors (adam_lookahead)

    def _use_bn(self, task: int) -> None:
        if hasattr(self.target, "use_task_bn"):
            self.target.use_task_bn(task)

    def start_task(self, task: int) -> None:
        """Snapshot for the regulariser, new embedding, new Adam over θ_h and e(task)."""
        if task > 0:
            self.reg.snapshot()
        new = self.hnet.add_task()
        if new != task:
            raise RuntimeError(f"hypernetwork gave task id {new}, expected {task}")
        self.task = task
        self._use_bn(task)
        self.target.train()
        # fused: one kernel per step instead of one pass per Adam operation (CPU and CUDA)
        self.optimizer = torch.optim.Adam(
            [*self.hnet.theta_parameters(), self.hnet.task_embedding(task)], lr=self.cfg.lr,
            fused=self.device.type in ("cpu", "cuda"))

    def task_loss(self, x: torch.Tensor, y: torch.Tensor, task: int) -> torch.Tensor:
        """Loss of the weights generated for ``task`` on a batch: MSE or cross-entropy.

        With ``cfg.outlier_weight`` > 0, plus that weight times the uniform loss
        on mosaics of the batch (``outliers.py``), run in the same forward pass.
        """
        weights = self.hnet(task_id=task)
        if self.cfg.outlier_weight > 0:
            fakes = mosaic(x, image_shape(tuple(self.benchmark.input_shape)))
            out = forward_with_weights(self.target, weights, torch.cat([x, fakes]))
            n = x.shape[0]
            return F.cross_entropy(out[:n], y) + self.cfg.outlier_weight * uniform_loss(out[n:])
        out = forward_with_weights(self.target, weights, x)
        return F.mse_loss(out, y) if self.regression else F.cross_entropy(out, y)

    def step(self, batches: list[tuple[int, torch.Tensor, torch.Tensor]],
             seen: int) -> torch.Tensor:
        """One Adam step on the current task's batch (plus the regulariser).

        Returns the loss as a detached 0-d tensor (no host sync on a GPU:
        call ``float()`` on it only when it is logged).
        """
        (task, x, y), = batches
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.task_loss(x, y, task)
        loss.backward()
        total = loss.detach()
        if task > 0 and self.cfg.beta > 0:
            theta = self.hnet.theta_parameters()
            delta = (adam_lookahead(self.optimizer, theta, self._lookahead_buffers)
                     if self.cfg.lookahead else None)
            loss_reg = self.reg(delta=delta)
            loss_reg.backward()
            total = total + loss_reg.detach()
        self.optimizer.step()
        return total

    def end_task(self, task: int) -> None:
        """Nothing to consolidate: the next :meth:`start_task` snapshots."""
        self.target.eval()

    @torch.no_grad()
    def logits(self, x: torch.Tensor, task: int, seen: int) -> torch.Tensor:
        """Outputs of the weights of embedding ``task`` on ``x``: (N, C)."""
        self._use_bn(task)
        return forward_with_weights(self.target, self.hnet(task_id=task), x)

    @torch.no_grad()
    def all_logits(self, x: torch.Tensor, seen: int) -> torch.Tensor:
        """Outputs under the first ``seen`` embeddings: (seen, N, C), one batched call.

        A target with per-task batch-norm statistics (ResNet-32) needs other
        buffers per task, which one vmapped call cannot swap, so it is run
        task by task instead.
        """
        if not hasattr(self.target, "use_task_bn"):
            return all_task_logits(self.hnet, self.target, x, seen)
        return torch.stack([self.logits(x, t, seen) for t in range(seen)])

    def models(self) -> dict:
        """Modules to checkpoint (the target holds only batch-norm statistics of interest)."""
        return {"hnet": self.hnet, "target": self.target}


# ------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_task(learner, cfg: ExperimentConfig, benchmark, task: int, seen: int,
                  indices: torch.Tensor, device: torch.device) -> tuple[float, float | None]:
    """Metric of ``learner`` on the test samples ``indices`` of ``task`` after ``seen`` tasks.

    Returns ``(value, inferred)``: accuracy in percent (or MSE) and, for
    HNET+ENT (scenarios 2/3), the percentage of samples whose task was inferred
    right (else ``None``).
    """
    data, classes = benchmark.tasks[task], benchmark.classes_per_task
    infer = isinstance(learner, HnetLearner) and cfg.scenario in (2, 3)
    # sums stay tensors (on the device) until the end: one host sync per call, not per batch
    total, score, task_right = 0, 0.0, 0
    for start in range(0, len(indices), cfg.eval_batch_size):
        x, y = data.batch("test", indices[start:start + cfg.eval_batch_size])
        x, y = x.to(device), y.to(device)
        if benchmark.kind == "regression":
            score += F.mse_loss(learner.logits(x, task, seen), y, reduction="sum") / y[0].numel()
        elif infer:
            logits = learner.all_logits(x, seen)
            tasks = infer_task(logits)
            pred = pick(logits, tasks).argmax(-1)
            right = pred == y if cfg.scenario == 2 else (tasks == task) & (pred == y)
            score += right.sum()
            task_right += (tasks == task).sum()
        else:
            pred = learner.logits(x, task, seen).argmax(-1)
            label = y + task * classes if cfg.scenario == 3 else y
            score += (pred == label).sum()
        total += y.shape[0]
    score, task_right = float(score), float(task_right)
    if benchmark.kind == "regression":
        return score / total, None
    return 100.0 * score / total, (100.0 * task_right / total if infer else None)


# ------------------------------------------------------------------------- engine


def check_benchmark(cfg: ExperimentConfig, benchmark) -> None:
    """Raise ``ValueError`` if ``benchmark`` does not match ``cfg``."""
    if benchmark.num_tasks < cfg.num_tasks:
        raise ValueError(f"num_tasks={cfg.num_tasks} but the benchmark has only "
                         f"{benchmark.num_tasks} tasks")
    if (benchmark.kind == "regression") != (cfg.benchmark == "regression"):
        raise ValueError(f"config benchmark {cfg.benchmark!r} does not match a "
                         f"{benchmark.kind} benchmark {benchmark.name!r}")


def describe_device(device: torch.device) -> str:
    """``"cpu (N threads)"`` or ``"cuda (<GPU name>)"``: where a run happened."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA); the batch order has its own seeded generator."""
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def make_learner(cfg: ExperimentConfig, benchmark, device: torch.device,
                 generator: torch.Generator, train_indices: list[torch.Tensor]):
    """The learner of ``cfg.method`` with freshly initialised models on ``device``."""
    regression = benchmark.kind == "regression"

    def make_target() -> torch.nn.Module:
        return build_target(cfg, tuple(benchmark.input_shape), benchmark.classes_per_task,
                            regression).to(device)

    if cfg.method == "hnet":
        return HnetLearner(cfg, benchmark, make_target(), device)
    return TargetLearner(cfg, benchmark, make_target, device, generator, train_indices)


def on_device(benchmark, device: torch.device):
    """A shallow copy of ``benchmark`` whose stored data lie on ``device`` (the same
    object if it is the CPU), so that training batches are built there.

    Tensors shared between tasks (PermutedMNIST's images) are moved once; the
    tensors of the input transforms (permutation, normalisation) move too.
    """
    import copy
    import dataclasses

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


def _batch(task, task_id: int, sampler: BatchSampler, device: torch.device):
    """The next training batch of ``task`` as ``(task_id, x, y)`` on ``device``."""
    x, y = task.batch("train", sampler.next())
    return task_id, x.to(device), y.to(device)


def train_continual(cfg: ExperimentConfig, benchmark=None, callback: Callable | None = None,
                    callback_every: int = 100, progress: bool = True) -> ContinualResult:
    """Learn the tasks of ``cfg`` one after the other and evaluate after each.

    Args:
        cfg: the experiment (validated here, before anything is built).
        benchmark: a ready :class:`~hnet_utils.benchmarks.Benchmark`; default:
            built from ``cfg`` (``make_benchmark_for``).
        callback: ``callback(TrainState)`` every ``callback_every`` steps and
            at the end of every task.
        progress: show ``tqdm`` progress bars.

    Returns:
        A :class:`ContinualResult` with the trained models attached
        (``result.hnet``, ``result.target``, ``result.task_targets``).
    """
    validate_config(cfg)
    if not isinstance(callback_every, int) or callback_every < 1:
        raise ValueError(f"callback_every must be a positive integer, got {callback_every!r}")
    start_time = time.perf_counter()
    device = get_device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={cfg.device!r} asks for CUDA, which is not available here; "
                         "use device=None (automatic) or 'cpu'")
    benchmark = make_benchmark_for(cfg) if benchmark is None else benchmark
    check_benchmark(cfg, benchmark)
    benchmark = on_device(benchmark, device)  # data resident on a GPU: no copy per batch
    seed_everything(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    tasks = benchmark.tasks[:cfg.num_tasks]
    train_idx = [subset_indices(t.num_samples("train"), cfg.train_subset, cfg.seed + 1000 + i)
                 for i, t in enumerate(tasks)]
    test_idx = [subset_indices(t.num_samples("test"), cfg.test_subset, cfg.seed + 2000 + i)
                for i, t in enumerate(tasks)]
    learner = make_learner(cfg, benchmark, device, generator, train_idx)
    samplers = [BatchSampler(idx, cfg.batch_size, generator) for idx in train_idx]

    K = cfg.num_tasks
    matrix: list[list[float | None]] = [[None] * K for _ in range(K)]
    inferred: list[float | None] = [None] * K
    global_step = 0
    for t in range(K):
        learner.start_task(t)
        steps = steps_per_task(cfg, len(train_idx[t]))
        bar = tqdm(range(1, steps + 1), desc=f"{cfg.method} task {t + 1}/{K}",
                   disable=not progress, leave=False)
        loss = float("nan")
        for step in bar:
            # multitask trains on all tasks seen so far, every other method on the current one
            learned = range(t + 1) if cfg.method == "multitask" else (t,)
            loss = learner.step([_batch(tasks[j], j, samplers[j], device) for j in learned], t + 1)
            global_step += 1
            # the loss may be a tensor on the device: read it (a host sync) only when logged
            if progress and step % 50 == 0:
                bar.set_postfix(loss=f"{float(loss):.4f}")
            if callback is not None and step % callback_every == 0:
                callback(TrainState("step", t, step, global_step, float(loss), learner.hnet,
                                    learner.target, benchmark, cfg))
        bar.close()
        loss = float(loss)
        learner.end_task(t)
        for j in range(t + 1):
            matrix[t][j], inferred[j] = evaluate_task(learner, cfg, benchmark, j, t + 1,
                                                      test_idx[j], device)
        if callback is not None:
            callback(TrainState("task_end", t, steps, global_step, loss, learner.hnet,
                                learner.target, benchmark, cfg, matrix=[row[:] for row in matrix]))

    result = ContinualResult(
        config=cfg.to_dict(), metric="mse" if benchmark.kind == "regression" else "accuracy",
        matrix=matrix, wall_time_s=time.perf_counter() - start_time,
        device=describe_device(device),
        task_inference_accuracy=None if inferred[0] is None else [float(v) for v in inferred],
        data={"source": getattr(benchmark, "source", "unknown"),
              "label": getattr(benchmark, "data_label", benchmark.name), "kind": benchmark.kind,
              "input_shape": list(benchmark.input_shape),
              "classes_per_task": benchmark.classes_per_task,
              "train_samples_per_task": [len(i) for i in train_idx],
              "test_samples_per_task": [len(i) for i in test_idx]},
    )
    result.hnet, result.target = learner.hnet, learner.target
    result.task_targets = getattr(learner, "task_targets", None) or None
    return result


# -------------------------------------------------------------------- checkpoints


def save_run_checkpoint(result: ContinualResult, path) -> Path:
    """Save the trained models of ``result`` with its configuration (see :func:`load_run`)."""
    from .results import save_checkpoint

    cfg = ExperimentConfig.from_dict(result.config)
    if result.task_targets is not None:
        models = {"task_targets": list(result.task_targets)}
    else:
        models = {"hnet": result.hnet, "target": result.target}
    extra = {"data": {k: result.data[k] for k in ("kind", "input_shape", "classes_per_task")},
             "num_learned": len(result.matrix)}
    return save_checkpoint(path, cfg, models, extra)


def load_run(path, config: ExperimentConfig | None = None, device: str | None = "cpu") -> dict:
    """Rebuild the models saved by :func:`save_run_checkpoint`.

    If ``config`` is given, its architecture must match the checkpoint's, else
    ``ValueError`` names every differing field. Returns ``{"config": cfg,
    "hnet": ..., "target": ..., "task_targets": ...}`` (absent models are None).
    """
    from .results import load_checkpoint, read_checkpoint

    raw = read_checkpoint(path)
    stored_cfg = ExperimentConfig.from_dict(raw["config"])
    data, learned = raw["extra"]["data"], raw["extra"]["num_learned"]
    regression = data["kind"] == "regression"

    def target() -> torch.nn.Module:
        return build_target(stored_cfg, tuple(data["input_shape"]), data["classes_per_task"],
                            regression)

    out = {"config": stored_cfg, "hnet": None, "target": None, "task_targets": None}
    if "task_targets" in raw["states"]:
        out["task_targets"] = [target() for _ in range(learned)]
        models = {"task_targets": out["task_targets"]}
    else:
        out["target"] = target()
        models = {"target": out["target"]}
        if stored_cfg.method == "hnet":
            out["hnet"] = build_hnet(stored_cfg, out["target"])
            for _ in range(learned):
                out["hnet"].add_task()
            models["hnet"] = out["hnet"]
    load_checkpoint(path, config=config, models=models)
    for key in ("hnet", "target"):
        if out[key] is not None:
            out[key].to(get_device(device)).eval()
    for net in out["task_targets"] or []:
        net.to(get_device(device)).eval()
    return out
