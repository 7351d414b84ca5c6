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

from hnet_utils.continual.inference import probabilities_per_embedding
from hnet_utils.continual.learners import build_hnet, build_target
from hnet_utils.continual.training import make_benchmark_for, train_continual
from hnet_utils.experiments.configs import ExperimentConfig, describe_config, validate_config
from hnet_utils.networks.hypernet import compression_ratio, make_hypernetwork
from hnet_utils.networks.targets import num_params
from hnet_utils.viz.embedding_space import (EmbeddingSnapshot, EmbeddingSpaceMonitor,
                                            benchmark_tasks_data, check_resolution, plane_snapshot)
from hnet_utils.viz.figures import (DISPLAY_DPI, EmbeddingHeatmapFigure, FitRecorder, figure_to_png,
                                    metric_table, parameter_table, plot_beta_tradeoff, plot_plane,
                                    plot_compression_curve, plot_embedding_predictions,
                                    plot_fits_after_each_task, png_width, regression_data)

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
        check_resolution(resolution)
        for name, value in (("callback_every", callback_every), ("refresh_every", refresh_every),
                            ("chunk_embedding_dim", chunk_embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
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
    if not rows:
        raise ValueError("rows must hold at least one β of a beta sweep (studies.beta_sweep), got none")
    betas = [r["beta"] for r in rows]
    slider = widgets.SelectionSlider(options=[(f"{b:g}", b) for b in betas], value=betas[0],
                                     description="β", layout=widgets.Layout(width="420px"))
    image = widgets.Image(format="png")

    def show(_=None):
        show_png(image, figure_to_png(plot_beta_tradeoff(rows, slider.value)))

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, image]), slider, image


# ---------------------------------------------------------------------------
# Walking the embedding space: a probe point and paths between embeddings
# ---------------------------------------------------------------------------


