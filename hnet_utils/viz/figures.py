"""Matplotlib/seaborn figures and small tables used by the notebooks.

Every drawing function works on plain arrays (NumPy arrays, tensors or
lists), so it can be tested without training anything. It takes an optional
``ax`` and returns the figure, so a notebook can show it and a widget can turn
it into a PNG (:func:`figure_to_png`). :class:`EmbeddingHeatmapFigure` is
built once and updated in place, for live views.

One helper collects data rather than drawing: :class:`FitRecorder`, a
training callback that records each regression task's fitted curve at the
end of every task (the input of :func:`plot_fits_after_each_task`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.patheffects as path_effects
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from hnet_utils.continual.metrics import average_seen
from hnet_utils.continual.outliers import image_shape, mosaic
from hnet_utils.experiments.results import ContinualResult
from hnet_utils.networks.hypernet import HyperNetwork, compression_ratio, count_parameters
from hnet_utils.networks.targets import forward_with_weights, num_params
from hnet_utils.viz.embedding_space import EmbeddingSnapshot

#: One colour per task, reused by every figure so task t always looks the same.
TASK_COLORS = sns.color_palette("colorblind", 10)

#: Resolution of figures shown as PNG widgets: at 100 dpi a font of s pt appears at about s pt
#: in the browser when the image is shown at its own size (``png_width``), as inline figures are.
DISPLAY_DPI = 100
#: Width (CSS px) of a notebook's output area that figures are made to fit without shrinking.
DISPLAY_WIDTH_PX = 900


def task_color(task: int):
    """The RGB colour of task ``task`` (0-based) in every figure."""
    return TASK_COLORS[task % len(TASK_COLORS)]


def _as_1d(values, name: str) -> np.ndarray:
    """Flatten ``values`` (array, tensor or list) to a 1-D float NumPy array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (or (N, 1)), got shape {arr.shape}")
    return arr


