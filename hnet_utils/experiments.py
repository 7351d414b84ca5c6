"""The studies of notebooks 02 (PermutedMNIST) and 03 (SplitMNIST).

Each function here runs a small family of experiments with the engine
(:func:`hnet_utils.training.train_continual`) or times one component, and
returns *plain data* (lists of dicts, NumPy arrays, ``pandas`` tables) that
the notebooks print and plot. Nothing here trains anything by itself: the
training loops, hypernetworks, regulariser, task inference and grid
evaluation all live in their own modules (see ``docs/architecture.md``).

Contents:

* teaching configurations: :data:`TEACHING`, :func:`teaching_config` (small
  enough for a laptop CPU; full and fast mode), :func:`describe_config`;
* runs of several methods: :func:`compare_methods`, :func:`run_scenarios`;
* compression: :func:`compression_sweep` (accuracy against compression ratio);
* long task sequences: :func:`time_regularizer` (reference vs exact);
* stability/plasticity: :func:`beta_sweep`;
* task inference (HNET+ENT): :func:`entropies_per_task`,
  :func:`task_inference_confusion`;
* published numbers beside ours: :data:`PUBLISHED`, :func:`results_table`,
  :func:`load_result_if_present`;
* task embeddings of any size on a plane: :func:`embedding_plane`,
  :func:`plane_snapshot`;
* figures of these studies (``plot_*``) and two thin widgets,
  :func:`beta_explorer` and :class:`EmbeddingExplorer`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import config
from .embedding_grid import EmbeddingSnapshot, evaluate_embedding_grid, grid_limits, make_grid
from .hypernet import count_parameters
from .inference import all_task_logits, infer_task, predictive_entropy
from .plotting import plot_embedding_heatmaps, task_color
from .presets import ExperimentConfig, preset_config
from .regularizer import OutputRegularizer
from .results import ContinualResult
from .training import build_hnet, build_target, train_continual

# ---------------------------------------------------------------------------
# Teaching configurations
# ---------------------------------------------------------------------------

#: Our teaching configurations, by name: overrides of the paper preset of
#: ``benchmark`` (``presets.py``), chosen so that a laptop CPU (2 cores) trains
#: them in minutes (PermutedMNIST) or seconds (SplitMNIST). They are *our*
#: choices, measured in the notebooks and in ``benchmarks/``; the paper's
#: settings are ``preset_config(benchmark, "paper")``.
#:
#: * ``permuted_mnist``: PermutedMNIST-10, CL1, the main teaching run.
#: * ``permuted_mnist_sweep``: 3 tasks, shorter: compression and β sweeps.
#: * ``permuted_mnist_long``: a smaller net on a long sequence (30 tasks).
#: * ``split_mnist``: SplitMNIST (5 tasks), all scenarios and baselines.
#: * ``split_mnist_plane``: 2-D task embeddings and a small target, so that
#:   accuracy maps over the embedding plane are cheap to evaluate.
TEACHING: dict[str, dict[str, Any]] = {
    "permuted_mnist": dict(
        benchmark="permuted_mnist", num_tasks=10, target_hidden=(256, 256), embedding_dim=24,
        chunk_embedding_dim=8, chunk_size=8000, hnet_hidden=(32, 32), hnet_activation="elu",
        beta=0.03, lr=1e-3, iterations=1500, batch_size=128, eval_batch_size=2000,
    ),
    "permuted_mnist_sweep": dict(
        benchmark="permuted_mnist", num_tasks=3, target_hidden=(256, 256), embedding_dim=24,
        chunk_embedding_dim=8, chunk_size=8000, hnet_hidden=(32, 32), hnet_activation="elu",
        beta=0.03, lr=1e-3, iterations=600, batch_size=128, eval_batch_size=2000,
        test_subset=5000,
    ),
    "permuted_mnist_long": dict(
        benchmark="permuted_mnist", num_tasks=30, target_hidden=(100, 100), embedding_dim=24,
        chunk_embedding_dim=8, chunk_size=4000, hnet_hidden=(32, 32), hnet_activation="elu",
        beta=0.03, lr=1e-3, iterations=500, batch_size=128, eval_batch_size=2000,
        test_subset=2000,
    ),
    "split_mnist": dict(
        benchmark="split_mnist", num_tasks=5, target_hidden=(100, 100), embedding_dim=32,
        chunk_embedding_dim=32, chunk_size=4000, hnet_hidden=(32, 32), hnet_activation="relu",
        beta=0.01, lr=1e-3, iterations=200, batch_size=128, eval_batch_size=2000,
    ),
    "split_mnist_plane": dict(
        benchmark="split_mnist", num_tasks=5, target_hidden=(20,), embedding_dim=2,
        chunk_embedding_dim=16, chunk_size=4000, hnet_hidden=(32, 32), hnet_activation="relu",
        beta=0.01, lr=1e-3, iterations=200, batch_size=128, eval_batch_size=2000,
    ),
}

#: What fast mode (``HNET_FAST=1``, CI) changes: few steps on a few hundred
#: samples per task. Fast-mode numbers only show that the code runs.
_FAST_DATA = dict(train_subset=1000, test_subset=400, fisher_samples=64)
FAST_OVERRIDES: dict[str, dict[str, Any]] = {
    "permuted_mnist": dict(num_tasks=3, target_hidden=(64, 64), chunk_size=4000,
                           hnet_hidden=(16, 16), iterations=60, **_FAST_DATA),
    "permuted_mnist_sweep": dict(num_tasks=2, target_hidden=(64, 64), chunk_size=4000,
                                 hnet_hidden=(16, 16), iterations=30, **_FAST_DATA),
    "permuted_mnist_long": dict(num_tasks=4, target_hidden=(32,), chunk_size=2000,
                                hnet_hidden=(16, 16), iterations=30, **_FAST_DATA),
    "split_mnist": dict(iterations=40, **_FAST_DATA),
    "split_mnist_plane": dict(iterations=40, **_FAST_DATA),
}


def teaching_config(name: str, fast: bool | None = None, **overrides: Any) -> ExperimentConfig:
    """The teaching configuration ``name`` (a key of :data:`TEACHING`) with ``overrides`` applied.

    Args:
        name: e.g. ``"permuted_mnist"`` or ``"split_mnist"`` (see :data:`TEACHING`).
        fast: use the fast-mode variant (:data:`FAST_OVERRIDES`); default
            ``config.fast_mode()``.
        overrides: fields of :class:`ExperimentConfig` (e.g. ``method="ewc"``,
            ``scenario=3``); scenario-dependent EWC/SI strengths of the paper
            preset are resolved for the chosen scenario.

    Returns:
        A validated :class:`ExperimentConfig`.
    """
    if name not in TEACHING:
        raise ValueError(f"name must be one of {sorted(TEACHING)}, got {name!r}")
    fast = config.fast_mode() if fast is None else fast
    values = {**TEACHING[name], **(FAST_OVERRIDES[name] if fast else {}), **overrides}
    benchmark = values.pop("benchmark")
    return preset_config(benchmark, "paper", **values)


def describe_config(cfg: ExperimentConfig | Mapping[str, Any], fields: Sequence[str] | None = None) -> str:
    """One line naming the settings of a run, to print beside its numbers.

    ``fields``: which fields to show; default the ones that matter for the
    method of ``cfg`` (architecture, optimisation, β or EWC/SI strength).
    """
    values = cfg.to_dict() if isinstance(cfg, ExperimentConfig) else dict(cfg)
    if fields is None:
        fields = ["benchmark", "num_tasks", "scenario", "method", "target_hidden"]
        if values.get("method") == "hnet":
            fields += ["embedding_dim", "chunk_embedding_dim", "chunk_size", "hnet_hidden", "beta"]
        elif values.get("method") in ("ewc", "online_ewc"):
            fields += ["ewc_lambda"]
        elif values.get("method") == "si":
            fields += ["si_c"]
        fields += ["lr", "iterations", "batch_size", "train_subset", "seed"]
    unknown = [f for f in fields if f not in values]
    if unknown:
        raise ValueError(f"fields {unknown} are not configuration fields; allowed: {sorted(values)}")
    return ", ".join(f"{f}={values[f]}" for f in fields)


def compare_methods(base: ExperimentConfig, methods: Mapping[str, Mapping[str, Any]],
                    benchmark=None, progress: bool = True) -> dict[str, ContinualResult]:
    """Train one configuration per method on the same benchmark.

    Args:
        base: the shared configuration.
        methods: ``{label: overrides}``, e.g. ``{"HNET": {}, "EWC": {"method": "ewc"}}``.
        benchmark: a ready benchmark (built once from ``base`` when ``None``).

    Returns:
        ``{label: ContinualResult}`` in the order of ``methods``.
    """
    if not methods:
        raise ValueError("methods must name at least one run, got an empty mapping")
    results = {}
    for label, overrides in methods.items():
        cfg = base.replace(**overrides)
        results[label] = train_continual(cfg, benchmark=benchmark, progress=progress)
    return results


def run_scenarios(name: str, methods: Mapping[str, str], scenarios: Sequence[int] = (1, 2, 3),
                  benchmark=None, progress: bool = True,
                  **overrides: Any) -> dict[tuple[str, int], ContinualResult]:
    """Train every method of ``methods`` in every scenario, from the teaching configuration ``name``.

    Each run's configuration is ``teaching_config(name, method=..., scenario=..., **overrides)``,
    so scenario-dependent EWC/SI strengths of the paper preset are used.

    Args:
        methods: ``{label: method}``, e.g. ``{"HNET": "hnet", "EWC": "ewc"}``.
        scenarios: scenarios to run (1, 2, 3).

    Returns:
        ``{(label, scenario): ContinualResult}`` (the input of :func:`results_table`).
    """
    if not methods:
        raise ValueError("methods must name at least one method, got an empty mapping")
    if not scenarios or any(s not in (1, 2, 3) for s in scenarios):
        raise ValueError(f"scenarios must be a non-empty subset of (1, 2, 3), got {tuple(scenarios)!r}")
    results = {}
    for s in scenarios:
        for label, method in methods.items():
            cfg = teaching_config(name, method=method, scenario=s, **overrides)
            results[(label, s)] = train_continual(cfg, benchmark=benchmark, progress=progress)
    return results


# ---------------------------------------------------------------------------
# Compression
# ---------------------------------------------------------------------------


def target_num_weights(cfg: ExperimentConfig, input_shape: Sequence[int], classes_per_task: int) -> int:
    """Number of weights of the target network of ``cfg`` (as the engine builds it)."""
    net = build_target(cfg, tuple(input_shape), classes_per_task)
    return sum(p.numel() for p in net.parameters())


def compression_sweep(base: ExperimentConfig, variants: Sequence[Mapping[str, Any]], benchmark=None,
                      progress: bool = True) -> list[dict[str, Any]]:
    """Train the hypernetwork of ``base`` with several sizes; accuracy against compression.

    Args:
        base: an ``hnet`` configuration.
        variants: overrides per run, e.g. ``{"chunk_size": 2000, "hnet_hidden": (16, 16)}``.
        benchmark: a ready benchmark (built once from ``base`` when ``None``).

    Returns:
        One dict per variant: its overrides, ``hnet_params`` (trainable, with
        all task embeddings), ``target_params``, ``ratio`` (compression
        ratio), ``average_final`` (%), ``final`` and ``wall_time_s``.
    """
    if base.method != "hnet":
        raise ValueError(f"base.method must be 'hnet' for a compression sweep, got {base.method!r}")
    if not variants:
        raise ValueError("variants must contain at least one set of overrides, got none")
    rows = []
    for overrides in variants:
        cfg = base.replace(**overrides)
        result = train_continual(cfg, benchmark=benchmark, progress=progress)
        hnet_params = count_parameters(result.hnet)["total"]
        target_params = result.hnet.num_outputs
        rows.append({**dict(overrides), "hnet_params": hnet_params, "target_params": target_params,
                     "ratio": hnet_params / target_params, "average_final": result.average_final,
                     "final": result.final, "wall_time_s": result.wall_time_s})
    return rows


# ---------------------------------------------------------------------------
# Long task sequences: cost of the regulariser
# ---------------------------------------------------------------------------


def time_regularizer(cfg: ExperimentConfig, input_shape: Sequence[int], classes_per_task: int,
                     num_old_tasks: Sequence[int], methods: Sequence[str] = ("reference", "exact"),
                     repeats: int = 3, progress: bool = True) -> list[dict[str, Any]]:
    """Time one regulariser evaluation plus its backward pass against the number of old tasks.

    The hypernetwork of ``cfg`` is built for its target network (``input_shape``,
    ``classes_per_task``), given ``T + 1`` task embeddings, and the
    regulariser protects the first ``T``; this is what every training step of
    task ``T + 1`` pays on top of the task loss. Each point is the median of
    ``repeats`` timings after one warm-up call.

    Returns:
        One dict per (T, method): ``num_old_tasks``, ``method``, ``ms`` (median
        milliseconds), ``value`` (the regulariser, for checking both methods
        agree) and ``stored_mib`` (memory the regulariser keeps).
    """
    if cfg.method != "hnet":
        raise ValueError(f"cfg.method must be 'hnet', got {cfg.method!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if not num_old_tasks or any(not isinstance(t, int) or t < 1 for t in num_old_tasks):
        raise ValueError(f"num_old_tasks must be positive integers, got {list(num_old_tasks)!r}")
    rows = []
    torch.manual_seed(cfg.seed)
    target = build_target(cfg, tuple(input_shape), classes_per_task)
    for num_old in tqdm(list(num_old_tasks), desc="old tasks", disable=not progress):
        h = build_hnet(cfg, target)
        for _ in range(num_old + 1):
            h.add_task()
        regs = {}
        for method in methods:
            regs[method] = OutputRegularizer(h, beta=1.0, method=method)
            regs[method].snapshot(tasks=range(num_old))
        with torch.no_grad():  # move θ away from θ* so that the value is not zero
            for p in h.theta_parameters():
                p.add_(1e-3 * torch.randn_like(p))
        for method, reg in regs.items():
            times, value = [], None
            for i in range(repeats + 1):
                h.zero_grad(set_to_none=True)
                start = time.perf_counter()
                loss = reg()
                loss.backward()
                elapsed = time.perf_counter() - start
                if i > 0:
                    times.append(elapsed)
                value = float(loss.detach()) * num_old  # undo the 1/T average
            rows.append({"num_old_tasks": num_old, "method": method,
                         "ms": 1000 * float(np.median(times)), "value": value,
                         "stored_mib": reg.stored_bytes()["total"] / 2**20})
    return rows


# ---------------------------------------------------------------------------
# Stability / plasticity
# ---------------------------------------------------------------------------


def beta_sweep(base: ExperimentConfig, betas: Sequence[float], benchmark=None,
               progress: bool = True) -> list[dict[str, Any]]:
    """Train the hypernetwork of ``base`` once per β.

    Returns:
        One dict per β: ``beta``, ``during`` (accuracy on each task right after
        learning it: plasticity), ``final`` (after all tasks: stability),
        ``average_during``, ``average_final`` and ``wall_time_s``.
    """
    if base.method != "hnet":
        raise ValueError(f"base.method must be 'hnet' for a β sweep, got {base.method!r}")
    if not betas:
        raise ValueError("betas must contain at least one value, got none")
    rows = []
    for beta in betas:
        result = train_continual(base.replace(beta=float(beta)), benchmark=benchmark,
                                 progress=progress)
        rows.append({"beta": float(beta), "during": result.during, "final": result.final,
                     "average_during": float(np.mean(result.during)),
                     "average_final": result.average_final, "wall_time_s": result.wall_time_s})
    return rows


# ---------------------------------------------------------------------------
# Task inference (HNET+ENT)
# ---------------------------------------------------------------------------


@torch.no_grad()
def entropies_per_task(hnet, target, x: torch.Tensor, num_tasks: int | None = None) -> np.ndarray:
    """Predictive entropy (nats) of every input under every task's weights: (N, T).

    HNET+ENT picks, per row, the task with the smallest entry.
    """
    logits = all_task_logits(hnet, target, x, num_tasks)  # (T, N, C)
    return predictive_entropy(logits).T.cpu().numpy()


@torch.no_grad()
def task_inference_confusion(hnet, target, benchmark, num_tasks: int | None = None,
                             split: str = "test", max_samples: int | None = None,
                             batch_size: int = 1000) -> np.ndarray:
    """How often HNET+ENT picks each task, per true task.

    Every input of task ``t`` is run through the weights of all learned
    embeddings; the one with the lowest predictive entropy is the inferred
    task (``inference.infer_task``).

    Args:
        hnet, target: a trained hypernetwork and its target network.
        benchmark: the benchmark the tasks come from.
        num_tasks: tasks to consider (default: all embeddings of ``hnet``).
        split: data split to use.
        max_samples: at most this many samples per task (the first ones).
        batch_size: inputs per batched call.

    Returns:
        (T, T) array in percent: row ``t`` = true task, column ``s`` = share of
        its samples inferred as task ``s``. The diagonal is the task-inference
        accuracy per task.
    """
    num_tasks = hnet.num_tasks if num_tasks is None else num_tasks
    if not isinstance(num_tasks, int) or not 1 <= num_tasks <= hnet.num_tasks:
        raise ValueError(f"num_tasks must be an int in [1, {hnet.num_tasks}], got {num_tasks!r}")
    if max_samples is not None and (not isinstance(max_samples, int) or max_samples < 1):
        raise ValueError(f"max_samples must be a positive integer or None, got {max_samples!r}")
    device = next(hnet.parameters()).device
    counts = np.zeros((num_tasks, num_tasks))
    for t in range(num_tasks):
        x_all, _ = benchmark.tasks[t].tensors(split)
        if max_samples is not None:
            x_all = x_all[:max_samples]
        for x in x_all.split(batch_size):
            inferred = infer_task(all_task_logits(hnet, target, x.to(device), num_tasks))
            counts[t] += np.bincount(inferred.cpu().numpy(), minlength=num_tasks)
    return 100.0 * counts / counts.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------
# Published numbers beside ours
# ---------------------------------------------------------------------------

#: Average final test accuracy (%) published by von Oswald et al. (2020),
#: as quoted in docs/method.md §5, keyed by (benchmark, scenario, method).
#: Only for display *beside* our own measured numbers, always labelled.
PUBLISHED: dict[tuple[str, int, str], str] = {
    ("permuted_mnist", 1, "hnet"): "≈ 97.6",
    ("split_mnist", 1, "hnet"): "≈ 99.8",
    ("split_mnist", 3, "hnet"): "69.48 ± 0.80 (HNET+ENT)",
    ("split_mnist", 3, "ewc"): "≈ 20.0",
    ("split_mnist", 3, "si"): "≈ 20.0",
}


def results_table(results: Mapping[tuple[str, int], ContinualResult], benchmark: str) -> pd.DataFrame:
    """Our average final accuracy beside the published one.

    Args:
        results: ``{(method label, scenario): ContinualResult}``; the label is
            shown, the method is read from the result's configuration.
        benchmark: whose published numbers to show (see :data:`PUBLISHED`).

    Returns:
        A table with one row per method label and, per scenario present,
        the columns ``"CL<s> ours"`` (%, our run) and ``"CL<s> paper"``
        (published, "—" when the paper gives none).
    """
    if not results:
        raise ValueError("results must contain at least one run, got an empty mapping")
    scenarios = sorted({s for _, s in results})
    labels = list(dict.fromkeys(label for label, _ in results))
    table = {}
    for label in labels:
        row = {}
        for s in scenarios:
            result = results.get((label, s))
            row[f"CL{s} ours"] = round(result.average_final, 2) if result is not None else np.nan
            method = result.config["method"] if result is not None else None
            row[f"CL{s} paper"] = PUBLISHED.get((benchmark, s, method), "—")
        table[label] = row
    out = pd.DataFrame.from_dict(table, orient="index")
    out.index.name = "method"
    return out


def load_result_if_present(path: str | Path) -> ContinualResult | None:
    """The results file at ``path`` (relative to the repository root), or ``None`` if absent.

    A file that exists but is not a valid results file raises (it is never
    silently ignored).
    """
    path = Path(path)
    if not path.is_absolute():
        path = config.REPO_ROOT / path
    return ContinualResult.load(path) if path.is_file() else None


# ---------------------------------------------------------------------------
# Task embeddings on a plane
# ---------------------------------------------------------------------------


def embedding_plane(embeddings) -> tuple[torch.Tensor, torch.Tensor]:
    """A 2-D plane in embedding space on which to draw accuracy maps.

    For 2-D embeddings it is the embedding space itself (origin 0, the two
    coordinate axes). For larger embeddings it is the plane through the mean
    of the learned embeddings spanned by their two principal directions, so
    that up to three embeddings lie exactly on it.

    Args:
        embeddings: (K, d) learned task embeddings, d ≥ 2, K ≥ 1.

    Returns:
        ``(origin, basis)``: (d,) and (2, d) with orthonormal rows.
    """
    e = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
    if e.dim() != 2 or e.shape[0] < 1 or e.shape[1] < 2:
        raise ValueError(f"embeddings must have shape (K, d) with K >= 1 and d >= 2, got {tuple(e.shape)}")
    d = e.shape[1]
    if d == 2:
        return torch.zeros(2), torch.eye(2)
    origin = e.mean(dim=0)
    centred = (e - origin).double()
    # principal directions first, then coordinate axes to fill up when K < 3
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)
    candidates = [v for v, s in zip(vt, torch.linalg.svdvals(centred)) if s > 1e-6]
    candidates += list(torch.eye(d, dtype=torch.float64))
    basis = []
    for v in candidates:
        for b in basis:
            v = v - (v @ b) * b
        if v.norm() > 1e-6:
            basis.append(v / v.norm())
        if len(basis) == 2:
            break
    return origin, torch.stack(basis).float()


def to_plane(points, origin: torch.Tensor, basis: torch.Tensor) -> np.ndarray:
    """Coordinates of (K, d) embedding-space points in the plane: (K, 2)."""
    p = torch.as_tensor(np.asarray(points, dtype=np.float32))
    return ((p - origin) @ basis.T).numpy()


def from_plane(coords: torch.Tensor, origin: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Embedding-space points for (P, 2) plane coordinates: (P, d)."""
    return origin + coords @ basis


