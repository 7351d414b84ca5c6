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




#: The finest grid of a heatmap: 500 x 500 points (a million would not fit in the memory
#: of a laptop once every point's network is generated).
MAX_RESOLUTION = 500


def check_resolution(resolution) -> int:
    """``resolution`` if it is an integer in [2, MAX_RESOLUTION], else a ``ValueError``."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not (
            2 <= resolution <= MAX_RESOLUTION):
        raise ValueError(f"resolution (grid points per axis) must be an integer in "
                         f"[2, {MAX_RESOLUTION}], got {resolution!r}")
    return resolution


def make_grid(xlim: tuple[float, float], ylim: tuple[float, float], resolution: int = 50):
    """A regular grid over the rectangle ``xlim`` × ``ylim`` of the embedding plane.

    Args:
        xlim, ylim: ``(low, high)`` with ``low < high``.
        resolution: number of grid points along each axis (2 to :data:`MAX_RESOLUTION`).

    Returns:
        ``(xs, ys, points)``: ``xs`` and ``ys`` of shape (R,), and ``points``
        of shape (R*R, 2), row-major over (ys, xs), so that
        ``points.reshape(R, R, 2)[i, j] == (xs[j], ys[i])`` — the layout
        ``imshow(origin="lower")`` expects.
    """
    check_resolution(resolution)
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


# --------------------------------------------------------------------------- probe and paths
#
# The heatmaps above answer "how good is the network made at each point?" for
# a whole grid at once. A *probe* looks at one point: it asks the hypernetwork
# for the weights h(e) at that embedding and runs the target network with
# them, keeping its outputs, so one can see the network that lives there. A
# *path* is a sequence of embeddings (a straight line between two learned
# embeddings, or the trajectory one took while training); all its points go
# through the hypernetwork in one batched call.


@dataclass
class ProbeResult:
    """What the network generated at one embedding does.

    Attributes:
        point: (d,) the embedding the weights were generated from.
        metrics: (T,) every task's metric with the weights ``h(point)``.
        outputs: T arrays (N_t, out): the target's outputs on each task's inputs.
        curve: (M, out) outputs on extra ``inputs`` (e.g. an x grid to draw a
            regression function), or ``None``.
        seconds: wall time of generating the weights and evaluating them.
    """

    point: np.ndarray
    metrics: np.ndarray
    outputs: list[np.ndarray]
    curve: np.ndarray | None = None
    seconds: float = 0.0


@dataclass
class PathEvaluation:
    """A path through embedding space and the network at each of its points.

    Attributes:
        points: (P, d) embeddings along the path.
        metrics: (P, T): ``metrics[i, t]`` is task t's metric with ``h(points[i])``.
        outputs: T arrays (P, N_t, out): the target's outputs on each task's inputs.
        curves: (P, M, out) outputs on extra ``inputs``, or ``None``.
        seconds: wall time of the whole (batched) evaluation.
    """

    points: np.ndarray
    metrics: np.ndarray
    outputs: list[np.ndarray]
    curves: np.ndarray | None = None
    seconds: float = 0.0

    def step(self, i: int) -> ProbeResult:
        """The path's ``i``-th point as a :class:`ProbeResult` (nothing is recomputed)."""
        if not -len(self.points) <= i < len(self.points):
            raise IndexError(f"path step must be in [0, {len(self.points) - 1}], got {i}")
        return ProbeResult(point=self.points[i], metrics=self.metrics[i],
                           outputs=[out[i] for out in self.outputs],
                           curve=None if self.curves is None else self.curves[i])


