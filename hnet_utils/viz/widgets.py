"""Thin ipywidgets layers over plain, tested functions.

Each class here only wires controls to functions that live elsewhere and are
tested on their own: training (``continual.training.train_continual``), figures and
tables (``figures``), grid evaluation (``embedding_space``). Figures are
rendered to PNG and shown in ``ipywidgets.Image`` widgets, so a view can be
redrawn from a training callback while the cell is still running, in
JupyterLab as well as headless (nbval).

Every control is a public attribute, and the button handlers are public
methods, so a notebook can drive a widget from code::

    explorer.beta.value = 0.0
    explorer.train()            # what clicking "Train" does

A widget object displays itself when it is the last expression of a cell;
``explorer.widget`` is the underlying ``ipywidgets`` box.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from hnet_utils.continual.learners import build_hnet, build_target
from hnet_utils.continual.training import make_benchmark_for, train_continual
from hnet_utils.experiments.configs import ExperimentConfig, describe_config, validate_config
from hnet_utils.networks.hypernet import compression_ratio, make_hypernetwork
from hnet_utils.networks.targets import num_params
from hnet_utils.viz.embedding_space import (EmbeddingSnapshot, EmbeddingSpaceMonitor,
                                            benchmark_tasks_data, plane_snapshot)
from hnet_utils.viz.figures import (DISPLAY_DPI, EmbeddingHeatmapFigure, FitRecorder, figure_to_png,
                                    metric_table, parameter_table, plot_beta_tradeoff, plot_plane,
                                    plot_compression_curve, plot_fits_after_each_task, png_width,
                                    regression_data)

#: β values offered by the explorer's slider (0 = no regulariser).
BETA_CHOICES = (0.0, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0)


class _Displayable:
    """Mixin: display ``self.widget`` when the object is shown in a notebook."""

    widget: widgets.Widget

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def show_png(image: widgets.Image, png: bytes) -> None:
    """Show ``png`` in ``image`` at its own width: never stretched by a box layout (blurry,
    oversized fonts), only shrunk when the output area is narrower."""
    image.value = png
    image.layout.width = f"{png_width(png)}px"
    image.layout.max_width = "100%"
    image.layout.height = "auto"


def _html_table(table, caption: str = "", float_format: str = "{:.3g}") -> str:
    """A DataFrame as a small HTML table, with an optional caption.

    Numbers are formatted (integers with thousands separators, floats with
    ``float_format``) and right-aligned under right-aligned headers; text is left-aligned.
    """
    def cell(value) -> str:
        if isinstance(value, (bool, np.bool_)):
            return html.escape(str(value))
        if isinstance(value, (int, np.integer)):
            return f"{value:,}"
        if isinstance(value, (float, np.floating)):
            return float_format.format(value)
        return html.escape(str(value))

    def numeric(column) -> bool:
        return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                   for v in table[column])

    align = {c: "right" if numeric(c) else "left" for c in table.columns}
    index_name = html.escape(str(table.index.name or ""))
    head = f'<th style="text-align:left">{index_name}</th>' + "".join(
        f'<th style="text-align:{align[c]}">{html.escape(str(c))}</th>' for c in table.columns)
    body = "".join(  # cells read column by column: a row would turn integers into floats
        f'<tr><th style="text-align:left">{html.escape(str(name))}</th>'
        + "".join(f'<td style="text-align:{align[c]}">{cell(table[c].iloc[i])}</td>'
                  for c in table.columns)
        + "</tr>" for i, name in enumerate(table.index))
    out = f'<table class="hnet-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return (f"<div><b>{caption}</b></div>" if caption else "") + out


class TrainingExplorer(_Displayable):
    """Base of the explorers: controls describe a configuration, **Train** runs it.

    A subclass builds its controls, then calls :meth:`_run_controls` for the
    shared Train button, progress bar and status line, and implements
    :meth:`config` (the configuration the controls describe),
    :meth:`start_run` (training callbacks for one run) and :meth:`finish_run`
    (redraw from the finished run). :meth:`train` is the Train button's
    handler; a notebook calls it to drive the explorer from code.
    """

    benchmark = None
    callback_every = 25
    result = None

    def _run_controls(self, status: str = "") -> widgets.Widget:
        """Create ``train_button``, ``progress`` and ``status``; return them laid out."""
        style = {"description_width": "initial"}
        self.train_button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress",
                                            style=style, layout=widgets.Layout(width="420px"))
        self.status = widgets.HTML(status)
        self.status.add_class("hnet-status")
        self.train_button.on_click(self.train)
        return widgets.VBox([widgets.HBox([self.train_button, self.progress]), self.status])

    def config(self) -> ExperimentConfig:
        """The configuration the controls describe (what :meth:`train` runs)."""
        raise NotImplementedError

    def start_run(self, cfg: ExperimentConfig) -> list:
        """Callbacks ``f(TrainState)`` to call during the run of ``cfg`` (default: none)."""
        return []

    def finish_run(self, result, cfg: ExperimentConfig) -> None:
        """Redraw the outputs from a finished run."""
        raise NotImplementedError

    def train(self, button=None):
        """Retrain with the controls' settings and redraw; returns the ``ContinualResult``.

        This is the Train button's click handler (``button`` is the clicked
        button, unused). Errors are shown in the status line and re-raised.
        """
        cfg = self.config()
        self.progress.max, self.progress.value = cfg.iterations * cfg.num_tasks, 0
        self.train_button.disabled = True
        self.status.value = f"training: {describe_config(cfg)}"
        watchers = self.start_run(cfg)

        def callback(state) -> None:
            self.progress.value = state.global_step
            for watch in watchers:
                watch(state)

        try:
            result = train_continual(cfg, benchmark=self.benchmark, callback=callback,
                                     callback_every=self.callback_every, progress=False)
        except Exception as exc:
            self.status.value = f"<span style='color:#b00'>training failed: {html.escape(str(exc))}</span>"
            raise
        finally:
            self.train_button.disabled = False
        self.result = result
        self.finish_run(result, cfg)
        return result


# ---------------------------------------------------------------------------
# Chunking and the compression ratio
# ---------------------------------------------------------------------------


def compression_curve(n: int, chunk_sizes: Sequence[int], embedding_dim: int,
                      chunk_embedding_dim: int, hidden: Sequence[int], activation: str = "relu",
                      num_tasks: int = 1) -> np.ndarray:
    """Compression ratio of a chunked hypernetwork for each chunk size: (K,) array.

    Every hypernetwork is really built and counted (``hypernet.compression_ratio``).
    """
    return np.array([
        compression_ratio(make_hypernetwork(n, embedding_dim, hidden, activation, int(size),
                                            chunk_embedding_dim, num_tasks), n)
        for size in chunk_sizes])


class CompressionExplorer(_Displayable):
    """A chunk-size slider; the parameter table and the compression curve follow it.

    Args:
        target: the target network whose weights are generated.
        embedding_dim, chunk_embedding_dim, hidden, activation: hypernetwork
            settings (as for ``hypernet.ChunkedHyperNetwork``).
        num_tasks: task embeddings counted in the parameters.
        chunk_size: initial chunk size.
        min_chunk_size: smallest chunk size offered (default: 1/1000 of the
            target weights, at least 16; tiny chunks mean very many chunks).
        curve_points: chunk sizes (log-spaced from ``min_chunk_size`` to the
            number of target weights) at which the compression curve is computed.

    Controls: ``chunk_size`` (log slider). ``table`` (HTML) and ``figure``
    (Image) are redrawn by :meth:`update` whenever the slider moves.
    """

    def __init__(self, target, embedding_dim: int, chunk_embedding_dim: int, hidden: Sequence[int],
                 activation: str = "relu", num_tasks: int = 1, chunk_size: int | None = None,
                 min_chunk_size: int | None = None, curve_points: int = 20):
        self.n = num_params(target)
        self.settings = dict(embedding_dim=embedding_dim, chunk_embedding_dim=chunk_embedding_dim,
                             hidden=tuple(hidden), activation=activation, num_tasks=num_tasks)
        chunk_size = max(1, self.n // 10) if chunk_size is None else chunk_size
        if not isinstance(chunk_size, int) or not 1 <= chunk_size <= self.n:
            raise ValueError(f"chunk_size must be an integer in [1, {self.n}], got {chunk_size!r}")
        if not isinstance(curve_points, int) or curve_points < 2:
            raise ValueError(f"curve_points must be an integer >= 2, got {curve_points!r}")
        low = min(self.n, max(16, self.n // 1000)) if min_chunk_size is None else min_chunk_size
        if not isinstance(low, int) or not 1 <= low <= chunk_size:
            raise ValueError(f"min_chunk_size must be an integer in [1, chunk_size={chunk_size}], got {low!r}")
        self.curve_sizes = np.unique(np.geomspace(low, self.n, curve_points).round().astype(int))
        self.curve_ratios = compression_curve(self.n, self.curve_sizes, **self.settings)
        self.chunk_size = widgets.FloatLogSlider(
            value=chunk_size, base=10, min=math.log10(low), max=math.log10(self.n), step=0.01,
            description="chunk size", readout_format=",.0f", continuous_update=False,
            style={"description_width": "initial"}, layout=widgets.Layout(width="480px"))
        self.table = widgets.HTML()
        self.figure = widgets.Image(format="png")
        self.figure.add_class("hnet-compression")
        self._full = make_hypernetwork(self.n, embedding_dim, hidden, activation,
                                       num_tasks=num_tasks)  # the same for every chunk size
        self._chunked = None
        self.chunk_size.observe(self.update, names="value")
        self.widget = widgets.VBox([self.chunk_size, self.table, self.figure])
        self.widget.add_class("hnet-compression-explorer")
        self.update()

    @property
    def current_chunk_size(self) -> int:
        """The slider's chunk size as an integer in [1, number of target weights]."""
        return min(self.n, max(1, int(round(self.chunk_size.value))))

    def parameter_table(self):
        """The ``pandas.DataFrame`` shown for the current chunk size."""
        size, cfg = self.current_chunk_size, self.settings
        if self._chunked is None or self._chunked.chunk_size != size:
            self._chunked = make_hypernetwork(self.n, cfg["embedding_dim"], cfg["hidden"],
                                              cfg["activation"], size, cfg["chunk_embedding_dim"],
                                              cfg["num_tasks"])
        return parameter_table(self.n, {"full": self._full,
                                        f"chunked (chunk size {size:,})": self._chunked})

    def update(self, change=None) -> None:
        """Rebuild the table and the curve for the slider's chunk size."""
        self.table.value = _html_table(self.parameter_table(), float_format="{:,.4g}")
        fig = Figure(figsize=(5, 3))
        plot_compression_curve(self.curve_sizes, self.curve_ratios, ax=fig.subplots(),
                               current=self.current_chunk_size,
                               title=f"{self.n:,} target weights")
        show_png(self.figure, figure_to_png(fig, close=False))