class EmbeddingProbe(_Displayable):
    """Pick a point of the task-embedding plane and see the network the hypernetwork makes there.

    Two sliders (``x``, ``y``) move a probe over the heatmaps of every task's
    metric; for each position the weights ``h(e)`` are generated and tested
    (``embedding_space.probe``) and the figure
    (``figures.EmbeddingProbeFigure``) shows the network: its function over
    all tasks' data (regression) or each task's accuracy and a few test
    digits with their predicted labels (classification).

    A path (``path`` dropdown: a straight line between two learned
    embeddings, or the trajectory an embedding took while training) is
    evaluated in one batched hypernetwork call
    (``embedding_space.evaluate_path``); ``play`` (an ``ipywidgets.Play``)
    walks it step by step, and a panel shows each task's metric along it.

    With embeddings larger than 2-D the probe moves on the plane through the
    embeddings of three chosen tasks (``embedding_space.embedding_plane``,
    ``from_plane``), and the status line says so.

    Args:
        hnet, target: a trained hypernetwork and its target network.
        tasks_data: one ``(x, y)`` pair per task: the fixed test samples the
            metrics are computed on (``embedding_space.benchmark_tasks_data``).
        metric: ``"mse"`` (regression) or ``"accuracy"`` (classification).
        trajectories: optional ``{task: (L, d) array}`` or list, the paths the
            embeddings took while training (``EmbeddingSpaceMonitor.trajectories``).
        plane_tasks: three tasks whose embeddings span the plane (embeddings
            larger than 2-D only; default the first three).
        label_names: classification: per task, the names of its labels (e.g.
            the digits ``["2", "3"]``); default the label numbers.
        curve_x: regression: (M, 1) inputs at which the function is drawn
            (default: 200 points over all tasks' inputs).
        resolution: grid points per axis of the heatmaps (evaluated once).
        path_points: points per path.
        margin: room around the embeddings on the plane.
        digits_per_task: classification: test images shown per task.
        vmin, vmax, log: colour scale (defaults: MSE 1e-3..1e2 log, accuracy 0..1).
        interval_ms: time between two path steps while playing.
        dpi: PNG resolution; at the default (``figures.DISPLAY_DPI``) the figure is shown at its
            own size, fonts at their size, and fits a notebook (``figures.DISPLAY_WIDTH_PX``).

    Controls (public, so code can drive them): ``x``, ``y``, ``path``,
    ``play``. Methods :meth:`move_to` and :meth:`show_path_step` do what the
    controls do. Outputs: ``image`` (PNG), ``status`` (HTML); ``last`` is the
    latest ``ProbeResult``, ``path_eval`` the evaluated path,
    ``update_seconds`` the time of every redraw (generate + evaluate + draw).
    """

    def __init__(self, hnet, target, tasks_data, metric: str = "mse", trajectories=None,
                 plane_tasks: Sequence[int] | None = None, label_names=None, curve_x=None,
                 resolution: int = 40, path_points: int = 50, margin: float = 1.0,
                 digits_per_task: int = 2, vmin: float | None = None, vmax: float | None = None,
                 log: bool | None = None, interval_ms: int = 200, dpi: int = DISPLAY_DPI):
        import torch

        from hnet_utils.viz.embedding_space import (embedding_plane, evaluate_embedding_grid,
                                                    from_plane, grid_limits, make_grid, to_plane)
        from hnet_utils.viz.figures import EmbeddingProbeFigure

        if metric not in ("mse", "accuracy"):
            raise ValueError(f"metric must be 'mse' or 'accuracy', got {metric!r}")
        if hnet.num_tasks < 1:
            raise ValueError("hnet has no task embeddings yet: train at least one task first")
        if len(tasks_data) != hnet.num_tasks:
            raise ValueError(f"tasks_data must hold one (x, y) pair per task ({hnet.num_tasks}), "
                             f"got {len(tasks_data)}")
        if not isinstance(path_points, int) or path_points < 2:
            raise ValueError(f"path_points must be an integer >= 2, got {path_points!r}")
        self.hnet, self.target, self.tasks_data = hnet, target, list(tasks_data)
        self.metric, self.path_points, self.dpi = metric, path_points, dpi
        self.kind = "regression" if metric == "mse" else "classification"
        T = hnet.num_tasks
        self.embeddings = np.stack([hnet.task_embedding(t).detach().cpu().numpy() for t in range(T)])
        d = self.embeddings.shape[1]
        if d < 2:
            raise ValueError(f"the probe needs task embeddings of size >= 2, got {d}")
        if isinstance(trajectories, Mapping):
            trajectories = [trajectories.get(t) for t in range(T)]
        self.trajectories = [None if p is None or len(p) < 2 else np.asarray(p, dtype=np.float32)
                             for p in (trajectories or [None] * T)]
        # --- the plane the probe moves on
        if d == 2:
            self.plane_tasks = None
            self.origin, self.basis = embedding_plane(self.embeddings)
            self.plane_note = "the 2-D embedding space itself"
        else:
            chosen = tuple(range(min(3, T))) if plane_tasks is None else tuple(int(t) for t in plane_tasks)
            if len(chosen) != min(3, T) or any(not 0 <= t < T for t in chosen):
                raise ValueError(f"plane_tasks must name {min(3, T)} tasks in [0, {T}), got {plane_tasks!r}")
            self.plane_tasks = chosen
            self.origin, self.basis = embedding_plane(self.embeddings[list(chosen)])
            names = ", ".join(str(t + 1) for t in chosen)
            self.plane_note = (f"a 2-D plane through the {d}-D embeddings of tasks {names} "
                               f"(embedding_plane / from_plane); other embeddings and paths are "
                               f"shown projected onto it")
        self._from_plane = lambda c: from_plane(torch.as_tensor(np.asarray(c, dtype=np.float32)),
                                                self.origin, self.basis).numpy()
        self._to_plane = lambda p: to_plane(p, self.origin, self.basis)
        self.coords = self._to_plane(self.embeddings)                          # (T, 2)
        shown = [self.coords] + [self._to_plane(p) for p in self.trajectories if p is not None]
        xlim, ylim = grid_limits(np.concatenate(shown), margin=margin)
        xs, ys, grid = make_grid(xlim, ylim, resolution)
        start = time.perf_counter()
        values = evaluate_embedding_grid(hnet, target, self.tasks_data,
                                         from_plane(grid, self.origin, self.basis), metric=metric)
        self.grid_seconds = time.perf_counter() - start
        grids = values.reshape(T, resolution, resolution).numpy()
        # --- the figure
        if log is None:
            log = metric == "mse"
        if vmin is None:
            vmin = 1e-3 if metric == "mse" else 0.0
        if vmax is None:
            vmax = 1e2 if metric == "mse" else 1.0
        self.figure = EmbeddingProbeFigure(T, kind=self.kind, metric="MSE" if metric == "mse" else "accuracy",
                                           log=log, vmin=vmin, vmax=vmax,
                                           cmap="magma_r" if metric == "mse" else "magma",
                                           digits_per_task=digits_per_task,
                                           axis_labels=("e₁", "e₂") if d == 2 else ("plane x", "plane y"))
        self.figure.set_maps(xs.numpy(), ys.numpy(), grids, self.coords)
        if self.kind == "regression":
            xs_all = torch.cat([x.reshape(-1) for x, _ in self.tasks_data])
            if curve_x is None:
                low, high = float(xs_all.min()), float(xs_all.max())
                pad = 0.1 * (high - low)
                curve_x = torch.linspace(low - pad, high + pad, 200).unsqueeze(1)
            self.curve_x = torch.as_tensor(curve_x, dtype=torch.float32).reshape(-1, 1)
            self.figure.set_regression_data([(x.reshape(-1).numpy(), y.reshape(-1).numpy())
                                             for x, y in self.tasks_data])
        else:
            self.curve_x = None
            k = digits_per_task
            if any(len(x) < k for x, _ in self.tasks_data):
                raise ValueError(f"every task needs at least digits_per_task={k} samples in tasks_data")
            side = int(round(math.sqrt(self.tasks_data[0][0][0].numel())))
            images = np.stack([x[:k].reshape(k, -1)[:, :side * side].reshape(k, side, side).numpy()
                               for x, _ in self.tasks_data])
            self.figure.set_digits(images)
            self.label_names = ([[str(n) for n in names] for names in label_names] if label_names
                                else None)
        # --- controls
        style, wide = {"description_width": "initial"}, widgets.Layout(width="420px")
        step = (xlim[1] - xlim[0]) / 200
        self.x = widgets.FloatSlider(value=float(self.coords[0, 0]), min=xlim[0], max=xlim[1], step=step,
                                     description="probe e₁" if d == 2 else "probe (plane x)",
                                     readout_format=".2f", style=style, layout=wide)
        self.y = widgets.FloatSlider(value=float(self.coords[0, 1]), min=ylim[0], max=ylim[1], step=step,
                                     description="probe e₂" if d == 2 else "probe (plane y)",
                                     readout_format=".2f", style=style, layout=wide)
        self.x.add_class("hnet-probe-x")
        self.y.add_class("hnet-probe-y")
        self.path_options = self._path_options()
        self.path = widgets.Dropdown(options=[(label, key) for key, label in self.path_options.items()],
                                     value="none", description="path", style=style,
                                     layout=widgets.Layout(width="420px"))
        self.play = widgets.Play(value=0, min=0, max=path_points - 1, step=1, interval=interval_ms,
                                 description="walk the path", disabled=True)
        self.play.add_class("hnet-probe-play")
        self.step_slider = widgets.IntSlider(value=0, min=0, max=path_points - 1, description="step",
                                             disabled=True, layout=widgets.Layout(width="300px"))
        widgets.jslink((self.play, "value"), (self.step_slider, "value"))
        self.image = widgets.Image(format="png")
        self.image.add_class("hnet-probe-image")
        self.status = widgets.HTML()
        self.status.add_class("hnet-probe-status")
        self.path_eval = None
        self.path_coords = None
        self.last = None
        self.update_seconds: list[float] = []
        self._quiet = False
        self._shown = None  # plane coordinates of the probe drawn last
        self._busy = False  # a redraw is running (guards against re-entrant widget messages)
        self.x.observe(self.update, names="value")
        self.y.observe(self.update, names="value")
        self.path.observe(lambda change: self.select_path(change["new"]), names="value")
        self.play.observe(lambda change: self.show_path_step(change["new"]), names="value")
        note = widgets.HTML(f"<i>The probe moves on {html.escape(self.plane_note)}.</i>")
        self.widget = widgets.VBox([note, widgets.HBox([widgets.VBox([self.x, self.y]),
                                                        widgets.VBox([self.path,
                                                                      widgets.HBox([self.play, self.step_slider])])]),
                                    self.status, self.image])
        self.widget.add_class("hnet-probe")
        self.update()

    # ---- paths

    def _path_options(self) -> dict:
        """``{key: label}`` of the paths offered: straight lines between embeddings, trajectories."""
        T = len(self.embeddings)
        options = {"none": "none (move the probe with the sliders)"}
        for i in range(T):
            for j in range(i + 1, T):
                options[f"line:{i}:{j}"] = f"straight line: task {i + 1} → task {j + 1}"
        for t, p in enumerate(self.trajectories):
            if p is not None:
                options[f"trajectory:{t}"] = f"trajectory of task {t + 1} while training"
        return options

    def path_points_for(self, key: str) -> np.ndarray:
        """The (path_points, d) embeddings of the path ``key`` (see ``path_options``)."""
        from hnet_utils.viz.embedding_space import resample_path, straight_path

        kind, *ids = key.split(":")
        if kind == "line":
            i, j = int(ids[0]), int(ids[1])
            return straight_path(self.embeddings[i], self.embeddings[j], self.path_points)
        if kind == "trajectory":
            return resample_path(self.trajectories[int(ids[0])], self.path_points)
        raise ValueError(f"unknown path {key!r}; choose one of {list(self.path_options)}")

    def select_path(self, key: str):
        """Choose a path (what the dropdown does): evaluate it in one batched call, go to step 0.

        Returns the ``PathEvaluation`` (``None`` for ``"none"``).
        """
        from hnet_utils.viz.embedding_space import evaluate_path

        if key not in self.path_options:
            raise ValueError(f"unknown path {key!r}; choose one of {list(self.path_options)}")
        if self.path.value != key:
            self.path.value = key           # the observer calls select_path again
            return self.path_eval
        if key == "none":
            self.path_eval, self.path_coords = None, None
            self.play.disabled = self.step_slider.disabled = True
            self.figure.set_path(None)
            self.update()
            return None
        points = self.path_points_for(key)
        self.path_eval = evaluate_path(self.hnet, self.target, self.tasks_data, points,
                                       metric=self.metric, inputs=self.curve_x)
        self.path_coords = self._to_plane(points)
        self.figure.set_path(self.path_coords, self.path_eval.metrics, title=self.path_options[key])
        self.play.disabled = self.step_slider.disabled = False
        self._quiet = True
        self.play.value = 0
        self._quiet = False
        self.show_path_step(0)
        return self.path_eval

    def show_path_step(self, i: int):
        """Show step ``i`` of the chosen path (what ``play`` does); nothing is recomputed."""
        if self._quiet or self._busy or self.path_eval is None:
            return None
        start = time.perf_counter()
        if self.play.value != int(i):      # called from code: the play control follows
            self._quiet = True
            try:
                self.play.value = int(i)
            finally:
                self._quiet = False
        result = self.path_eval.step(int(i))
        self._set_sliders(self.path_coords[int(i)])
        self._draw(result, self.path_coords[int(i)], step=int(i), start=start)
        return result

    # ---- the probe

    def _set_sliders(self, coords) -> None:
        self._quiet = True
        try:
            self.x.value, self.y.value = float(coords[0]), float(coords[1])
        finally:
            self._quiet = False

    def move_to(self, x: float, y: float):
        """Put the probe at plane coordinates ``(x, y)`` (what the sliders do); returns the ``ProbeResult``."""
        self._set_sliders((x, y))
        return self.update()

    def update(self, change=None):
        """Generate the network at the sliders' point, test it and redraw; returns the ``ProbeResult``."""
        from hnet_utils.viz.embedding_space import probe

        if self._quiet or self._busy:
            return None
        coords = np.array([self.x.value, self.y.value], dtype=np.float32)
        if change is not None and self._shown is not None and \
                np.all(np.abs(coords - self._shown) <= 0.51 * self.x.step + 1e-6):
            # the browser's slider echoing back (rounded to its step) a position the kernel set
            return self.last
        start = time.perf_counter()
        point = self._from_plane(coords[None])[0]
        result = probe(self.hnet, self.target, self.tasks_data, point, metric=self.metric,
                       inputs=self.curve_x)
        self._draw(result, coords, step=None, start=start)
        return result

    def _predictions(self, result):
        """(labels, correct), each (T, k), for the digits shown."""
        k = self.figure.digits_per_task
        labels, correct = [], []
        for t, ((_, y), out) in enumerate(zip(self.tasks_data, result.outputs)):
            pred = out[:k].argmax(-1)
            names = self.label_names[t] if self.label_names else None
            labels.append([names[p] if names else str(p) for p in pred])
            correct.append(pred == y[:k].numpy())
        return labels, correct

    def _draw(self, result, coords, step, start) -> None:
        # Claim the position first: while this draw runs, the kernel may handle the browser's
        # slider echo of it (or a play tick) re-entrantly; those must not draw (see update).
        self._shown = np.asarray(coords, dtype=np.float32)
        self._busy = True
        try:
            self._render(result, coords, step, start)
        finally:
            self._busy = False
        # catch up with a move or play tick that arrived (and was skipped) while drawing
        if step is not None and self.path_eval is not None and self.play.value != step:
            self.show_path_step(self.play.value)
        elif step is None:
            now = np.array([self.x.value, self.y.value], dtype=np.float32)
            if np.any(np.abs(now - self._shown) > 0.51 * self.x.step + 1e-6):
                self.update()

    def _render(self, result, coords, step, start) -> None:
        if self.kind == "regression":
            fig = self.figure.update(coords, result.metrics,
                                     curve=(self.curve_x.reshape(-1).numpy(), result.curve.reshape(-1)),
                                     step=step)
        else:
            fig = self.figure.update(coords, result.metrics, predictions=self._predictions(result), step=step)
        show_png(self.image, self.figure.to_png(dpi=self.dpi))   # redraws only what moved
        self.last = result
        self._shown = np.asarray(coords, dtype=np.float32)
        self.update_seconds.append(time.perf_counter() - start)
        name = "MSE" if self.metric == "mse" else "accuracy"
        values = ", ".join(f"task {t + 1} {v:.3g}" if self.metric == "mse" else f"task {t + 1} {100 * v:.1f}%"
                           for t, v in enumerate(result.metrics))
        where = (f"path step {step} of {self.path_points - 1}" if step is not None else "probe")
        self.status.value = (f"<b>{where}</b> at plane point ({coords[0]:.2f}, {coords[1]:.2f}): "
                             f"test {name} {values} "
                             f"<span style='color:#666'>(updated in {1000 * self.update_seconds[-1]:.0f} ms)</span>")

    def check_first_step_worse(self, task: int, threshold: float, answer, tolerance: int = 1) -> bool:
        """Exercise check on the chosen path (``embedding_space.check_first_step_worse``): prints pass or a hint."""
        from hnet_utils.viz.embedding_space import check_first_step_worse

        if self.path_eval is None:
            print("choose a path first (probe.path.value or the dropdown)")
            return False
        return check_first_step_worse(self.path_eval, task, threshold, answer, metric=self.metric,
                                      tolerance=tolerance)