def _check_probe_args(tasks_data, metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if len(tasks_data) == 0:
        raise ValueError("tasks_data must contain at least one (x, y) pair, got none")


def _per_point_metric(outputs: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    """outputs: (N, out) -> 0-d metric (the single-point form of ``_metric``)."""
    return _metric(outputs[None], y, metric)[0]


@torch.no_grad()
def probe(hnet, target, tasks_data: Sequence[tuple[torch.Tensor, torch.Tensor]], point,
          metric: str = "mse", inputs: torch.Tensor | None = None) -> ProbeResult:
    """Generate the target network at embedding ``point`` and test it on every task.

    Args:
        hnet: hypernetwork; ``hnet(embeddings=e)`` maps (d,) to (n,) weights.
        target: the target network those weights belong to.
        tasks_data: one ``(x, y)`` pair per task (see :func:`benchmark_tasks_data`).
        point: (d,) embedding (a tensor, array or list).
        metric: ``"mse"`` or ``"accuracy"`` (a fraction, 0..1).
        inputs: optional (M, *input_shape) extra inputs whose outputs are kept
            in ``curve`` (e.g. a dense x grid to draw the fitted function).

    Returns:
        A :class:`ProbeResult`; ``metrics[t]`` equals what
        :func:`evaluate_embedding_grid` gives for the same point.
    """
    _check_probe_args(tasks_data, metric)
    device = next(hnet.parameters()).device
    e = torch.as_tensor(np.asarray(point, dtype=np.float32)).reshape(-1).to(device)  # (d,)
    was_training = hnet.training
    hnet.eval()
    start = time.perf_counter()
    try:
        weights = hnet(embeddings=e)                                          # (n,)
        metrics, outputs = [], []
        for x, y in tasks_data:
            out = forward_with_weights(target, weights, x.to(device))         # (N_t, out)
            metrics.append(_per_point_metric(out, y.to(device), metric))
            outputs.append(out.cpu().numpy())
        curve = None if inputs is None else \
            forward_with_weights(target, weights, inputs.to(device)).cpu().numpy()  # (M, out)
    finally:
        hnet.train(was_training)
    return ProbeResult(point=e.cpu().numpy(), metrics=torch.stack(metrics).cpu().numpy(),
                       outputs=outputs, curve=curve, seconds=time.perf_counter() - start)


@torch.no_grad()
def evaluate_path(hnet, target, tasks_data: Sequence[tuple[torch.Tensor, torch.Tensor]], points,
                  metric: str = "mse", inputs: torch.Tensor | None = None) -> PathEvaluation:
    """:func:`probe` at every point of a path, in one batched hypernetwork call.

    Args:
        points: (P, d) embeddings, e.g. from :func:`straight_path` or
            :func:`resample_path`.
        Other arguments as for :func:`probe`.

    Returns:
        A :class:`PathEvaluation`; its step ``i`` equals ``probe(..., points[i])``.
    """
    _check_probe_args(tasks_data, metric)
    device = next(hnet.parameters()).device
    pts = torch.as_tensor(np.asarray(points, dtype=np.float32)).to(device)
    if pts.ndim != 2 or len(pts) < 1:
        raise ValueError(f"points must have shape (P, embedding_dim) with P >= 1, got {tuple(pts.shape)}")
    was_training = hnet.training
    hnet.eval()
    start = time.perf_counter()
    try:
        weights = hnet(embeddings=pts)                                        # (P, n): one call
        metrics, outputs = [], []
        for x, y in tasks_data:
            out = forward_with_weights(target, weights, x.to(device))         # (P, N_t, out)
            metrics.append(_metric(out, y.to(device), metric))                # (P,)
            outputs.append(out.cpu().numpy())
        curves = None if inputs is None else \
            forward_with_weights(target, weights, inputs.to(device)).cpu().numpy()  # (P, M, out)
    finally:
        hnet.train(was_training)
    return PathEvaluation(points=pts.cpu().numpy(), metrics=torch.stack(metrics, dim=1).cpu().numpy(),
                          outputs=outputs, curves=curves, seconds=time.perf_counter() - start)


def straight_path(a, b, num: int = 50) -> np.ndarray:
    """``num`` evenly spaced points from embedding ``a`` to embedding ``b``: (num, d).

    The first point is exactly ``a`` and the last exactly ``b``.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if not isinstance(num, int) or num < 2:
        raise ValueError(f"num must be an integer >= 2, got {num!r}")
    s = np.linspace(0.0, 1.0, num)[:, None]                                    # (num, 1)
    path = (1 - s) * a + s * b                                                 # (num, d)
    path[0], path[-1] = a, b
    return path.astype(np.float32)


def resample_path(points, num: int = 50) -> np.ndarray:
    """``num`` points evenly spaced by arc length along a polyline (e.g. a training trajectory).

    Args:
        points: (L, d) the polyline's vertices, L ≥ 1.
        num: points wanted (≥ 2). The first and last vertices are kept exactly.

    Returns:
        (num, d) float32 array.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or len(p) < 1:
        raise ValueError(f"points must have shape (L, d) with L >= 1, got {p.shape}")
    if not isinstance(num, int) or num < 2:
        raise ValueError(f"num must be an integer >= 2, got {num!r}")
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)                           # (L-1,)
    s = np.concatenate([[0.0], np.cumsum(seg)])                                # (L,) arc length
    if len(p) == 1 or s[-1] == 0:
        return np.repeat(p[:1], num, axis=0).astype(np.float32)
    wanted = np.linspace(0.0, s[-1], num)
    out = np.stack([np.interp(wanted, s, p[:, k]) for k in range(p.shape[1])], axis=1)
    out[0], out[-1] = p[0], p[-1]
    return out.astype(np.float32)


def first_step_worse(metrics, task: int, threshold: float, metric: str = "mse") -> int | None:
    """The first path step at which ``task`` is worse than ``threshold``, or ``None``.

    "Worse" means MSE above ``threshold`` (``metric="mse"``) or accuracy
    below it (``metric="accuracy"``, as a fraction).

    Args:
        metrics: (P, T) metrics along a path (``PathEvaluation.metrics``).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    m = np.asarray(metrics, dtype=float)
    if m.ndim != 2 or not 0 <= task < m.shape[1]:
        raise ValueError(f"metrics must be (P, T) with task in [0, T), got shape {m.shape}, task {task}")
    worse = m[:, task] > threshold if metric == "mse" else m[:, task] < threshold
    hits = np.flatnonzero(worse)
    return int(hits[0]) if len(hits) else None


def check_first_step_worse(path: PathEvaluation, task: int, threshold: float, answer,
                           metric: str = "mse", tolerance: int = 1) -> bool:
    """Exercise check: is ``answer`` the first step where ``task`` gets worse than ``threshold``?

    Prints ``pass`` or a hint (never the answer) and returns whether it passed.
    ``answer`` is a step index (0-based) or ``None`` for "never"; a step within
    ``tolerance`` of the true one passes (reading a plot is not exact).
    """
    truth = first_step_worse(path.metrics, task, threshold, metric)
    name, worse = f"task {task + 1}", ("above" if metric == "mse" else "below")
    if truth is None or answer is None:
        ok = truth is None and answer is None
        if ok:
            print(f"pass: {name} never gets {worse} {threshold:g} on this path.")
        elif answer is None:
            print(f"not quite: {name} does get {worse} {threshold:g} somewhere on this path. "
                  f"Hint: look at its curve in the lower right panel (the path's metrics[:, {task}]).")
        else:
            print(f"not quite: check {name} at step {answer} and at every step after it. "
                  f"Hint: is it really {worse} {threshold:g} anywhere?")
        return ok
    if abs(int(answer) - truth) <= tolerance:
        print(f"pass: from about step {answer} on, {name} is {worse} {threshold:g}.")
        return True
    value = float(path.metrics[int(np.clip(answer, 0, len(path.metrics) - 1)), task])
    direction = "later" if int(answer) < truth else "earlier"
    print(f"not quite: at step {answer} {name}'s {metric} is {value:.3g}. "
          f"Hint: the first step {worse} {threshold:g} comes {direction}.")
    return False