def plane_snapshot(hnet, target, tasks_data, resolution: int = 32, margin: float = 1.5,
                   metric: str = "accuracy") -> EmbeddingSnapshot:
    """Every task's metric over a grid on the plane of the learned embeddings.

    The grid is laid on :func:`embedding_plane` (for 2-D embeddings: the
    embedding space itself) around the learned embeddings, and evaluated in
    one batched call (``embedding_grid.evaluate_embedding_grid``).

    Args:
        hnet, target: trained hypernetwork (any embedding size ≥ 2) and target.
        tasks_data: one ``(x, y)`` pair per task (``embedding_grid.benchmark_tasks_data``).
        resolution: grid points per axis.
        margin: room around the embeddings, in embedding units.
        metric: ``"accuracy"`` (fraction correct, 0..1) or ``"mse"``.

    Returns:
        An ``EmbeddingSnapshot`` in plane coordinates (``embeddings`` are the
        learned embeddings projected on the plane), ready for
        ``plotting.plot_embedding_heatmaps``.
    """
    embeddings = torch.stack([hnet.task_embedding(t).detach().cpu() for t in range(hnet.num_tasks)])
    origin, basis = embedding_plane(embeddings)
    coords = to_plane(embeddings, origin, basis)
    xlim, ylim = grid_limits(coords, margin=margin)
    xs, ys, points = make_grid(xlim, ylim, resolution)
    start = time.perf_counter()
    values = evaluate_embedding_grid(hnet, target, tasks_data, from_plane(points, origin, basis),
                                     metric=metric)
    seconds = time.perf_counter() - start
    grids = values.reshape(len(tasks_data), resolution, resolution).numpy()
    return EmbeddingSnapshot(task=hnet.num_tasks - 1, step=0, xs=xs.numpy(), ys=ys.numpy(),
                             grids=grids, embeddings=coords, seconds=seconds)


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def plot_task_examples(benchmark, num_tasks: int = 3, num_images: int = 4, side: int = 32):
    """The first test images of each of the first ``num_tasks`` tasks, as the model sees them.

    For PermutedMNIST these are the same digits under each task's pixel
    permutation. ``side``: image side (32 for padded MNIST, 28 otherwise).
    Returns the figure (rows: tasks, columns: images).
    """
    num_tasks = min(num_tasks, benchmark.num_tasks)
    if num_images < 1 or num_tasks < 1:
        raise ValueError(f"num_images and num_tasks must be >= 1, got {num_images}, {num_tasks}")
    fig, axes = plt.subplots(num_tasks, num_images, figsize=(1.3 * num_images, 1.4 * num_tasks),
                             squeeze=False)
    idx = torch.arange(num_images)
    for t in range(num_tasks):
        task = benchmark.tasks[t]
        x, y = task.batch("test", idx)
        for i in range(num_images):
            ax = axes[t][i]
            ax.imshow(x[i].reshape(side, side).numpy(), cmap="gray_r")
            ax.set_xticks([]), ax.set_yticks([])
            label = int(y[i])
            name = f"{task.class_names[label]} " if task.class_names else ""
            ax.set_title(f"{name}(label {label})", fontsize=8)
        axes[t][0].set_ylabel(f"task {t + 1}")
    fig.tight_layout()
    return fig