# ---------------------------------------------------------------------------
# Live task-embedding space, and the explorers that retrain a hypernetwork
# ---------------------------------------------------------------------------


class EmbeddingSpaceView(_Displayable):
    """Heatmaps of every task's metric over the 2-D embedding plane, as an Image widget.

    Use it as ``on_refresh`` of an :class:`~hnet_utils.viz.embedding_space.EmbeddingSpaceMonitor`:
    each snapshot updates one reused figure
    (:class:`~hnet_utils.viz.figures.EmbeddingHeatmapFigure`) and the PNG shown.

    Args:
        num_tasks: number of heatmaps.
        metric: colour-bar label ("MSE" or "accuracy").
        vmin, vmax: fixed colour limits, so refreshes are comparable.
        log: log colour scale.
        dpi: PNG resolution.
        cmap: colour map (see ``figures.EmbeddingHeatmapFigure``; ``"magma"``
            for accuracy, so that good is light as for MSE with the default).
    """

    def __init__(self, num_tasks: int, metric: str = "MSE", vmin: float = 1e-3,
                 vmax: float = 1e2, log: bool = True, dpi: int = DISPLAY_DPI, cmap: str = "magma_r"):
        self.metric, self.dpi = metric, dpi
        self.figure = EmbeddingHeatmapFigure(num_tasks, metric=metric, log=log, vmin=vmin, vmax=vmax,
                                             cmap=cmap)
        self.caption = widgets.HTML("<i>waiting for the first refresh</i>")
        self.image = widgets.Image(format="png")
        self.image.add_class("hnet-heatmap")
        self.widget = widgets.VBox([self.caption, self.image])
        self.refreshes = 0
        self.draw_seconds: list[float] = []  # drawing + PNG time of every refresh

    def __call__(self, snapshot: EmbeddingSnapshot) -> None:
        """Redraw from ``snapshot``."""
        start = time.perf_counter()
        fig = self.figure.update(snapshot.xs, snapshot.ys, snapshot.grids, snapshot.embeddings,
                                 snapshot.trajectories)
        show_png(self.image, figure_to_png(fig, dpi=self.dpi, close=False, tight=False))
        self.draw_seconds.append(time.perf_counter() - start)
        self.refreshes += 1
        self.caption.value = (f"training task {snapshot.task + 1}, step {snapshot.step}: "
                              f"{self.metric} of every task over a {len(snapshot.xs)}×{len(snapshot.ys)} "
                              f"grid of task embeddings (evaluated in {1000 * snapshot.seconds:.0f} ms, "
                              f"drawn in {1000 * self.draw_seconds[-1]:.0f} ms). "
                              f"★ the panel's own task embedding, ● the others, lines: trajectories.")


