"""Batched evaluation of tasks over a 2-D grid of task embeddings.

With 2-D task embeddings the whole embedding space fits on a screen: for
every point ``e`` of a grid we ask the hypernetwork for target weights
``h(e)`` and measure how well those weights solve each task. All grid points
go through the hypernetwork in one batched call and through the target
network in one ``vmap``-ed call (``targets.forward_with_weights``), which is
what makes a live refresh while training cheap.

:class:`EmbeddingSpaceMonitor` is a training callback (see
``continual.training.train_continual``) that records each task embedding's trajectory
and re-evaluates the grid every few steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from hnet_utils.continual.metrics import METRICS, fraction_correct
from hnet_utils.networks.targets import forward_with_weights




def make_grid(xlim: tuple[float, float], ylim: tuple[float, float], resolution: int = 50):
    """A regular grid over the rectangle ``xlim`` × ``ylim`` of the embedding plane.

    Args:
        xlim, ylim: ``(low, high)`` with ``low < high``.
        resolution: number of grid points along each axis (≥ 2).

    Returns:
        ``(xs, ys, points)``: ``xs`` and ``ys`` of shape (R,), and ``points``
        of shape (R*R, 2), row-major over (ys, xs), so that
        ``points.reshape(R, R, 2)[i, j] == (xs[j], ys[i])`` — the layout
        ``imshow(origin="lower")`` expects.
    """
    if not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    for name, lim in (("xlim", xlim), ("ylim", ylim)):
        if len(lim) != 2 or not float(lim[0]) < float(lim[1]):
            raise ValueError(f"{name} must be (low, high) with low < high, got {lim!r}")
    xs = torch.linspace(float(xlim[0]), float(xlim[1]), resolution)
    ys = torch.linspace(float(ylim[0]), float(ylim[1]), resolution)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)
    return xs, ys, points


def grid_limits(points, margin: float = 1.0, step: float = 0.5):
    """Square limits that contain ``points`` plus ``margin`` on every side.

    Args:
        points: (K, 2) embeddings (and/or trajectory points) to be shown.
        margin: extra room around them, in embedding units (≥ 0).
        step: limits are rounded outwards to multiples of ``step`` (> 0) so
            they change rarely while the embeddings move.

    Returns:
        ``(xlim, ylim)``, each a ``(low, high)`` tuple of floats, same width.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}")
    pts = torch.as_tensor(np.asarray(points, dtype=np.float32)).reshape(-1, 2)
    if pts.numel() == 0:
        raise ValueError("points must contain at least one (x, y) pair, got none")
    lo = pts.min(dim=0).values - margin
    hi = pts.max(dim=0).values + margin
    centre = (lo + hi) / 2
    half = float((hi - lo).max()) / 2
    limits = []
    for c in centre.tolist():
        low = math.floor((c - half) / step) * step
        high = math.ceil((c + half) / step) * step
        limits.append((low, high))
    # Equal widths so the plane is not distorted.
    width = max(h - l for l, h in limits)
    limits = [(l, l + width) for l, _ in limits]
    return limits[0], limits[1]