def plot_accuracy_matrices(results: Mapping[str, ContinualResult], size: float = 3.4):
    """One accuracy-matrix heatmap (seaborn) per method, side by side.

    Cell (i, j): test accuracy (%) on task j after training task i; blank
    above the diagonal (tasks not learned yet). The title gives the average
    final accuracy.
    """
    import seaborn as sns

    if not results:
        raise ValueError("results must contain at least one method, got an empty mapping")
    fig, axes = plt.subplots(1, len(results), figsize=(size * len(results), size * 0.9),
                             squeeze=False)
    for ax, (label, result) in zip(axes[0], results.items()):
        arr = np.array([[np.nan if v is None else float(v) for v in row] for row in result.matrix])
        ticks = [str(t + 1) for t in range(len(arr))]
        sns.heatmap(arr, ax=ax, vmin=0, vmax=100, cmap="viridis", mask=np.isnan(arr),
                    annot=len(arr) <= 10, fmt=".0f", annot_kws={"fontsize": 7}, cbar=False,
                    xticklabels=ticks, yticklabels=ticks)
        ax.set_title(f"{label}: mean final {result.average_final:.1f}%", fontsize=10)
        ax.set_xlabel("evaluated on task")
        ax.set_ylabel("after training task")
    fig.tight_layout()
    return fig