def _as_array(values, name: str, ndim: int) -> np.ndarray:
    """Convert ``values`` to a float NumPy array with exactly ``ndim`` dims."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=float)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    return arr


# ---------------------------------------------------------------------------
# Regression fits
# ---------------------------------------------------------------------------


def plot_regression_fits(data, curves, ax=None, title: str | None = None):
    """Draw the training data of every task and the model's fit on each task.

    Args:
        data: one ``(x, y)`` pair per task, each of shape (N,) or (N, 1): the
            training points, drawn as dots.
        curves: one ``(x, y_pred)`` pair per task, shapes (M,) or (M, 1), the
            prediction of the model *for that task* on a dense x grid; ``None``
            for a task not learned yet (only its data is drawn, faded).
        ax: axes to draw into; a new figure is made when ``None``.
        title: optional axes title.

    Returns:
        The matplotlib figure.
    """
    if len(curves) != len(data):
        raise ValueError(
            f"curves must have one entry per task in data ({len(data)}), got {len(curves)}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for t, ((x, y), curve) in enumerate(zip(data, curves)):
        x, y = _as_1d(x, f"data[{t}] x"), _as_1d(y, f"data[{t}] y")
        if x.shape != y.shape:
            raise ValueError(f"data[{t}]: x and y must have the same length, got {x.shape} and {y.shape}")
        learned = curve is not None
        ax.scatter(x, y, s=6, color=task_color(t), alpha=0.35 if learned else 0.12,
                   label=f"task {t + 1} data")
        if learned:
            xc, yc = _as_1d(curve[0], f"curves[{t}] x"), _as_1d(curve[1], f"curves[{t}] y")
            if xc.shape != yc.shape:
                raise ValueError(
                    f"curves[{t}]: x and y must have the same length, got {xc.shape} and {yc.shape}"
                )
            # A dark outline keeps the fit visible on top of same-coloured data.
            ax.plot(xc, yc, color=task_color(t), lw=1.6, zorder=3,
                    path_effects=[path_effects.Stroke(linewidth=2.6, foreground="black"),
                                  path_effects.Normal()])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if title:
        ax.set_title(title)
    return ax.figure


def plot_curves(x, ys, labels: Sequence[str] | None = None, ax=None, title: str = "",
                colors=None):
    """Several functions of the same input, e.g. one target network run with several weight sets.

    Args:
        x: (M,) or (M, 1) inputs.
        ys: (K, M) or (K, M, 1) outputs, one row per curve (e.g. the (B, N, out)
            result of ``targets.forward_with_weights`` with B weight sets).
        labels: one legend label per curve (no legend when ``None``).
        ax: axes to draw into; new figure when ``None``.
        title: axes title.
        colors: one colour per curve; a viridis ramp by default.

    Returns:
        The matplotlib figure.
    """
    x = _as_1d(x, "x")
    if hasattr(ys, "detach"):
        ys = ys.detach().cpu().numpy()
    ys = np.asarray(ys, dtype=float)
    if ys.ndim == 3 and ys.shape[-1] == 1:
        ys = ys[..., 0]
    if ys.ndim != 2 or ys.shape[1] != x.shape[0]:
        raise ValueError(f"ys must have shape (K, {x.shape[0]}) (one row per curve), got {ys.shape}")
    if labels is not None and len(labels) != ys.shape[0]:
        raise ValueError(f"labels must have {ys.shape[0]} entries, got {len(labels)}")
    if colors is None:
        colors = plt.cm.viridis(np.linspace(0, 0.9, ys.shape[0]))
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for k, y in enumerate(ys):
        ax.plot(x, y, color=colors[k], lw=2, label=None if labels is None else labels[k])
    if labels is not None:
        ax.legend(fontsize="small")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if title:
        ax.set_title(title)
    return ax.figure


def plot_fits_after_each_task(data, fits, method: str = "", axes=None):
    """One panel per training stage: the fits of all tasks after learning task i.

    Args:
        data: one ``(x, y)`` training pair per task (see :func:`plot_regression_fits`).
        fits: ``fits[i][j]`` is the ``(x, y_pred)`` curve of task j after
            training task i, or ``None`` for j > i (not learned yet).
            ``len(fits)`` stages, each with ``len(data)`` entries.
        method: name shown in the panel titles, e.g. ``"fine-tuning"``.
        axes: a sequence of ``len(fits)`` axes to draw into (e.g. one row of
            a grid); a new 1 × stages figure when ``None``.

    Returns:
        The matplotlib figure.
    """
    if len(fits) == 0:
        raise ValueError("fits must hold at least one training stage, got none")
    if axes is None:
        fig, axes = plt.subplots(1, len(fits), figsize=(3.6 * len(fits), 3.0),
                                 sharex=True, sharey=True, squeeze=False)
        axes = axes[0]
    if len(axes) != len(fits):
        raise ValueError(f"axes must have one axes per stage ({len(fits)}), got {len(axes)}")
    for i, (ax, stage) in enumerate(zip(axes, fits)):
        prefix = f"{method}: " if method else ""
        plot_regression_fits(data, stage, ax=ax, title=f"{prefix}after task {i + 1}")
    return axes[0].figure


def plot_fit_grid(data, fits_by_method: Mapping[str, Sequence], figsize_per_panel=(3.3, 2.5)):
    """A grid of fits: one row per method, one column per training stage.

    Args:
        data: one ``(x, y)`` training pair per task.
        fits_by_method: ``{method name: fits}`` with ``fits`` as in
            :func:`plot_fits_after_each_task`; all methods need the same
            number of stages.

    Returns:
        The matplotlib figure.
    """
    if not fits_by_method:
        raise ValueError("fits_by_method must contain at least one method, got an empty mapping")
    stages = {name: len(fits) for name, fits in fits_by_method.items()}
    if len(set(stages.values())) != 1:
        raise ValueError(f"every method in fits_by_method needs the same number of stages, got {stages}")
    rows, cols = len(fits_by_method), next(iter(stages.values()))
    fig, axes = plt.subplots(rows, cols, squeeze=False, sharex=True, sharey=True,
                             figsize=(figsize_per_panel[0] * cols, figsize_per_panel[1] * rows))
    for r, (name, fits) in enumerate(fits_by_method.items()):
        plot_fits_after_each_task(data, fits, method=name, axes=axes[r])
    fig.tight_layout()
    return fig


def regression_data(benchmark, split: str = "train"):
    """``[(x, y), ...]`` of every task of a regression benchmark as 1-D NumPy arrays.

    x and y: (N,) each; ready for :func:`plot_regression_fits`.
    """
    if benchmark.kind != "regression":
        raise ValueError(f"benchmark must be a regression benchmark, got kind {benchmark.kind!r}")
    out = []
    for task in benchmark.tasks:
        x, y = task.tensors(split)
        out.append((x.reshape(-1).numpy(), y.reshape(-1).numpy()))
    return out


class FitRecorder:
    """Training callback: each task's fitted curve at the end of every task.

    Pass it (or call it from your own callback) as ``callback`` of
    ``continual.training.train_continual`` on a regression benchmark. After training,
    ``fits[i][j]`` is the ``(x, y_pred)`` curve (NumPy, (M,) each) of task j
    after training task i, ``None`` for j > i -- the input of
    :func:`plot_fits_after_each_task`.

    How task j is predicted depends on the method: with a hypernetwork, the
    target runs with the weights generated from embedding j; fine-tuning,
    multitask, EWC and SI have one network for all tasks; "scratch" keeps
    one frozen network per task, so its curve is recorded once, right after
    the task was learned.

    Args:
        benchmark: the regression benchmark being trained (``task.domain``
            gives each task's input interval).
        num_points: points per curve.
    """

    def __init__(self, benchmark, num_points: int = 100):
        if benchmark.kind != "regression":
            raise ValueError(f"benchmark must be a regression benchmark, got kind {benchmark.kind!r}")
        if not isinstance(num_points, int) or num_points < 2:
            raise ValueError(f"num_points must be an integer >= 2, got {num_points!r}")
        self.x_grids = [torch.linspace(*task.domain, num_points).unsqueeze(1) for task in benchmark.tasks]
        self.fits: list[list[tuple[np.ndarray, np.ndarray] | None]] = []

    @torch.no_grad()
    def predict(self, state, task: int) -> np.ndarray:
        """The current model's prediction for ``task`` on its x grid: (M,)."""
        target = state.target
        x = self.x_grids[task].to(next(target.parameters()).device)
        if state.hnet is not None:
            y = forward_with_weights(target, state.hnet(task_id=task), x)
        else:
            y = target(x)
        return y.reshape(-1).cpu().numpy()

    def __call__(self, state) -> None:
        """Record the curves of every learned task at ``"task_end"``; ignore other events."""
        if state.event != "task_end":
            return
        num_tasks = len(self.x_grids)
        previous = self.fits[-1] if self.fits else [None] * num_tasks
        stage = []
        for j in range(num_tasks):
            if j > state.task:
                stage.append(None)
            elif state.config.method == "scratch" and j < state.task:
                stage.append(previous[j])  # its own network is frozen since task j
            else:
                stage.append((self.x_grids[j].reshape(-1).numpy(), self.predict(state, j)))
        self.fits.append(stage)


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def metric_table(final: Mapping[str, Sequence[float]], metric: str = "MSE",
                 task_names: Sequence[str] | None = None) -> pd.DataFrame:
    """A methods × tasks table of a final metric with a ``mean`` column.

    Args:
        final: ``{method name: [metric on task 1, task 2, ...]}``, every list
            the same length (e.g. ``ContinualResult.final``).
        metric: name of the metric, used in the column header of the mean.
        task_names: column names; ``"task 1", "task 2", ...`` by default.

    Returns:
        A ``pandas.DataFrame`` with one row per method.
    """
    if not final:
        raise ValueError("final must contain at least one method, got an empty mapping")
    lengths = {name: len(values) for name, values in final.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"every method in final needs the same number of tasks, got {lengths}")
    num_tasks = next(iter(lengths.values()))
    if task_names is None:
        task_names = [f"task {t + 1}" for t in range(num_tasks)]
    if len(task_names) != num_tasks:
        raise ValueError(f"task_names must have {num_tasks} entries, got {len(task_names)}")
    values = np.array([[float(v) for v in vals] for vals in final.values()])
    table = pd.DataFrame(values, index=list(final.keys()), columns=list(task_names))
    table[f"mean {metric}"] = values.mean(axis=1)
    table.index.name = "method"
    return table


def parameter_table(target, hnets: Mapping[str, HyperNetwork]) -> pd.DataFrame:
    """Parameter counts and compression ratio of hypernetworks for one target.

    Args:
        target: the target network (or its number of weights, an int).
        hnets: ``{name: hypernetwork}``; each must generate that many weights.

    Returns:
        A ``pandas.DataFrame`` with one row per hypernetwork: chunk size and
        number of chunks, trainable parameters split into layers, chunk
        embeddings and task embeddings, their total, the number of target
        weights generated and the compression ratio (total / target weights).
    """
    if not hnets:
        raise ValueError("hnets must contain at least one hypernetwork, got an empty mapping")
    n = target if isinstance(target, int) else num_params(target)
    rows = {}
    for name, h in hnets.items():
        counts = count_parameters(h)
        rows[name] = {
            "chunk size": h.chunk_size, "chunks": h.num_chunks,
            "layers": counts["layers"], "chunk embeddings": counts["chunk_embeddings"],
            "task embeddings": counts["task_embeddings"], "trainable total": counts["total"],
            "target weights": n, "compression ratio": round(compression_ratio(h, n), 4),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "hypernetwork"
    return table


def plot_compression_curve(chunk_sizes, ratios, ax=None, current: int | None = None,
                           title: str = ""):
    """Compression ratio against chunk size (log x axis), the ratio-1 line dashed.

    Args:
        chunk_sizes: (K,) chunk sizes.
        ratios: (K,) compression ratio for each.
        ax: axes to draw into; new figure when ``None``.
        current: a chunk size to mark (e.g. a slider's value); it is marked
            at the ratio interpolated between the given points.
        title: axes title.

    Returns:
        The matplotlib figure.
    """
    sizes, ratios = _as_1d(chunk_sizes, "chunk_sizes"), _as_1d(ratios, "ratios")
    if sizes.shape != ratios.shape or sizes.size == 0:
        raise ValueError(f"chunk_sizes and ratios must be non-empty and equally long, "
                         f"got {sizes.shape} and {ratios.shape}")
    if (sizes <= 0).any():
        raise ValueError("chunk_sizes must all be > 0 (log axis)")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    ax.plot(sizes, ratios, marker=".", color="C0")
    ax.axhline(1.0, color="grey", ls="--", lw=1)
    if current is not None:
        order = np.argsort(sizes)
        y = np.interp(current, sizes[order], ratios[order])
        ax.scatter([current], [y], color="C3", zorder=3, s=50, label=f"chunk size {current:,}")
        ax.legend(loc="upper center")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunk size")
    ax.set_ylabel("compression ratio")
    if title:
        ax.set_title(title)
    return ax.figure


def plot_metric_matrix(matrix, ax=None, title: str = "", metric: str = "MSE",
                       log: bool = True, vmin: float | None = None, vmax: float | None = None):
    """Heatmap of ``R[i][j]``: the metric on task j after training task i.

    Entries above the diagonal (tasks not trained yet) may be ``NaN``/``None``
    and are left blank.

    Args:
        matrix: (T, T) nested list or array.
        ax: axes to draw into; new figure when ``None``.
        title: axes title.
        metric: colour-bar label.
        log: colour on a log scale (sensible for MSE, which spans decades).
        vmin, vmax: colour limits (e.g. shared by several matrices); by
            default the range of the matrix.

    Returns:
        The matplotlib figure.
    """
    arr = np.array([[np.nan if v is None else float(v) for v in row] for row in matrix])
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"matrix must be square (T, T), got shape {arr.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.0))
    finite = arr[np.isfinite(arr)]
    lo = vmin if vmin is not None else (float(finite.min()) if finite.size else None)
    hi = vmax if vmax is not None else (float(finite.max()) if finite.size else None)
    if lo is not None and hi is not None and not lo < hi:
        hi = lo * 10 if log else lo + 1
    norm = None
    if log and lo is not None and lo > 0 and (finite > 0).all():
        norm = LogNorm(vmin=lo, vmax=hi)
    elif lo is not None:
        norm = plt.Normalize(vmin=lo, vmax=hi)
    labels = [str(t + 1) for t in range(arr.shape[0])]
    sns.heatmap(arr, ax=ax, annot=True, fmt=".2g", cmap="viridis_r", norm=norm,
                mask=~np.isfinite(arr), xticklabels=labels, yticklabels=labels,
                cbar_kws={"label": metric})
    ax.set_xlabel("evaluated on task")
    ax.set_ylabel("after training task")
    if title:
        ax.set_title(title)
    return ax.figure


# ---------------------------------------------------------------------------
# Task-embedding space
# ---------------------------------------------------------------------------


class EmbeddingHeatmapFigure:
    """Per task, a heatmap of its metric over the 2-D task-embedding plane.

    The figure is built once and then updated in place by :meth:`update`
    (new image data, markers and trajectory lines), which keeps a live
    refresh cheap. It is a plain ``matplotlib.figure.Figure``, not managed
    by pyplot, so a notebook does not show it unless asked to.

    Args:
        num_tasks: number of panels (one per task).
        metric: colour-bar label.
        log: log colour scale (MSE spans several decades).
        vmin, vmax: colour limits, fixed for all updates so refreshes are
            comparable; must satisfy ``0 < vmin < vmax`` on a log scale.
        titles: one title per panel, ``"task t"`` by default.
        panel_size: (width, height) in inches of one panel.
        cmap: colour map; the default ``"magma_r"`` draws low values light
            (good for an error such as MSE); use ``"magma"`` for accuracy so
            that good is light there too.
        columns: panels per row at most; more tasks wrap to further rows, so
            that the figure fits a notebook (:data:`DISPLAY_WIDTH_PX`) unshrunk.
    """

    def __init__(self, num_tasks: int, metric: str = "MSE", log: bool = True,
                 vmin: float = 1e-3, vmax: float = 1e2, titles: Sequence[str] | None = None,
                 panel_size: tuple[float, float] = (2.5, 2.4), cmap: str = "magma_r",
                 columns: int = 3):
        if not isinstance(num_tasks, int) or num_tasks < 1:
            raise ValueError(f"num_tasks must be a positive integer, got {num_tasks!r}")
        if not vmin < vmax or (log and vmin <= 0):
            raise ValueError(f"need vmin < vmax (and vmin > 0 with log=True), got vmin={vmin}, vmax={vmax}")
        if not isinstance(columns, int) or columns < 1:
            raise ValueError(f"columns must be a positive integer, got {columns!r}")
        if titles is None:
            titles = [f"task {t + 1}" for t in range(num_tasks)]
        if len(titles) != num_tasks:
            raise ValueError(f"titles must have {num_tasks} entries, got {len(titles)}")
        self.num_tasks = num_tasks
        norm = LogNorm(vmin=vmin, vmax=vmax) if log else plt.Normalize(vmin=vmin, vmax=vmax)
        # at most ``columns`` panels per row: five panels in one row would be shrunk to
        # unreadable labels in a notebook (DISPLAY_WIDTH_PX)
        cols = min(num_tasks, columns)
        rows = math.ceil(num_tasks / cols)
        width, height = panel_size[0] * cols + 1.4, panel_size[1] * rows + 0.3
        self.fig = Figure(figsize=(width, height))
        # A fixed layout (no tight/constrained layout): redrawing stays cheap.
        bottom, top = 0.55 / height, 1 - 0.4 / height
        self.fig.subplots_adjust(left=0.75 / width, right=1 - 1.25 / width, bottom=bottom, top=top,
                                 wspace=0.3, hspace=0.45)
        grid = self.fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in grid[num_tasks:]:
            ax.remove()
        self.axes = grid[:num_tasks]
        self.images, self.lines, self.others, self.owns = [], [], [], []
        for t, ax in enumerate(self.axes):
            self.images.append(ax.imshow(np.full((2, 2), np.nan), origin="lower", extent=(0, 1, 0, 1),
                                         aspect="auto", cmap=cmap, norm=norm,
                                         interpolation="nearest"))
            self.lines.append([ax.plot([], [], color=task_color(k), lw=1.2)[0]
                               for k in range(num_tasks)])
            self.others.append(ax.scatter([], [], marker="o", s=45, edgecolors="white",
                                          linewidths=1.0, zorder=3))
            self.owns.append(ax.scatter([], [], marker="*", s=170, color=task_color(t),
                                        edgecolors="white", linewidths=1.0, zorder=4))
            ax.set_title(titles[t])
            ax.set_xlabel("e₁")
            if t % cols == 0:
                ax.set_ylabel("e₂")
        cax = self.fig.add_axes((1 - 1.05 / width, bottom, 0.15 / width, top - bottom))
        cbar = self.fig.colorbar(self.images[0], cax=cax, label=metric)
        if log:
            cbar.ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))

    def update(self, xs, ys, grids, embeddings, trajectories=None) -> Figure:
        """Show new data; returns the figure.

        Args:
            xs: (R,) grid coordinates along the first embedding dimension.
            ys: (S,) grid coordinates along the second embedding dimension.
            grids: (T, S, R) array: ``grids[t, i, j]`` is task t's metric when
                the hypernetwork is fed the embedding ``(xs[j], ys[i])``.
            embeddings: (K, 2) current embeddings of the K ≤ T tasks learned
                so far; all are marked on every panel, task t's own as a star.
            trajectories: optional list of at most K arrays (L_k, 2), the path
                each embedding took during training, drawn as lines.
        """
        xs, ys = _as_1d(xs, "xs"), _as_1d(ys, "ys")
        grids = _as_array(grids, "grids", 3)
        if grids.shape != (self.num_tasks, len(ys), len(xs)):
            raise ValueError(f"grids must have shape (T, len(ys), len(xs)) = "
                             f"({self.num_tasks}, {len(ys)}, {len(xs)}), got {grids.shape}")
        embeddings = np.asarray(embeddings, dtype=float).reshape(-1, 2) if len(embeddings) \
            else np.zeros((0, 2))
        if np.asarray(embeddings).shape[1:] != (2,) or len(embeddings) > self.num_tasks:
            raise ValueError(f"embeddings must have shape (K, 2) with K <= {self.num_tasks}, "
                             f"got {np.asarray(embeddings).shape}")
        trajectories = [] if trajectories is None else list(trajectories)
        if len(trajectories) > len(embeddings):
            raise ValueError(f"trajectories must have at most one path per embedding "
                             f"({len(embeddings)}), got {len(trajectories)}")
        paths = [_as_array(p, f"trajectories[{k}]", 2) for k, p in enumerate(trajectories)]
        extent = (xs[0], xs[-1], ys[0], ys[-1])
        colors = [task_color(k) for k in range(len(embeddings))]
        for t, ax in enumerate(self.axes):
            self.images[t].set_data(grids[t])
            self.images[t].set_extent(extent)
            for k, line in enumerate(self.lines[t]):
                path = paths[k] if k < len(paths) else np.zeros((0, 2))
                line.set_data(path[:, 0], path[:, 1])
            others = [k for k in range(len(embeddings)) if k != t]
            self.others[t].set_offsets(embeddings[others] if others else np.zeros((0, 2)))
            self.others[t].set_facecolors([colors[k] for k in others])
            self.owns[t].set_offsets(embeddings[t:t + 1] if t < len(embeddings) else np.zeros((0, 2)))
            ax.set_xlim(xs[0], xs[-1])
            ax.set_ylim(ys[0], ys[-1])
        return self.fig