def explorer_config(base: ExperimentConfig, beta: float, embedding_dim: int, hnet_type: str,
                    chunk_size: int | None = None, chunk_embedding_dim: int = 2) -> ExperimentConfig:
    """``base`` (a hypernetwork configuration) with the explorer's settings applied.

    Args:
        base: configuration to start from (``method="hnet"``).
        beta: regularisation strength β (≥ 0).
        embedding_dim: task-embedding size.
        hnet_type: ``"full"`` or ``"chunked"``.
        chunk_size: chunk size, used only when ``hnet_type == "chunked"``.
        chunk_embedding_dim: chunk-embedding size for the chunked hypernetwork.

    Returns:
        A validated :class:`~hnet_utils.experiments.configs.ExperimentConfig`.
    """
    if base.method != "hnet":
        raise ValueError(f"base must be a hypernetwork configuration (method='hnet'), got {base.method!r}")
    if hnet_type == "chunked":
        changes = dict(hnet_type="chunked", chunk_size=chunk_size,
                       chunk_embedding_dim=chunk_embedding_dim)
    elif hnet_type == "full":
        changes = dict(hnet_type="full", chunk_size=None, chunk_embedding_dim=None)
    else:
        raise ValueError(f"hnet_type must be 'full' or 'chunked', got {hnet_type!r}")
    cfg = base.replace(beta=float(beta), embedding_dim=int(embedding_dim), **changes)
    validate_config(cfg)
    return cfg