def plot_compression(rows: Sequence[Mapping[str, Any]], ax=None, label_key: str | None = None):
    """Average final accuracy against compression ratio (log x axis, line at ratio 1)."""
    if not rows:
        raise ValueError("rows must contain at least one run, got none")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    ratios = [r["ratio"] for r in rows]
    accs = [r["average_final"] for r in rows]
    ax.plot(ratios, accs, "o", color=task_color(0))
    for r in rows:
        text = str(r.get(label_key, "")) if label_key else f"{r['hnet_params']:,}"
        ax.annotate(text, (r["ratio"], r["average_final"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    ax.axvline(1.0, color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("compression ratio (hypernetwork params / target weights)")
    ax.set_ylabel("average final accuracy (%)")
    return ax.figure


def plot_regularizer_cost(rows: Sequence[Mapping[str, Any]], ax=None):
    """Milliseconds per regulariser evaluation (+ backward) against the number of old tasks."""
    if not rows:
        raise ValueError("rows must contain at least one timing, got none")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for k, method in enumerate(dict.fromkeys(r["method"] for r in rows)):
        mine = [r for r in rows if r["method"] == method]
        ax.plot([r["num_old_tasks"] for r in mine], [r["ms"] for r in mine], "o-",
                color=task_color(k), label=method)
    ax.set_xlabel("number of old tasks")
    ax.set_ylabel("ms per step (regulariser + backward)")
    ax.legend()
    return ax.figure


def plot_during_and_final(result: ContinualResult, ax=None, title: str = ""):
    """Accuracy of each task right after learning it and after the last task."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    tasks = np.arange(1, len(result.final) + 1)
    ax.plot(tasks, result.during, "o-", ms=3, color=task_color(0), label="right after learning it")
    ax.plot(tasks, result.final, "s-", ms=3, color=task_color(1), label="after the last task")
    lowest = min(min(result.during), min(result.final))
    ax.set_ylim(max(0.0, lowest - 10), 100)  # a full-height axis would hide the gap, a tight one inflate it
    ax.set_xlabel("task")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(loc="lower left")
    if title:
        ax.set_title(title)
    return ax.figure


def plot_beta_tradeoff(rows: Sequence[Mapping[str, Any]], beta: float, fig=None):
    """Left: per-task accuracy for one β (during vs final). Right: averages against β."""
    chosen = [r for r in rows if math.isclose(r["beta"], beta, rel_tol=1e-9, abs_tol=1e-12)]
    if not chosen:
        raise ValueError(f"beta must be one of the swept values {[r['beta'] for r in rows]}, got {beta!r}")
    row = chosen[0]
    if fig is None:
        fig = plt.figure(figsize=(9, 3.2))
    fig.clear()
    left, right = fig.subplots(1, 2)
    tasks = np.arange(1, len(row["final"]) + 1)
    left.bar(tasks - 0.2, row["during"], width=0.4, color=task_color(0), label="right after learning")
    left.bar(tasks + 0.2, row["final"], width=0.4, color=task_color(1), label="after the last task")
    left.set_ylim(min(50, min(row["final"]) - 5), 100)
    left.set_xlabel("task")
    left.set_ylabel("test accuracy (%)")
    left.set_title(f"β = {beta:g}")
    left.legend(loc="lower left", fontsize=8)
    positive = [r for r in rows if r["beta"] > 0]
    xs = [r["beta"] for r in positive]
    right.plot(xs, [r["average_during"] for r in positive], "o-", color=task_color(0),
               label="plasticity: mean right after")
    right.plot(xs, [r["average_final"] for r in positive], "s-", color=task_color(1),
               label="stability: mean final")
    right.axvline(beta, color="grey", ls=":", lw=1)
    right.set_xscale("log")
    right.set_xlabel("β")
    right.set_ylabel("mean accuracy (%)")
    right.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_task_inference(confusion: np.ndarray, ax=None, title: str = "HNET+ENT task inference"):
    """Heatmap of :func:`task_inference_confusion` (row: true task, column: inferred)."""
    import seaborn as sns

    confusion = np.asarray(confusion, dtype=float)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square (T, T) array, got shape {confusion.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.8, 3.2))
    ticks = [str(t + 1) for t in range(len(confusion))]
    sns.heatmap(confusion, ax=ax, vmin=0, vmax=100, cmap="viridis", annot=True, fmt=".0f",
                xticklabels=ticks, yticklabels=ticks, cbar_kws={"label": "% of the task's inputs"})
    ax.set_xlabel("inferred task")
    ax.set_ylabel("true task")
    ax.set_title(title)
    return ax.figure


def plot_plane(snapshot: EmbeddingSnapshot, title: str = ""):
    """Accuracy maps of a :func:`plane_snapshot` (linear colour scale, 0..1).

    Returns a (non-pyplot) figure; show it with ``display(fig)``.
    """
    fig = plot_embedding_heatmaps(snapshot.xs, snapshot.ys, snapshot.grids, snapshot.embeddings,
                                  trajectories=snapshot.trajectories or None,
                                  metric="accuracy", log=False, vmin=0.0, vmax=1.0, cmap="magma")
    if title:
        fig.suptitle(title, fontsize=10, y=1.04)
    return fig


# ---------------------------------------------------------------------------
# Widgets (thin layers over the functions above)
# ---------------------------------------------------------------------------


def beta_explorer(rows: Sequence[Mapping[str, Any]]):
    """A slider over the β values of a :func:`beta_sweep`, redrawing :func:`plot_beta_tradeoff`.

    Returns ``(box, slider, image)``: display ``box``; set ``slider.value``
    to drive it from code; ``image.value`` holds the PNG shown.
    """
    import ipywidgets as widgets

    from .plotting import figure_to_png

    betas = [r["beta"] for r in rows]
    slider = widgets.SelectionSlider(options=[(f"{b:g}", b) for b in betas], value=betas[0],
                                     description="β", layout=widgets.Layout(width="420px"))
    image = widgets.Image(format="png")

    def show(_=None):
        image.value = figure_to_png(plot_beta_tradeoff(rows, slider.value))

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, image]), slider, image


class EmbeddingExplorer:
    """β and task-embedding size of a SplitMNIST hypernetwork, with accuracy maps of its embeddings.

    Clicking **Train** (or calling :meth:`train`) retrains the hypernetwork of
    ``base`` with the sliders' β and embedding size (``training.train_continual``)
    and shows every task's test accuracy over a plane of task embeddings:
    with 2-D embeddings the embedding space itself, refreshed live while
    training (``embedding_grid.EmbeddingSpaceMonitor``); with larger ones the
    plane of their two principal directions (:func:`plane_snapshot`),
    refreshed at the end of every task. A table gives the final accuracies.

    Args:
        base: hypernetwork configuration (e.g. ``teaching_config("split_mnist_plane")``).
        benchmark: the benchmark to train on.
        tasks_data: ``(x, y)`` per task for the maps (a few test samples each;
            ``embedding_grid.benchmark_tasks_data(benchmark, max_samples=...)``).
        betas: β values offered by the slider (``base.beta`` is added).
        embedding_dims: embedding sizes offered (``base.embedding_dim`` is added).
        resolution: grid points per axis.
        refresh_every: training steps between two live refreshes (2-D only).
        callback_every: steps between progress updates and trajectory points.

    Controls (public, so code can drive them): ``beta``, ``embedding_dim``,
    ``train_button``. Outputs: ``progress``, ``status``, ``view``
    (``widgets.EmbeddingSpaceView``), ``table``. After :meth:`train`:
    ``result`` and ``snapshot`` (the last map shown).
    """

    def __init__(self, base: ExperimentConfig, benchmark, tasks_data,
                 betas: Sequence[float] = (0.0, 1e-3, 1e-2, 0.1, 1.0),
                 embedding_dims: Sequence[int] = (2, 3, 4, 8), resolution: int = 32,
                 refresh_every: int = 50, callback_every: int = 10):
        import ipywidgets as widgets

        from .widgets import EmbeddingSpaceView

        if base.method != "hnet":
            raise ValueError(f"base must be a hypernetwork configuration (method='hnet'), got {base.method!r}")
        if len(tasks_data) != base.num_tasks:
            raise ValueError(f"tasks_data must hold one (x, y) pair per task ({base.num_tasks}), "
                             f"got {len(tasks_data)}")
        dims = sorted({int(d) for d in embedding_dims} | {base.embedding_dim})
        if dims[0] < 2:
            raise ValueError(f"embedding_dims must be >= 2 (a plane needs two dimensions), got {dims}")
        self.base, self.benchmark, self.tasks_data = base, benchmark, list(tasks_data)
        self.resolution, self.refresh_every = resolution, refresh_every
        self.callback_every = callback_every
        self.result: ContinualResult | None = None
        self.snapshot: EmbeddingSnapshot | None = None
        #: grid-evaluation seconds of every refresh of the last :meth:`train`
        self.refresh_seconds: list[float] = []

        style, wide = {"description_width": "initial"}, widgets.Layout(width="420px")
        options = sorted({float(b) for b in betas} | {float(base.beta)})
        self.beta = widgets.SelectionSlider(options=[(f"{b:g}", b) for b in options],
                                            value=float(base.beta), description="β (regulariser)",
                                            style=style, layout=wide)
        self.embedding_dim = widgets.SelectionSlider(options=dims, value=base.embedding_dim,
                                                     description="task-embedding size",
                                                     style=style, layout=wide)
        self.train_button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress",
                                            style=style, layout=wide)
        self.status = widgets.HTML("Choose β and the embedding size, then press <b>Train</b>.")
        self.view = EmbeddingSpaceView(base.num_tasks, metric="accuracy", vmin=0.0, vmax=1.0,
                                       log=False, cmap="magma")
        self.table = widgets.HTML()
        self.train_button.on_click(self.train)
        controls = widgets.VBox([self.beta, self.embedding_dim,
                                 widgets.HBox([self.train_button, self.progress]), self.status])
        self.widget = widgets.VBox([controls, self.view.widget, self.table])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def config(self) -> ExperimentConfig:
        """The configuration the sliders describe (what :meth:`train` runs)."""
        return self.base.replace(beta=float(self.beta.value), embedding_dim=int(self.embedding_dim.value))

    def train(self, button=None) -> ContinualResult:
        """Retrain with the sliders' settings, refreshing the maps; returns the result.

        This is the Train button's click handler (``button`` is unused).
        """
        from .embedding_grid import EmbeddingSpaceMonitor

        cfg = self.config()
        self.progress.max, self.progress.value = cfg.iterations * cfg.num_tasks, 0
        self.train_button.disabled = True
        self.status.value = f"training: {describe_config(cfg)}"
        self.refresh_seconds = []
        monitor = None
        if cfg.embedding_dim == 2:
            monitor = EmbeddingSpaceMonitor(self.tasks_data, resolution=self.resolution,
                                            refresh_every=self.refresh_every,
                                            on_refresh=self.view, metric="accuracy")

        def callback(state) -> None:
            self.progress.value = state.global_step
            if monitor is not None:
                monitor(state)
            elif state.event == "task_end":
                snap = plane_snapshot(state.hnet, state.target, self.tasks_data,
                                      resolution=self.resolution)
                snap.step = state.step
                self.snapshot = snap
                self.refresh_seconds.append(snap.seconds)
                self.view(snap)

        try:
            result = train_continual(cfg, benchmark=self.benchmark, callback=callback,
                                     callback_every=self.callback_every, progress=False)
        finally:
            self.train_button.disabled = False
        if monitor is not None:
            self.snapshot = monitor.latest
            self.refresh_seconds = list(monitor.refresh_seconds)
        self.result = result
        cells = "".join(f"<td>{a:.1f}</td>" for a in result.final)
        heads = "".join(f"<th>task {t + 1}</th>" for t in range(len(result.final)))
        self.table.value = (f"<b>final test accuracy (%)</b><table><tr>{heads}<th>mean</th></tr>"
                            f"<tr>{cells}<td><b>{result.average_final:.2f}</b></td></tr></table>")
        plane = ("the embedding space itself" if cfg.embedding_dim == 2 else
                 f"the plane of the two principal directions of the {cfg.embedding_dim}-D embeddings")
        self.status.value = (f"done in {result.wall_time_s:.1f} s; maps over {plane}. "
                             f"{describe_config(cfg)}")
        return result