def _metric(outputs: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    """Per-grid-point metric. outputs: (P, N, out); y: (N, out) float or (N,) long -> (P,)."""
    if metric == "mse":
        target = y.reshape(1, *outputs.shape[1:]).to(outputs.dtype)
        return ((outputs - target) ** 2).mean(dim=(1, 2))
    return fraction_correct(outputs, y.reshape(-1))


@torch.no_grad()
def evaluate_embedding_grid(hnet, target, tasks_data: Sequence[tuple[torch.Tensor, torch.Tensor]],
                            points: torch.Tensor, metric: str = "mse",
                            batch_size: int | None = None) -> torch.Tensor:
    """Every task's metric for target weights generated from every grid point.

    Args:
        hnet: a hypernetwork with 2-D (any size works) task embeddings;
            ``hnet(embeddings=E)`` maps (P, embedding_dim) to (P, n) weights.
        target: the target network those weights belong to.
        tasks_data: one ``(x, y)`` pair per task, e.g. each task's test split
            (``x``: (N, *input_shape); ``y``: (N, out) floats for ``"mse"``,
            (N,) within-task labels for ``"accuracy"``).
        points: (P, embedding_dim) embeddings to evaluate (see :func:`make_grid`).
        metric: ``"mse"`` (regression) or ``"accuracy"`` (classification).
        batch_size: grid points per hypernetwork call; ``None`` (default)
            sends the whole grid in a single call. Set it only to bound memory
            for large target networks.

    Returns:
        (T, P) float tensor on the CPU: ``out[t, p]`` is task t's metric with
        the weights ``h(points[p])``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if points.ndim != 2:
        raise ValueError(f"points must have shape (P, embedding_dim), got {tuple(points.shape)}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if len(tasks_data) == 0:
        raise ValueError("tasks_data must contain at least one (x, y) pair, got none")
    device = next(hnet.parameters()).device
    points = points.to(device=device, dtype=torch.float32)
    was_training = hnet.training
    hnet.eval()
    try:
        chunks = [points] if batch_size is None else list(points.split(batch_size))
        per_chunk = []
        for chunk in chunks:
            weights = hnet(embeddings=chunk)  # (P_chunk, n): one hypernetwork call
            rows = []
            for x, y in tasks_data:
                outputs = forward_with_weights(target, weights, x.to(device))  # (P_chunk, N, out)
                rows.append(_metric(outputs, y.to(device), metric))
            per_chunk.append(torch.stack(rows))
        return torch.cat(per_chunk, dim=1).cpu()
    finally:
        hnet.train(was_training)


def benchmark_tasks_data(benchmark, split: str = "test", max_samples: int | None = None):
    """``[(x, y), ...]`` for every task of ``benchmark`` (the whole ``split``).

    Args:
        benchmark: a ``benchmarks.Benchmark``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        max_samples: keep only the first ``max_samples`` of each task (for
            classification benchmarks, to keep a grid refresh cheap).
    """
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"max_samples must be a positive integer or None, got {max_samples!r}")
    data = []
    for task in benchmark.tasks:
        x, y = task.tensors(split)
        if max_samples is not None:
            x, y = x[:max_samples], y[:max_samples]
        data.append((x, y))
    return data


@dataclass
class EmbeddingSnapshot:
    """What one refresh of the embedding-space view shows.

    Attributes:
        task: the task being trained (0-based) when the snapshot was taken.
        step: the training step within that task.
        xs, ys: (R,) grid coordinates.
        grids: (T, R, R) NumPy array, ``grids[t, i, j]`` = task t's metric at
            embedding ``(xs[j], ys[i])``.
        embeddings: (K, 2) current embeddings of the K tasks learned so far.
        trajectories: K arrays (L_k, 2), the path of each embedding.
        seconds: wall time of the grid evaluation.
    """

    task: int
    step: int
    xs: np.ndarray
    ys: np.ndarray
    grids: np.ndarray
    embeddings: np.ndarray
    trajectories: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0


class EmbeddingSpaceMonitor:
    """Training callback: trajectories of 2-D task embeddings and live grids.

    Pass an instance as ``callback`` to ``train_continual`` (method ``"hnet"``
    with ``embedding_dim=2``). On every call it appends the current task's
    embedding to that task's trajectory; every ``refresh_every`` steps and at
    the end of each task it evaluates the whole grid (one hypernetwork call)
    and hands an :class:`EmbeddingSnapshot` to ``on_refresh`` (e.g. a widget
    that redraws the heatmaps).

    Args:
        tasks_data: one ``(x, y)`` pair per task (see :func:`benchmark_tasks_data`).
        resolution: grid points per axis.
        refresh_every: training steps between two grid evaluations (≥ 1).
        on_refresh: called with each new snapshot; ``None`` just stores it.
        metric: ``"mse"`` or ``"accuracy"``.
        margin: room around the embeddings when choosing the plane's limits;
            limits only ever grow, so the picture does not jump.
        limits: fixed ``(xlim, ylim)`` instead of automatic ones.
    """

    def __init__(self, tasks_data, resolution: int = 50, refresh_every: int = 100,
                 on_refresh: Callable[[EmbeddingSnapshot], None] | None = None,
                 metric: str = "mse", margin: float = 1.0, limits=None):
        if not isinstance(refresh_every, int) or refresh_every < 1:
            raise ValueError(f"refresh_every must be a positive integer, got {refresh_every!r}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if not isinstance(resolution, int) or resolution < 2:
            raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if limits is not None:
            if len(limits) != 2:
                raise ValueError(f"limits must be (xlim, ylim), got {limits!r}")
            make_grid(*limits, resolution=2)  # raises ValueError naming xlim/ylim if malformed
        self.tasks_data = list(tasks_data)
        self.resolution = resolution
        self.refresh_every = refresh_every
        self.on_refresh = on_refresh
        self.metric = metric
        self.margin = margin
        self.fixed_limits = limits
        self.limits = limits
        self.trajectories: dict[int, list[np.ndarray]] = {}
        self.latest: EmbeddingSnapshot | None = None  # most recent snapshot
        self.refresh_seconds: list[float] = []  # grid-evaluation time of every refresh
        self._last_refresh: tuple[int, int] | None = None

    def record(self, hnet, task: int) -> None:
        """Append the current embedding of ``task`` to its trajectory."""
        emb = hnet.task_embedding(task).detach().cpu().numpy().astype(float)
        if emb.shape != (2,):
            raise ValueError(
                f"EmbeddingSpaceMonitor needs 2-D task embeddings, got embedding shape {emb.shape}"
            )
        self.trajectories.setdefault(task, []).append(emb)

    def _update_limits(self, points: np.ndarray) -> None:
        if self.fixed_limits is not None:
            return
        xlim, ylim = grid_limits(points, margin=self.margin)
        if self.limits is None:
            self.limits = (xlim, ylim)
            return
        (ox0, ox1), (oy0, oy1) = self.limits
        # Only grow, keeping both axes equally wide.
        x0, x1 = min(ox0, xlim[0]), max(ox1, xlim[1])
        y0, y1 = min(oy0, ylim[0]), max(oy1, ylim[1])
        width = max(x1 - x0, y1 - y0)
        self.limits = ((x0, x0 + width), (y0, y0 + width))

    def refresh(self, hnet, target, task: int = 0, step: int = 0) -> EmbeddingSnapshot:
        """Evaluate the grid now and return (and store) the snapshot."""
        num = hnet.num_tasks
        embeddings = np.stack([hnet.task_embedding(t).detach().cpu().numpy() for t in range(num)]) \
            if num else np.zeros((0, 2))
        trajectories = [np.array(self.trajectories.get(t, [embeddings[t]])) for t in range(num)]
        points = np.concatenate([embeddings, *trajectories]) if num else np.zeros((1, 2))
        self._update_limits(points)
        xs, ys, grid_points = make_grid(*self.limits, resolution=self.resolution)
        start = time.perf_counter()
        values = evaluate_embedding_grid(hnet, target, self.tasks_data, grid_points, metric=self.metric)
        seconds = time.perf_counter() - start
        snapshot = EmbeddingSnapshot(
            task=task, step=step, xs=xs.numpy(), ys=ys.numpy(),
            grids=values.reshape(len(self.tasks_data), self.resolution, self.resolution).numpy(),
            embeddings=embeddings, trajectories=trajectories, seconds=seconds,
        )
        self.latest = snapshot
        self.refresh_seconds.append(seconds)
        if self.on_refresh is not None:
            self.on_refresh(snapshot)
        return snapshot

    def __call__(self, state) -> None:
        """The training callback: record the trajectory, refresh when due."""
        if state.hnet is None:
            raise ValueError("EmbeddingSpaceMonitor needs a hypernetwork run (state.hnet is None)")
        self.record(state.hnet, state.task)
        due = (
            state.event == "task_end"
            or self._last_refresh is None
            or self._last_refresh[0] != state.task
            or state.step - self._last_refresh[1] >= self.refresh_every
        )
        if due:
            self._last_refresh = (state.task, state.step)
            self.refresh(state.hnet, state.target, task=state.task, step=state.step)


# --------------------------------------------------------------------------- planes


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
    one batched call (``embedding_space.evaluate_embedding_grid``).

    Args:
        hnet, target: trained hypernetwork (any embedding size ≥ 2) and target.
        tasks_data: one ``(x, y)`` pair per task (``embedding_space.benchmark_tasks_data``).
        resolution: grid points per axis.
        margin: room around the embeddings, in embedding units.
        metric: ``"accuracy"`` (fraction correct, 0..1) or ``"mse"``.

    Returns:
        An ``EmbeddingSnapshot`` in plane coordinates (``embeddings`` are the
        learned embeddings projected on the plane), ready for
        ``figures.plot_embedding_heatmaps``.
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