class RegressionExplorer(TrainingExplorer):
    """β, embedding size and chunking of the hypernetwork on the regression tasks.

    Clicking **Train** (or calling :meth:`train`) retrains the hypernetwork
    with the chosen settings via ``continual.training.train_continual``, with a progress
    bar, then redraws the fits after each task and the MSE table. With
    embedding size 2 the task-embedding plane is shown live while training.

    Args:
        base: hypernetwork configuration for the regression benchmark (its
            iterations, lr, batch size, hidden layers, ... are kept).
        benchmark: the regression benchmark (built from ``base`` if ``None``).
        reference: ``{method name: final MSE per task}`` shown in the table
            under the explorer's own row (e.g. the runs made earlier).
        callback_every: training steps between two progress updates (and
            embedding-trajectory points).
        refresh_every: training steps between two heatmap refreshes.
        resolution: grid points per axis of the heatmaps.
        chunk_embedding_dim: chunk-embedding size of the chunked hypernetwork.
    """

    def __init__(self, base: ExperimentConfig, benchmark=None,
                 reference: Mapping[str, Sequence[float]] | None = None,
                 callback_every: int = 25, refresh_every: int = 500, resolution: int = 50,
                 chunk_embedding_dim: int = 2):
        validate_config(base)
        if base.benchmark != "regression" or base.method != "hnet":
            raise ValueError("base must be a hypernetwork configuration of the regression benchmark "
                             f"(benchmark='regression', method='hnet'), got {base.benchmark!r}/{base.method!r}")
        if base.iterations is None:
            raise ValueError("base must give the training length in iterations (base.iterations), "
                             f"got iterations=None, epochs={base.epochs!r}")
        self.base = base
        self.benchmark = benchmark if benchmark is not None else make_benchmark_for(base)
        self.reference = dict(reference or {})
        self.callback_every, self.refresh_every = callback_every, refresh_every
        self.resolution, self.chunk_embedding_dim = resolution, chunk_embedding_dim
        n = num_params(build_target(base, tuple(self.benchmark.input_shape),
                                    self.benchmark.classes_per_task, regression=True))
        self.num_target_weights = n

        style, wide = {"description_width": "initial"}, widgets.Layout(width="420px")
        betas = sorted(set(BETA_CHOICES) | {float(base.beta)})  # base's own β is always offered
        self.beta = widgets.SelectionSlider(options=betas, value=float(base.beta),
                                            description="β (regulariser)", style=style, layout=wide)
        self.embedding_dim = widgets.IntSlider(value=base.embedding_dim, min=1, max=8,
                                               description="task-embedding size", style=style, layout=wide)
        self.hnet_type = widgets.ToggleButtons(options=["full", "chunked"], value=base.hnet_type,
                                               description="hypernetwork", style=style)
        self.chunk_size = widgets.IntSlider(value=base.chunk_size or max(1, n // 4), min=1, max=n,
                                            description="chunk size", style=style, layout=wide)
        run = self._run_controls()
        self.fits = widgets.Image(format="png")
        self.fits.add_class("hnet-fits")
        self.table = widgets.HTML()
        self.table.add_class("hnet-mse-table")
        self.heatmap = EmbeddingSpaceView(self.benchmark.num_tasks)
        self.heatmap_box = widgets.VBox([self.heatmap.widget])

        for control in (self.beta, self.embedding_dim, self.hnet_type, self.chunk_size):
            control.observe(self._settings_changed, names="value")
        controls = widgets.VBox([self.beta, self.embedding_dim, self.hnet_type, self.chunk_size, run])
        self.widget = widgets.VBox([controls, self.fits, self.table, self.heatmap_box])
        self.widget.add_class("hnet-explorer")
        self._settings_changed()

    def config(self) -> ExperimentConfig:
        """The configuration the controls describe (what :meth:`train` runs)."""
        return explorer_config(self.base, self.beta.value, self.embedding_dim.value,
                               self.hnet_type.value, self.chunk_size.value, self.chunk_embedding_dim)

    def _settings_changed(self, change=None) -> None:
        """Enable the chunk-size slider only for a chunked hypernetwork; describe the setting."""
        self.chunk_size.disabled = self.hnet_type.value != "chunked"
        cfg = self.config()
        target = build_target(cfg, tuple(self.benchmark.input_shape), 1, regression=True)
        h = build_hnet(cfg, target)
        for _ in range(self.benchmark.num_tasks):
            h.add_task()
        self.status.value = (f"{cfg.hnet_type} hypernetwork: compression ratio "
                             f"{compression_ratio(h, target):.2f} for {self.num_target_weights} "
                             f"target weights. Press <b>Train</b> to retrain.")

    def start_run(self, cfg: ExperimentConfig) -> list:
        """Record the fits after each task; with 2-D embeddings, refresh the heatmaps live."""
        self._recorder = FitRecorder(self.benchmark)
        if cfg.embedding_dim != 2:
            self.heatmap_box.children = [widgets.HTML(
                "<i>The task-embedding plane is drawn for embedding size 2 only.</i>")]
            return [self._recorder]
        self.heatmap_box.children = [self.heatmap.widget]
        monitor = EmbeddingSpaceMonitor(benchmark_tasks_data(self.benchmark),
                                        resolution=self.resolution,
                                        refresh_every=self.refresh_every, on_refresh=self.heatmap)
        return [self._recorder, monitor]

    def finish_run(self, result, cfg: ExperimentConfig) -> None:
        """Redraw the fits figure and the MSE table from a finished run."""
        self.draw(result, self._recorder.fits, cfg)

    def draw(self, result, fits, cfg: ExperimentConfig) -> None:
        """Redraw the fits figure and the MSE table from a finished run."""
        data = regression_data(self.benchmark)
        fig = Figure(figsize=(3.4 * len(fits), 2.8))
        axes = fig.subplots(1, len(fits), sharex=True, sharey=True)
        plot_fits_after_each_task(data, fits, method="hnet", axes=np.atleast_1d(axes))
        fig.tight_layout()
        show_png(self.fits, figure_to_png(fig, close=False))
        name = f"this run (β={cfg.beta:g}, emb {cfg.embedding_dim}, {cfg.hnet_type})"
        table = metric_table({name: result.final, **self.reference})
        self.table.value = _html_table(table, caption="test MSE after learning all tasks (lower is better)")
        self.status.value = (f"done in {result.wall_time_s:.1f} s: {describe_config(cfg)}")


class EmbeddingExplorer(TrainingExplorer):
    """β and task-embedding size of a SplitMNIST hypernetwork, with accuracy maps of its embeddings.

    Clicking **Train** (or calling :meth:`train`) retrains the hypernetwork of
    ``base`` with the sliders' β and embedding size (``continual.training.train_continual``)
    and shows every task's test accuracy over a plane of task embeddings:
    with 2-D embeddings the embedding space itself, refreshed live while
    training (``embedding_space.EmbeddingSpaceMonitor``); with larger ones the
    plane of their two principal directions (``embedding_space.plane_snapshot``),
    refreshed at the end of every task. A table gives the final accuracies.

    Args:
        base: hypernetwork configuration (e.g. the ``teaching_plane`` preset of SplitMNIST).
        benchmark: the benchmark to train on.
        tasks_data: ``(x, y)`` per task for the maps (a few test samples each;
            ``embedding_space.benchmark_tasks_data(benchmark, max_samples=...)``).
        betas: β values offered by the slider (``base.beta`` is added).
        embedding_dims: embedding sizes offered (``base.embedding_dim`` is added).
        resolution: grid points per axis.
        refresh_every: training steps between two live refreshes (2-D only).
        callback_every: steps between progress updates and trajectory points.

    Controls (public, so code can drive them): ``beta``, ``embedding_dim``,
    ``train_button``. Outputs: ``progress``, ``status``, ``view``
    (:class:`EmbeddingSpaceView`), ``table``. After :meth:`train`:
    ``result`` and ``snapshot`` (the last map shown).
    """

    def __init__(self, base: ExperimentConfig, benchmark, tasks_data,
                 betas: Sequence[float] = (0.0, 1e-3, 1e-2, 0.1, 1.0),
                 embedding_dims: Sequence[int] = (2, 3, 4, 8), resolution: int = 32,
                 refresh_every: int = 50, callback_every: int = 10):
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
        run = self._run_controls("Choose β and the embedding size, then press <b>Train</b>.")
        self.view = EmbeddingSpaceView(base.num_tasks, metric="accuracy", vmin=0.0, vmax=1.0,
                                       log=False, cmap="magma")
        self.table = widgets.HTML()
        controls = widgets.VBox([self.beta, self.embedding_dim, run])
        self.widget = widgets.VBox([controls, self.view.widget, self.table])

    def config(self) -> ExperimentConfig:
        """The configuration the sliders describe (what :meth:`train` runs)."""
        return self.base.replace(beta=float(self.beta.value), embedding_dim=int(self.embedding_dim.value))

    def start_run(self, cfg: ExperimentConfig) -> list:
        """2-D embeddings: a live monitor; larger ones: a plane map at the end of every task."""
        self.refresh_seconds = []
        self._monitor = None
        if cfg.embedding_dim == 2:
            self._monitor = EmbeddingSpaceMonitor(self.tasks_data, resolution=self.resolution,
                                                  refresh_every=self.refresh_every,
                                                  on_refresh=self.view, metric="accuracy")
            return [self._monitor]

        def plane_at_task_end(state) -> None:
            if state.event == "task_end":
                snap = plane_snapshot(state.hnet, state.target, self.tasks_data,
                                      resolution=self.resolution)
                snap.step = state.step
                self.snapshot = snap
                self.refresh_seconds.append(snap.seconds)
                self.view(snap)

        return [plane_at_task_end]

    def finish_run(self, result, cfg: ExperimentConfig) -> None:
        """The final-accuracy table and a status line naming the plane."""
        if self._monitor is not None:
            self.snapshot = self._monitor.latest
            self.refresh_seconds = list(self._monitor.refresh_seconds)
        cells = "".join(f"<td>{a:.1f}</td>" for a in result.final)
        heads = "".join(f"<th>task {t + 1}</th>" for t in range(len(result.final)))
        self.table.value = (f"<b>final test accuracy (%)</b><table><tr>{heads}<th>mean</th></tr>"
                            f"<tr>{cells}<td><b>{result.average_final:.2f}</b></td></tr></table>")
        plane = ("the embedding space itself" if cfg.embedding_dim == 2 else
                 f"the plane of the two principal directions of the {cfg.embedding_dim}-D embeddings")
        self.status.value = (f"done in {result.wall_time_s:.1f} s; maps over {plane}. "
                             f"{describe_config(cfg)}")
        self._last_cfg = cfg

    def snapshot_figure(self):
        """A static figure of the last run's final maps, titled with its β and embedding size.

        The widget always shows the latest run; display one of these after each
        run that should stay visible (e.g. β = 0 beside the teaching β).
        """
        if self.snapshot is None or getattr(self, "_last_cfg", None) is None:
            raise ValueError("no finished run yet: call train() first")
        cfg = self._last_cfg
        return plot_plane(self.snapshot, title=f"β = {cfg.beta:g}, {cfg.embedding_dim}-D task "
                                               f"embeddings: maps after the last task (snapshot of this run)")


# ---------------------------------------------------------------------------
# Browsing a finished sweep
# ---------------------------------------------------------------------------


def beta_explorer(rows: Sequence[Mapping[str, Any]]):
    """A slider over the β values of a ``studies.beta_sweep``, redrawing ``figures.plot_beta_tradeoff``.

    Returns ``(box, slider, image)``: display ``box``; set ``slider.value``
    to drive it from code; ``image.value`` holds the PNG shown.
    """
    betas = [r["beta"] for r in rows]
    slider = widgets.SelectionSlider(options=[(f"{b:g}", b) for b in betas], value=betas[0],
                                     description="β", layout=widgets.Layout(width="420px"))
    image = widgets.Image(format="png")

    def show(_=None):
        show_png(image, figure_to_png(plot_beta_tradeoff(rows, slider.value)))

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, image]), slider, image