def plot_embedding_heatmaps(xs, ys, grids, embeddings, trajectories=None,
                            titles: Sequence[str] | None = None, metric: str = "MSE",
                            log: bool = True, vmin: float | None = None,
                            vmax: float | None = None, cmap: str = "magma_r") -> Figure:
    """One-off version of :class:`EmbeddingHeatmapFigure`: build it and show one state.

    Arguments as for :class:`EmbeddingHeatmapFigure` and its
    :meth:`~EmbeddingHeatmapFigure.update`; ``vmin``/``vmax`` default to the
    range of ``grids``. Returns the (non-pyplot) figure, which
    a notebook shows with ``display(fig)``.
    """
    grids = _as_array(grids, "grids", 3)
    finite = grids[np.isfinite(grids)]
    if log:
        finite = finite[finite > 0]
    lo = vmin if vmin is not None else (float(finite.min()) if finite.size else 1e-3)
    hi = vmax if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    if hi <= lo:
        hi = lo * 10 if log else lo + 1
    view = EmbeddingHeatmapFigure(grids.shape[0], metric=metric, log=log, vmin=lo, vmax=hi,
                                  titles=titles, cmap=cmap)
    return view.update(xs, ys, grids, embeddings, trajectories)


# ---------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------


def png_width(png: bytes) -> int:
    """Width in pixels of PNG bytes (from the IHDR header)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not PNG bytes")
    return int.from_bytes(png[16:20], "big")


def figure_to_png(fig, dpi: int = DISPLAY_DPI, close: bool = True, tight: bool = True) -> bytes:
    """Render ``fig`` to PNG bytes (e.g. for an ``ipywidgets.Image``).

    Show the PNG at its own width (``png_width``; a stretched image is blurry
    and its fonts oversized).

    Args:
        fig: a matplotlib figure.
        dpi: resolution; the default :data:`DISPLAY_DPI` shows fonts at their size.
        close: close the figure afterwards so pyplot does not keep it alive
            (and a notebook does not draw it a second time).
        tight: crop to the drawn content (costs one extra draw; a figure with
            ``layout="constrained"`` does not need it).
    """
    if dpi <= 0:
        raise ValueError(f"dpi must be a positive integer, got {dpi}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    if close:
        plt.close(fig)
    return buffer.getvalue()


# ---------------------------------------------------------------------------
# Studies of continual learning on image benchmarks (accuracy matrices, sweeps, task inference)
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


def plot_mosaic_examples(benchmark, task: int = 0, num_images: int = 6, seed: int = 0):
    """A task's first training images (top row) and mosaics made of them (bottom row).

    The mosaics are what ``outlier_weight`` > 0 asks the task's weights to be
    unsure about (``hnet_utils.outliers``). Returns the figure.
    """
    if num_images < 2:
        raise ValueError(f"num_images must be >= 2 (a mosaic mixes several images), got {num_images}")
    x, _ = benchmark.tasks[task].batch("train", torch.arange(num_images))
    shape = image_shape(tuple(benchmark.input_shape))
    with torch.random.fork_rng():  # leave the caller's random state alone
        torch.manual_seed(seed)
        rows = {"images": x, "mosaics": mosaic(x, shape)}
    fig, axes = plt.subplots(2, num_images, figsize=(1.2 * num_images, 2.7), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for i in range(num_images):
            axes[r][i].imshow(images[i].reshape(shape[1], shape[2]).numpy(), cmap="gray_r")
            axes[r][i].set_xticks([]), axes[r][i].set_yticks([])
        axes[r][0].set_ylabel(name)
    fig.suptitle(f"task {task + 1}: training images and mosaics of them", fontsize=9)
    fig.tight_layout()
    return fig


def plot_dreams(samples_per_stage, title: str = "", image_px: int = 48, columns: int = 2,
                image_shape: tuple[int, int] | None = None):
    """What a generator dreams after each task: one panel per stage (after task 1, 2, ...),
    in it one row of samples per task learned so far.

    Every sample is shown ``image_px`` pixels wide (at :data:`DISPLAY_DPI`, where the figure
    is shown at its own size): the panels wrap to ``columns`` per row (fewer if they would
    not fit :data:`DISPLAY_WIDTH_PX`).

    Args:
        samples_per_stage: per stage k, a (k + 1, n, D) tensor or array of samples in [0, 1]
            (e.g. ``generator.sample(tasks, n, z)``); D = H * W.
        title: a title over all panels.
        image_px: displayed width (and height) of one sample.
        columns: panels per row at most.
        image_shape: (H, W) of a sample; square by default.

    Returns:
        The figure.
    """
    from hnet_utils.networks.vae import image_grid

    if len(samples_per_stage) == 0:
        raise ValueError("samples_per_stage must hold at least one stage, got none")
    stages = [torch.as_tensor(s.detach().cpu() if hasattr(s, "detach") else np.asarray(s),
                              dtype=torch.float32) for s in samples_per_stage]
    if any(s.ndim != 3 for s in stages):
        raise ValueError(f"every stage must be (tasks, n, D), got shapes {[tuple(s.shape) for s in stages]}")
    n = stages[0].shape[1]
    side = image_shape[0] if image_shape else math.isqrt(stages[0].shape[2])
    K = len(stages)
    dpi = DISPLAY_DPI
    label_w, gap, title_h, panel_title_h = 0.5, 0.15, 0.35 if title else 0.0, 0.3
    panel_w = n * image_px / dpi
    cols = max(1, min(columns, K))
    while cols > 1 and cols * (label_w + panel_w) + (cols - 1) * gap + 0.1 > DISPLAY_WIDTH_PX / dpi:
        cols -= 1
    grid_rows = [stages[i:i + cols] for i in range(0, K, cols)]
    heights = [max(s.shape[0] for s in row) * image_px / dpi for row in grid_rows]
    fig_w = cols * (label_w + panel_w) + (cols - 1) * gap + 0.1
    fig_h = title_h + sum(panel_title_h + h for h in heights) + 0.15 * len(heights)
    fig = plt.figure(figsize=(fig_w, fig_h))
    top = fig_h - title_h
    for r, row in enumerate(grid_rows):
        top -= panel_title_h
        for c, samples in enumerate(row):
            k = r * cols + c
            h = samples.shape[0] * image_px / dpi
            x0 = c * (label_w + panel_w + gap) + label_w
            ax = fig.add_axes((x0 / fig_w, (top - h) / fig_h, panel_w / fig_w, h / fig_h))
            ax.imshow(image_grid(samples, image_shape).numpy(), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest", aspect="auto")
            ax.set_title(f"after task {k + 1}", fontsize=9, pad=3)
            ax.set_yticks([side / 2 - 0.5 + side * t for t in range(samples.shape[0])],
                          [f"task {t + 1}" for t in range(samples.shape[0])], fontsize=8)
            ax.tick_params(axis="y", length=0, pad=3)
            ax.set_xticks([])
        top -= heights[r] + 0.15
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / fig_h, va="top")
    return fig


#: Inches per matrix cell: the numbers inside (up to "100") at 8-9 pt fit their cell.
MATRIX_CELL_IN = {5: 0.42, 10: 0.3}


def plot_accuracy_matrices(results: Mapping[str, ContinualResult], size: float | None = None,
                           columns: int | None = None, title: str = ""):
    """One accuracy-matrix heatmap (seaborn) per method, beside one shared colour bar.

    Cell (i, j): test accuracy (%) on task j after training task i; blank
    above the diagonal (tasks not learned yet). The title gives the average
    final accuracy.

    The figure fits a notebook's output area (:data:`DISPLAY_WIDTH_PX` at
    :data:`DISPLAY_DPI`) without being shrunk, so the numbers in the cells
    stay >= 8 pt: the panels wrap to further rows (``columns`` per row, by
    default as many as fit).

    Args:
        results: ``{method label: result}``.
        size: side of one matrix in inches (default: from the number of tasks).
        columns: panels per row (default: as many as fit the width).
        title: a title over all panels (e.g. the benchmark and scenario).
    """
    import seaborn as sns

    if not results:
        raise ValueError("results must contain at least one method, got an empty mapping")
    arrays = {label: np.array([[np.nan if v is None else float(v) for v in row] for row in r.matrix])
              for label, r in results.items()}
    num_tasks = max(len(a) for a in arrays.values())
    annotate = num_tasks <= 10
    cell = MATRIX_CELL_IN[5] if num_tasks <= 5 else MATRIX_CELL_IN[10]
    side = float(size) if size is not None else min(max(1.7, cell * num_tasks), 3.6)
    annot_pt = 9 if side / num_tasks >= 0.4 else 8
    width_in = DISPLAY_WIDTH_PX / DISPLAY_DPI
    # one panel: the matrix, its tick labels and the gap to the next (0.55 in); besides, the y
    # label of the first column and the colour bar right of the last (0.95 in together)
    fit = max(1, int((width_in - 0.95) // (side + 0.55)))
    cols = min(len(results), columns or fit)
    rows = math.ceil(len(results) / cols)
    fig_w = min(cols * (side + 0.55) + 0.95, width_in)
    fig_h = rows * (side + 1.05) + (0.35 if title else 0)
    fig, axes = plt.subplots(rows, cols, figsize=(fig_w, fig_h), squeeze=False)
    for ax in axes.ravel()[len(results):]:
        ax.remove()
    ticks = [str(t + 1) for t in range(num_tasks)]
    step = max(1, math.ceil(num_tasks / 10))
    mesh = None
    for k, (ax, (label, result)) in enumerate(zip(axes.ravel(), results.items())):
        arr = arrays[label]
        shown = [t if i % step == 0 else "" for i, t in enumerate(ticks[:len(arr)])]
        sns.heatmap(arr, ax=ax, vmin=0, vmax=100, cmap="viridis", mask=np.isnan(arr),
                    annot=annotate, fmt=".0f", annot_kws={"fontsize": annot_pt}, cbar=False,
                    xticklabels=shown, yticklabels=shown, square=True)
        mesh = ax.collections[0] if k == 0 else mesh
        ax.tick_params(axis="both", labelrotation=0, labelsize=9, length=2, pad=2)
        ax.set_title(f"{label}: mean final {result.average_final:.1f}%", fontsize=9)
        ax.set_xlabel("evaluated on task", fontsize=9, labelpad=2)
        ax.set_ylabel("after training task" if k % cols == 0 else "", fontsize=9)
    # one colour bar for all panels (every matrix uses 0..100 %), right of the first row; an
    # inset of that row's last panel, so ``fig.axes`` stays one axes per method
    last = axes[0, cols - 1]
    cax = last.inset_axes((1.06, 0.0, 0.07, 1.0))
    cbar = fig.colorbar(mesh, cax=cax)
    cbar.set_label("test accuracy (%)", fontsize=9)
    cbar.ax.tick_params(labelsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


#: Markers that tell groups of points apart together with their colour (one per group).
GROUP_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def plot_compression(rows: Sequence[Mapping[str, Any]], ax=None, label_key: str | None = None):
    """Average final accuracy against compression ratio (log x axis, line at ratio 1).

    Without ``label_key`` every point is labelled with its number of hypernetwork
    parameters (a sweep of a few sizes, as in notebook 02). With ``label_key``
    the rows are grouped by ``row[label_key]`` (e.g. the benchmark): one colour
    and marker per group, named in a legend beside the axes, and no text at the
    points -- many runs at the same ratio (seeds) would pile their labels up.
    """
    if not rows:
        raise ValueError("rows must contain at least one run, got none")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    ratios = [r["ratio"] for r in rows]
    accs = [r["average_final"] for r in rows]
    if label_key:
        groups = list(dict.fromkeys(str(r.get(label_key, "")) for r in rows))
        for k, group in enumerate(groups):
            mine = [r for r in rows if str(r.get(label_key, "")) == group]
            ax.plot([r["ratio"] for r in mine], [r["average_final"] for r in mine],
                    GROUP_MARKERS[k % len(GROUP_MARKERS)], ls="none", ms=6, alpha=0.85,
                    color=task_color(k), mec="white", mew=0.5, label=f"{group} ({len(mine)})")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False,
                  title=f"{label_key} (runs)", title_fontsize=8, borderaxespad=0)
    else:
        ax.plot(ratios, accs, "o", color=task_color(0))
    ax.axvline(1.0, color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    # room for the point labels inside the axes: 0.35 decades each side (log axis), 25 % above;
    # without labels a little room, so that nearby ratios stay apart
    low, high = min(min(ratios), 1.0), max(max(ratios), 1.0)
    margin = 0.1 if label_key else 0.35
    ax.set_xlim(low / 10 ** margin, high * 10 ** margin)
    bottom, top = min(accs), max(accs)
    pad = max(top - bottom, 1.0)
    ax.set_ylim(bottom - 0.15 * pad, top + (0.1 if label_key else 0.25) * pad)
    # a few plain major labels (every digit on a short range, else 1, 2, 5); minor ticks
    # without labels (they overlap on a short log axis)
    decades = math.log10(high / low) + 2 * margin
    subs = tuple(range(1, 10)) if decades < 0.6 else (1.0, 2.0, 5.0)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    middle = math.sqrt(ax.get_xlim()[0] * ax.get_xlim()[1])
    for r in rows if not label_key else ():
        right_half = r["ratio"] > middle  # label towards the middle, so it stays inside
        ax.annotate(f"{r['hnet_params']:,}", (r["ratio"], r["average_final"]), fontsize=8,
                    xytext=(-5 if right_half else 5, 4), textcoords="offset points",
                    ha="right" if right_half else "left")
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


def plot_metric_trace(trace, metric: str = "MSE", ax=None, title: str = "", log: bool | None = None):
    """Each task's test metric over the training steps of the whole run, from a
    :class:`~hnet_utils.continual.trace.MetricTrace`; dotted lines mark where a task begins.
    ``log`` (default: for an MSE) draws the values on a log scale."""
    if not trace.records:
        raise ValueError("trace has no records: pass it as callback of train_continual first")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    for task in range(len(trace.task_starts)):
        steps, values = trace.series(task)
        ax.plot(steps, values, lw=1, color=task_color(task), label=f"task {task + 1}")
    for start in trace.task_starts[1:]:
        ax.axvline(start, color="0.5", ls=":", lw=1)
    if log if log is not None else metric.lower() == "mse":
        ax.set_yscale("log")
    ax.set_xlabel("training step (all tasks)")
    ax.set_ylabel(f"test {metric}")
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    return ax.figure


def plot_average_seen(results: Mapping[str, ContinualResult], ax=None, title: str = ""):
    """Average accuracy over the tasks learned so far against the number of tasks learned
    (``metrics.average_seen``), one line per run: ``{label: ContinualResult}``."""
    if not results:
        raise ValueError("results must hold at least one run")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    lowest = 100.0
    for i, (label, r) in enumerate(results.items()):
        curve = average_seen(r.matrix)
        ax.plot(np.arange(1, len(curve) + 1), curve, "-", color=task_color(i), label=label)
        lowest = min(lowest, min(curve))
    ax.set_ylim(max(0.0, lowest - 10), 100)
    ax.set_xlabel("tasks learned")
    ax.set_ylabel("average accuracy on them (%)")
    ax.legend(loc="lower left", fontsize=8)
    if title:
        ax.set_title(title)
    return ax.figure


def plot_during_final_bars(results: Mapping[str, ContinualResult], title: str = "", size=(8.8, 3.4)):
    """One panel per method: per task, accuracy right after learning it ("during", light bar)
    and after the last task ("final", dark bar), as in the paper's Split CIFAR figure.

    ``results``: ``{method label: ContinualResult}`` of runs on the same tasks.
    """
    if not results:
        raise ValueError("results must hold at least one run")
    counts = {len(r.final) for r in results.values()}
    if len(counts) != 1:
        raise ValueError(f"all runs must have learned the same number of tasks, got {sorted(counts)}")
    # constrained layout keeps the legend below the panels, off the bars (tight_layout ignores
    # a figure legend)
    fig, axes = plt.subplots(1, len(results), figsize=size, sharey=True, squeeze=False,
                             layout="constrained")
    for ax, (label, r) in zip(axes[0], results.items()):
        tasks = np.arange(1, len(r.final) + 1)
        ax.bar(tasks - 0.2, r.during, 0.4, color=task_color(0), alpha=0.45,
               label="during: right after learning the task")
        ax.bar(tasks + 0.2, r.final, 0.4, color=task_color(0), label="final: after the last task")
        ax.set_title(label, fontsize=10)
        ax.set_xticks(tasks)
        ax.set_xlabel("task")
        ax.set_ylim(0, 100)
    axes[0, 0].set_ylabel("test accuracy (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_embedding_predictions(image: np.ndarray, probabilities: np.ndarray,
                               class_names: Sequence[Sequence[str]], true_task: int,
                               true_name: str, title: str = ""):
    """An image and what the network of every task embedding predicts for it.

    Args:
        image: (H, W, 3) values in [0, 1], as shown.
        probabilities: (T, C) class probabilities under embedding 0..T-1.
        class_names: per task, the name of each of its C labels.
        true_task: the task the image belongs to (its bar is outlined).
        true_name: the image's class; a bar is green where the prediction names it.
    """
    probabilities = _as_array(probabilities, "probabilities", 2)
    T = probabilities.shape[0]
    if len(class_names) < T:
        raise ValueError(f"class_names must name the labels of {T} tasks, got {len(class_names)}")
    fig, (ax_img, ax) = plt.subplots(1, 2, figsize=(8.4, 0.45 * T + 1.6),
                                     gridspec_kw={"width_ratios": [1, 2.6]})
    ax_img.imshow(np.clip(image, 0, 1), interpolation="nearest")
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    ax_img.set_title(f"a test image of task {true_task + 1}\nclass: {true_name}", fontsize=9)
    best = probabilities.argmax(1)
    names = [class_names[t][best[t]] for t in range(T)]
    colors = ["#2a9d8f" if name == true_name else "#b0b0b0" for name in names]
    rows = np.arange(T)
    bars = ax.barh(rows, probabilities.max(1), color=colors)
    bars[true_task].set_edgecolor("black")
    bars[true_task].set_linewidth(2)
    for t in range(T):
        ax.text(0.01, t, f"{names[t]}  {100 * probabilities[t, best[t]]:.0f} %", va="center", fontsize=9)
    ax.set_yticks(rows, [f"embedding of task {t + 1}" for t in range(T)], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of the predicted class")
    ax.set_title(title or "each task's network: its most likely class (green: right)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_beta_tradeoff(rows: Sequence[Mapping[str, Any]], beta: float, fig=None):
    """Left: per-task accuracy for one β (during vs final). Right: averages against β."""
    chosen = [r for r in rows if math.isclose(r["beta"], beta, rel_tol=1e-9, abs_tol=1e-12)]
    if not chosen:
        raise ValueError(f"beta must be one of the swept values {[r['beta'] for r in rows]}, got {beta!r}")
    row = chosen[0]
    if fig is None:
        fig = plt.figure(figsize=(9, 3.6))
    fig.clear()
    left, right = fig.subplots(1, 2)
    tasks = np.arange(1, len(row["final"]) + 1)
    left.bar(tasks - 0.2, row["during"], width=0.4, color=task_color(0), label="right after learning")
    left.bar(tasks + 0.2, row["final"], width=0.4, color=task_color(1), label="after the last task")
    left.set_ylim(min(50, min(row["final"]) - 5), 100)
    left.set_xticks(tasks)  # whole tasks only
    left.set_xlabel("task")
    left.set_ylabel("test accuracy (%)")
    left.set_title(f"β = {beta:g}")
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8)
    # every swept β, β = 0 included, at evenly spaced positions (a log axis has no 0)
    ordered = sorted(rows, key=lambda r: r["beta"])
    xs = np.arange(len(ordered))
    right.plot(xs, [r["average_during"] for r in ordered], "o-", color=task_color(0),
               label="plasticity: mean right after")
    right.plot(xs, [r["average_final"] for r in ordered], "s-", color=task_color(1),
               label="stability: mean final")
    right.axvline(next(i for i, r in enumerate(ordered) if r is row), color="grey", ls=":", lw=1)
    right.set_xticks(xs, [f"{r['beta']:g}" for r in ordered])
    right.set_xlabel("β (swept values)")
    right.set_ylabel("mean accuracy (%)")
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8)
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
# Embedding-space probe: the network that lives at one point of the plane
# ---------------------------------------------------------------------------


class EmbeddingProbeFigure:
    """The task-embedding plane with a probe point, and the network generated there.

    What it shows, before anything is computed: the top row has one heatmap
    per task (its metric over the plane, as in :class:`EmbeddingHeatmapFigure`),
    the learned embeddings (★ the panel's own task, ● the others), an
    optional path (white line) and the probe point (cyan ✚). Each panel's
    title gives the task's metric *at the probe*. The bottom row shows what
    the network made at the probe does:

    * ``kind="regression"``: its function over the inputs of all tasks,
      drawn over every task's test data;
    * ``kind="classification"``: each task's accuracy as bars, and a few test
      digits of every task with the label the network predicts (green: right,
      red: wrong);

    and, when a path is set, every task's metric along the path with the
    current step marked.

    Built once; :meth:`update` only changes data of existing artists.
    :meth:`to_png` renders it: the static part (heatmaps, axes, data, path)
    is drawn once and cached, and each probe update redraws only what moved
    (probe marker, titles, function or bars and labels, step marker) onto
    that cache, which keeps an update far below the cost of a full render.
    ``figure_to_png(fig, close=False, tight=False)`` gives the same picture
    with a full render.

    Args:
        num_tasks: number of tasks (heatmap panels).
        kind: ``"regression"`` or ``"classification"``.
        metric: name of the metric for labels (``"MSE"`` or ``"accuracy"``).
        log, vmin, vmax, cmap: colour scale of the heatmaps (as for
            :class:`EmbeddingHeatmapFigure`).
        digits_per_task: test images shown per task (classification).
        panel_size: (width, height) in inches of one heatmap panel; panels
            get narrower when ``num_tasks`` of them would make the figure wider
            than ``max_width`` inches (so it is shown at 100 % in a notebook,
            where fonts stay >= 8 pt).
        axis_labels: names of the plane's two axes (e.g. ``("plane x",
            "plane y")`` for a plane in a larger embedding space).
    """

    def __init__(self, num_tasks: int, kind: str = "regression", metric: str = "MSE",
                 log: bool = True, vmin: float = 1e-3, vmax: float = 1e2, cmap: str = "magma_r",
                 digits_per_task: int = 2, panel_size: tuple[float, float] = (2.5, 2.3),
                 max_width: float = DISPLAY_WIDTH_PX / DISPLAY_DPI,
                 axis_labels: tuple[str, str] = ("e₁", "e₂")):
        if not isinstance(num_tasks, int) or num_tasks < 1:
            raise ValueError(f"num_tasks must be a positive integer, got {num_tasks!r}")
        if kind not in ("regression", "classification"):
            raise ValueError(f"kind must be 'regression' or 'classification', got {kind!r}")
        if not vmin < vmax or (log and vmin <= 0):
            raise ValueError(f"need vmin < vmax (and vmin > 0 with log=True), got vmin={vmin}, vmax={vmax}")
        self.num_tasks, self.kind, self.metric, self.log = num_tasks, kind, metric, log
        self.digits_per_task = digits_per_task
        width = min(max(panel_size[0] * num_tasks, 7.8) + 1.2, max_width)
        height = panel_size[1] + 2.9
        self.fig = Figure(figsize=(width, height))
        top = 1 - 0.35 / height
        split = 1 - (0.35 + panel_size[1]) / height
        norm = LogNorm(vmin=vmin, vmax=vmax) if log else plt.Normalize(vmin=vmin, vmax=vmax)
        # --- top row: heatmaps with the probe
        # room between the panels for the tick labels at their edges ("3" | "−3")
        gs_top = self.fig.add_gridspec(1, num_tasks, left=0.6 / width, right=1 - 1.0 / width,
                                       top=top, bottom=split + 0.35 / height, wspace=0.3)
        self.map_axes, self.images, self.paths, self.probes, self.owns, self.others = [], [], [], [], [], []
        self.map_titles = []
        for t in range(num_tasks):
            ax = self.fig.add_subplot(gs_top[0, t])
            self.images.append(ax.imshow(np.full((2, 2), np.nan), origin="lower", extent=(0, 1, 0, 1),
                                         aspect="auto", cmap=cmap, norm=norm, interpolation="nearest"))
            self.paths.append(ax.plot([], [], color="white", lw=1.3, alpha=0.9)[0])
            self.others.append(ax.scatter([], [], marker="o", s=30, edgecolors="white",
                                          linewidths=0.8, zorder=3))
            self.owns.append(ax.scatter([], [], marker="*", s=120, color=task_color(t),
                                        edgecolors="white", linewidths=0.8, zorder=4))
            self.probes.append(ax.plot([], [], marker="P", ms=11, color="#00e5ff", mec="black",
                                       mew=1.0, ls="none", zorder=5)[0])
            # titles that change with the probe are plain texts at fixed places (cheap to blit)
            self.map_titles.append(ax.text(0.5, 1.03, f"task {t + 1}", transform=ax.transAxes,
                                           ha="center", va="bottom", fontsize=9))
            ax.tick_params(labelsize=8, labelleft=t == 0)
            for axis in (ax.xaxis, ax.yaxis):   # a few short labels: "−3", "0", "1.5"
                axis.set_major_locator(plt.MaxNLocator(4))
                axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}".replace("-", "\u2212")))
            ax.set_xlabel(axis_labels[0], fontsize=9, labelpad=1)
            self.map_axes.append(ax)
        self.map_axes[0].set_ylabel(axis_labels[1], fontsize=9)
        cax = self.fig.add_axes((1 - 0.85 / width, split + 0.35 / height, 0.1 / width,
                                 top - split - 0.35 / height))
        cbar = self.fig.colorbar(self.images[0], cax=cax)
        cbar.set_label(metric, fontsize=9)
        cbar.ax.tick_params(labelsize=8)
        if log:
            cbar.ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
        # --- bottom row: the network at the probe, and the metrics along the path
        ratios = [3, 2] if kind == "regression" else [1.1, 2.2, 2]
        # the right margin holds the legend of the path panel (beside it: never over its lines)
        gs_bottom = self.fig.add_gridspec(1, len(ratios), width_ratios=ratios, left=0.6 / width,
                                          right=1 - 1.0 / width, top=split - 0.3 / height,
                                          bottom=0.5 / height, wspace=0.35)
        if kind == "regression":
            self.net_ax = self.fig.add_subplot(gs_bottom[0, 0])
            self.curve = self.net_ax.plot([], [], color="black", lw=1.8)[0]
            self.net_ax.set_xlabel("x", fontsize=9, labelpad=1)
            self.net_ax.set_ylabel("y", fontsize=9)
            self.net_ax.tick_params(labelsize=8)
            self.net_title = self.net_ax.text(0.5, 1.02, "", transform=self.net_ax.transAxes,
                                              ha="center", va="bottom", fontsize=9)
        else:
            self.bar_ax = self.fig.add_subplot(gs_bottom[0, 0])
            self.bars = self.bar_ax.bar(np.arange(1, num_tasks + 1), np.zeros(num_tasks),
                                        color=[task_color(t) for t in range(num_tasks)])
            self.bar_ax.set_ylim(0, 100)
            self.bar_ax.set_xticks(np.arange(1, num_tasks + 1))
            self.bar_ax.set_xlabel("task", fontsize=9, labelpad=1)
            self.bar_ax.set_ylabel("test accuracy (%)", fontsize=9)
            self.bar_ax.tick_params(labelsize=8)
            self.bar_title = self.bar_ax.text(0.5, 1.02, "", transform=self.bar_ax.transAxes,
                                              ha="center", va="bottom", fontsize=9)
            self.digit_ax = self.fig.add_subplot(gs_bottom[0, 1])
            self.digit_ax.set_axis_off()
            self.digit_image = self.digit_ax.imshow(np.zeros((2, 2)), cmap="gray_r", vmin=0, vmax=1,
                                                    interpolation="nearest")
            self.digit_labels = []
            self.digit_ax.set_title("test digits: label predicted at the probe", fontsize=9)
        self.path_ax = self.fig.add_subplot(gs_bottom[0, -1])
        self.path_lines = [self.path_ax.plot([], [], color=task_color(t), lw=1.5, label=f"task {t + 1}")[0]
                           for t in range(num_tasks)]
        self.path_step = self.path_ax.axvline(0, color="black", lw=1.0, ls="--")
        self.path_step.set_visible(False)
        self.path_ax.set_xlabel("path step", fontsize=9, labelpad=1)
        self.path_ax.set_ylabel(metric if kind == "regression" else "accuracy (%)", fontsize=9)
        if log:
            self.path_ax.set_yscale("log")
            self.path_ax.set_ylim(vmin, vmax)
            # plain tick labels (no mathtext "10^k") and no minor labels: cheaper to redraw
            self.path_ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
            self.path_ax.yaxis.set_minor_formatter(plt.NullFormatter())
        else:
            self.path_ax.set_ylim(0, 102)
        self.path_ax.set_xlim(0, 1)
        self.path_ax.tick_params(labelsize=8)
        self.path_ax.set_title("no path chosen", fontsize=9)
        self.path_ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                            handlelength=1.5, frameon=False)

    # ---- static content (set once per trained model or per path)

    def set_maps(self, xs, ys, grids, embeddings) -> None:
        """Heatmaps (grids: (T, len(ys), len(xs))) and the learned embeddings (K, 2) on the plane."""
        self._background = None
        xs, ys = _as_1d(xs, "xs"), _as_1d(ys, "ys")
        grids = _as_array(grids, "grids", 3)
        if grids.shape != (self.num_tasks, len(ys), len(xs)):
            raise ValueError(f"grids must have shape ({self.num_tasks}, {len(ys)}, {len(xs)}), got {grids.shape}")
        emb = np.asarray(embeddings, dtype=float).reshape(-1, 2)
        extent = (xs[0], xs[-1], ys[0], ys[-1])
        for t, ax in enumerate(self.map_axes):
            self.images[t].set_data(grids[t])
            self.images[t].set_extent(extent)
            others = [k for k in range(len(emb)) if k != t]
            self.others[t].set_offsets(emb[others] if others else np.zeros((0, 2)))
            self.others[t].set_facecolors([task_color(k) for k in others])
            self.owns[t].set_offsets(emb[t:t + 1] if t < len(emb) else np.zeros((0, 2)))
            ax.set_xlim(xs[0], xs[-1])
            ax.set_ylim(ys[0], ys[-1])

    def set_regression_data(self, data) -> None:
        """Every task's data ``[(x, y), ...]`` (1-D arrays), drawn as dots under the function."""
        self._background = None
        ys = []
        for t, (x, y) in enumerate(data):
            x, y = _as_1d(x, f"data[{t}] x"), _as_1d(y, f"data[{t}] y")
            self.net_ax.scatter(x, y, s=8, color=task_color(t), zorder=2)
            ys.append(y)
        low, high = float(np.min(np.concatenate(ys))), float(np.max(np.concatenate(ys)))
        pad = 0.15 * (high - low)
        self.net_ax.set_ylim(low - pad, high + pad)     # fixed, so a wild function is clipped, not rescaled

    def set_digits(self, images) -> None:
        """``images``: (T, k, H, W) test images in [0, 1], ``k = digits_per_task``; one row per task."""
        self._background = None
        images = _as_array(images, "images", 4)
        T, k, h, w = images.shape
        if T != self.num_tasks:
            raise ValueError(f"images must have one row per task ({self.num_tasks}), got {T}")
        gap = 4
        canvas = np.zeros((T * (h + gap), k * (w + gap + 12)))
        self._cells = []
        for t in range(T):
            for j in range(k):
                r, c = t * (h + gap), j * (w + gap + 12)
                canvas[r:r + h, c:c + w] = images[t, j]
                self._cells.append((r + h / 2, c + w + 2))
        self.digit_image.set_data(canvas)
        self.digit_image.set_extent((-0.5, canvas.shape[1] - 0.5, canvas.shape[0] - 0.5, -0.5))
        self.digit_ax.set_xlim(-0.5, canvas.shape[1] - 0.5)
        self.digit_ax.set_ylim(canvas.shape[0] - 0.5, -0.5)
        for text in self.digit_labels:
            text.remove()
        self.digit_labels = [self.digit_ax.text(c, r, "", fontsize=9, va="center", ha="left",
                                                fontweight="bold") for r, c in self._cells]

    def set_path(self, coords=None, metrics=None, title: str = "") -> None:
        """Show a path: ``coords`` (P, 2) on the plane, ``metrics`` (P, T) along it; ``None`` hides it."""
        self._background = None
        if coords is None:
            for line in self.paths:
                line.set_data([], [])
            for line in self.path_lines:
                line.set_data([], [])
            self.path_step.set_visible(False)
            self.path_ax.set_title("no path chosen", fontsize=9)
            return
        coords = _as_array(coords, "coords", 2)
        metrics = _as_array(metrics, "metrics", 2)
        if metrics.shape != (len(coords), self.num_tasks):
            raise ValueError(f"metrics must have shape ({len(coords)}, {self.num_tasks}), got {metrics.shape}")
        for line in self.paths:
            line.set_data(coords[:, 0], coords[:, 1])
        steps = np.arange(len(coords))
        shown = metrics if self.kind == "regression" else 100 * metrics
        for t, line in enumerate(self.path_lines):
            line.set_data(steps, shown[:, t])
        self.path_ax.set_xlim(0, max(1, len(coords) - 1))
        finite = shown[np.isfinite(shown)]
        if self.log:
            finite = finite[finite > 0]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (1e-3, 1.0)
            # whole decades, so that at least two labelled ticks are always visible
            self.path_ax.set_ylim(10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi * 1.001)))
        else:
            self.path_ax.set_ylim(0, 102)
        self.path_ax.set_title(title, fontsize=9)

    # ---- the probe

    def update(self, coords, metrics, curve=None, predictions=None, step: int | None = None) -> Figure:
        """Move the probe and show the network there; returns the figure.

        Args:
            coords: (2,) the probe's position on the plane.
            metrics: (T,) every task's metric at the probe (accuracy as a fraction).
            curve: regression: ``(x, y)`` 1-D arrays, the network's function.
            predictions: classification: ``(labels, correct)``, each (T, k): the
                text shown next to each digit and whether it is right.
            step: the current path step (marked on the path panel), or ``None``.
        """
        coords = np.asarray(coords, dtype=float).reshape(2)
        metrics = _as_1d(metrics, "metrics")
        if len(metrics) != self.num_tasks:
            raise ValueError(f"metrics must have {self.num_tasks} values, got {len(metrics)}")
        for t, ax in enumerate(self.map_axes):
            self.probes[t].set_data([coords[0]], [coords[1]])
            value = f"{metrics[t]:.3g}" if self.kind == "regression" else f"{100 * metrics[t]:.0f}%"
            self.map_titles[t].set_text(f"task {t + 1}: {self.metric} {value}")
        where = f"e = ({coords[0]:.2f}, {coords[1]:.2f})"
        if self.kind == "regression":
            if curve is not None:
                self.curve.set_data(_as_1d(curve[0], "curve x"), _as_1d(curve[1], "curve y"))
            self.net_title.set_text(f"black: the network generated at {where}; dots: test data")
        else:
            for bar, value in zip(self.bars, metrics):
                bar.set_height(100 * value)
            self.bar_title.set_text(f"at {where}")
            if predictions is not None:
                labels, correct = predictions
                for text, label, ok in zip(self.digit_labels, np.ravel(labels), np.ravel(correct)):
                    text.set_text(str(label))
                    text.set_color("#1a8f1a" if ok else "#d01c1c")
        if step is None:
            self.path_step.set_visible(False)
        else:
            self.path_step.set_xdata([step, step])
            self.path_step.set_visible(True)
        return self.fig

    def _dynamic_artists(self) -> list:
        """The artists :meth:`update` changes (drawn over the cached static part)."""
        artists = list(self.probes) + list(self.map_titles) + [self.path_step]
        if self.kind == "regression":
            artists += [self.curve, self.net_title]
        else:
            artists += list(self.bars) + [self.bar_title] + list(self.digit_labels)
        return artists

    def to_png(self, dpi: int = DISPLAY_DPI) -> bytes:
        """The figure as PNG bytes, redrawing only the artists :meth:`update` changes.

        The first call after a static change (``set_*``) draws everything
        without those artists and keeps the pixels; later calls restore them
        and draw just the changing artists on top (blitting), then encode.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from PIL import Image

        if dpi <= 0:
            raise ValueError(f"dpi must be a positive integer, got {dpi}")
        if getattr(self, "_canvas", None) is None or self.fig.canvas is not self._canvas:
            self._canvas = FigureCanvasAgg(self.fig)
            self._background = None
        if self.fig.dpi != dpi:
            self.fig.set_dpi(dpi)
            self._background = None
        dynamic = self._dynamic_artists()
        if getattr(self, "_background", None) is None:
            shown = [a.get_visible() for a in dynamic]
            for a in dynamic:
                a.set_visible(False)
            self._canvas.draw()
            self._background = self._canvas.copy_from_bbox(self.fig.bbox)
            for a, visible in zip(dynamic, shown):
                a.set_visible(visible)
        else:
            self._canvas.restore_region(self._background)
        renderer = self._canvas.get_renderer()
        for a in dynamic:
            a.draw(renderer)
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(self._canvas.buffer_rgba())).save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()