class EmbeddingPredictions(_Displayable):
    """Pick a test image of any task; see what the network of every task embedding predicts.

    Notebook 05: on the CIFAR substitute the same kind of photo means a
    different thing to each task (another view, other label names). Only the
    embedding of the image's own task should name its class; the others
    answer in their own tasks' terms. Thin layer over
    ``inference.probabilities_per_embedding`` and ``figures.plot_embedding_predictions``.

    Args:
        hnet, target: a trained hypernetwork and its target network.
        benchmark: the benchmark they were trained on (its test images and
            class names; ``info["normalisation"]`` to show the images).

    Controls (public, so code can drive them): ``task`` (whose test images),
    ``index`` (which image). Output ``image`` (PNG); ``last`` holds the latest
    (T, C) probabilities.
    """

    def __init__(self, hnet, target, benchmark, dpi: int = DISPLAY_DPI):
        import torch

        if hnet.num_tasks < 1:
            raise ValueError("hnet has no task embeddings yet: train at least one task first")
        if benchmark.kind != "classification" or len(benchmark.input_shape) != 3:
            raise ValueError(f"EmbeddingPredictions needs an image classification benchmark, got "
                             f"{benchmark.name!r} with inputs {benchmark.input_shape}")
        note = benchmark.info.get("normalisation", {})
        note = note.get("CIFAR-10", note)
        if "mean" not in note:
            raise ValueError(f"benchmark {benchmark.name!r} records no normalisation to undo for display")
        self._mean = torch.tensor(note["mean"]).view(3, 1, 1)
        self._std = torch.tensor(note["std"]).view(3, 1, 1)
        self.hnet, self.target, self.benchmark, self.dpi = hnet, target, benchmark, dpi
        T = hnet.num_tasks
        style = {"description_width": "initial"}
        self.task = widgets.Dropdown(options=[(f"task {t + 1}: {benchmark.tasks[t].name}", t) for t in range(T)],
                                     value=0, description="image of", style=style,
                                     layout=widgets.Layout(width="420px"))
        self.index = widgets.IntSlider(value=0, min=0, max=benchmark.tasks[0].num_samples("test") - 1,
                                       description="test image", style=style,
                                       layout=widgets.Layout(width="420px"))
        self.image = widgets.Image(format="png")
        self.last = None
        self.task.observe(self._on_task, names="value")
        self.index.observe(lambda _: self.update(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.task, self.index]), self.image])
        self.update()

    def _on_task(self, _change) -> None:
        self.index.max = self.benchmark.tasks[self.task.value].num_samples("test") - 1
        self.update()

    def update(self) -> None:
        """Predict the chosen image under every embedding and redraw."""
        import torch

        task = self.benchmark.tasks[self.task.value]
        x, y = task.batch("test", torch.tensor([self.index.value]))
        self.last = probabilities_per_embedding(self.hnet, self.target, x)[:, 0].numpy()   # (T, C)
        shown = (x[0] * self._std + self._mean).permute(1, 2, 0).numpy()
        names = [t.class_names for t in self.benchmark.tasks[:self.hnet.num_tasks]]
        fig = plot_embedding_predictions(shown, self.last, names, self.task.value,
                                         task.class_names[int(y[0])])
        show_png(self.image, figure_to_png(fig, dpi=self.dpi))
