"""Figures are readable at the size they are shown (issue #11, items 9-11; issue #29 §3).

Each figure is checked at its display size: a PNG widget or an inline figure
is shown at its own pixel width, shrunk to the output area
(``figures.DISPLAY_WIDTH_PX``) when wider. Checked: fonts >= 8 pt there (the
numbers inside accuracy-matrix cells too), tick labels that do not overlap
(within an axis and between neighbouring panels: no two texts of a figure
overlap), labels inside the axes, every swept β plotted, no legend over the
plotted bars, lines or points, a colour bar beside accuracy matrices, and
images of a sample grid shown at least ``MIN_SAMPLE_PX`` pixels wide.
Set ``HNET_FIGURES_DIR`` to a folder to save the PNGs and look at them.
"""

from __future__ import annotations

import os
import re
from itertools import combinations
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from hnet_utils.experiments.results import ContinualResult
from hnet_utils.networks.targets import MLP
from hnet_utils.viz import figures
from hnet_utils.viz.embedding_space import EmbeddingSnapshot
from hnet_utils.viz.figures import DISPLAY_DPI, DISPLAY_WIDTH_PX, figure_to_png, png_width
from hnet_utils.viz.widgets import CompressionExplorer, EmbeddingSpaceView, beta_explorer

MIN_PT = 8.0
#: Displayed width (CSS px) of one image of a sample grid (a 28 x 28 VAE sample): below it a
#: digit is a smudge.
MIN_SAMPLE_PX = 48


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def save(name: str, png: bytes) -> None:
    folder = os.environ.get("HNET_FIGURES_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.png").write_bytes(png)


def display_font_sizes(fig, dpi: int = DISPLAY_DPI, tight: bool = True) -> dict[str, float]:
    """Every visible text of ``fig`` -> its size in pt as shown (CSS: 96 px per inch)."""
    png = figure_to_png(fig, dpi=dpi, close=False, tight=tight)
    scale = min(1.0, DISPLAY_WIDTH_PX / png_width(png))
    return {t.get_text(): t.get_fontsize() * dpi / 96 * scale
            for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()}


def assert_readable(fig, dpi: int = DISPLAY_DPI, tight: bool = True) -> None:
    sizes = display_font_sizes(fig, dpi, tight)
    small = {text: round(size, 1) for text, size in sizes.items() if size < MIN_PT}
    assert not small, f"texts below {MIN_PT} pt at display size: {small}"


def renderer_of(fig):
    """The Agg renderer of ``fig`` after a draw (a plain ``Figure`` gets an Agg canvas)."""
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def tick_label_boxes(ax, axis: str = "x"):
    """Window extents of the tick labels drawn on ``axis`` (major and minor, inside the view)."""
    renderer = renderer_of(ax.figure)
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    ticks = ax.xaxis.get_major_ticks() + ax.xaxis.get_minor_ticks() if axis == "x" else \
        ax.yaxis.get_major_ticks() + ax.yaxis.get_minor_ticks()
    boxes = []
    for tick in ticks:
        label = tick.label1
        if label.get_visible() and label.get_text() and lo <= tick.get_loc() <= hi:
            boxes.append((label.get_text(), label.get_window_extent(renderer)))
    return boxes


def assert_no_overlap(ax, axis: str = "x") -> None:
    boxes = tick_label_boxes(ax, axis)
    clashes = [(a, b) for (a, ba), (b, bb) in combinations(boxes, 2) if ba.overlaps(bb)]
    assert not clashes, f"overlapping {axis} tick labels: {clashes}"


def assert_texts_inside_axes(ax) -> None:
    renderer = renderer_of(ax.figure)
    box = ax.get_window_extent(renderer)
    for text in ax.texts:
        ext = text.get_window_extent(renderer)
        assert box.x0 <= ext.x0 and ext.x1 <= box.x1 and box.y0 <= ext.y0 and ext.y1 <= box.y1, \
            f"label {text.get_text()!r} is clipped: {ext} outside the axes {box}"


def display_scale(fig, dpi: int = DISPLAY_DPI, tight: bool = True) -> float:
    """How much the notebook shrinks ``fig``'s PNG (1: shown at its own size)."""
    return min(1.0, DISPLAY_WIDTH_PX / png_width(figure_to_png(fig, dpi=dpi, close=False, tight=tight)))


def all_axes(fig) -> list:
    """The axes of ``fig`` and their child axes (e.g. a colour bar made with ``inset_axes``)."""
    found = []
    for ax in fig.axes:
        found += [ax, *ax.child_axes]
    return found


def drawn_texts(fig, dpi: int | None = None) -> list[tuple[Text, Bbox]]:
    """Every text drawn in ``fig`` with its window extent: tick labels (of ticks inside the
    view), titles, axis labels, annotations, legend texts, figure texts."""
    if dpi is not None:
        fig.set_dpi(dpi)
    renderer = renderer_of(fig)
    texts = []
    for ax in all_axes(fig):
        if not ax.get_visible():
            continue
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if lo - 1e-9 * (hi - lo) <= tick.get_loc() <= hi + 1e-9 * (hi - lo):
                    texts += [tick.label1, tick.label2]
            texts.append(axis.label)
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            texts += [*legend.get_texts(), legend.get_title()]
    for legend in fig.legends:
        texts += [*legend.get_texts(), legend.get_title()]
    texts += list(fig.texts)
    if fig._suptitle is not None:
        texts.append(fig._suptitle)
    drawn = []
    for text in texts:
        if text.get_visible() and text.get_text().strip() and (text.axes is None or text.axes.get_visible()):
            drawn.append((text, text.get_window_extent(renderer)))
    return drawn


def assert_no_text_overlap(fig, dpi: int | None = None) -> None:
    """No two texts of ``fig`` overlap (more than 1 px): tick labels within an axis and between
    neighbouring panels, annotations of a scatter, titles, legends."""
    boxes = drawn_texts(fig, dpi)
    clashes = []
    for (a, ba), (b, bb) in combinations(boxes, 2):
        if a is b:
            continue
        if min(ba.x1, bb.x1) - max(ba.x0, bb.x0) > 1 and min(ba.y1, bb.y1) - max(ba.y0, bb.y0) > 1:
            clashes.append((a.get_text(), b.get_text()))
    assert not clashes, f"{len(clashes)} overlapping texts, e.g. {clashes[:8]}"


def data_points(ax, step_px: float = 2.0) -> np.ndarray:
    """Display coordinates of the plotted lines (densified along each segment) and points."""
    points = []
    for line in ax.lines:
        if not line.get_visible() or line.get_transform() != ax.transData:
            continue  # reference lines (axhline / axvline) span the axes and are not data
        xy = ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float))
        xy = xy[np.isfinite(xy).all(1)]
        for a, b in zip(xy[:-1], xy[1:]) if line.get_linestyle() not in ("None", "none", "") else []:
            n = max(2, int(np.hypot(*(b - a)) / step_px) + 1)
            points.append(np.linspace(a, b, n))
        points.append(xy)
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and coll.get_visible() and len(coll.get_offsets()):
            points.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float)))
    return np.concatenate(points) if points else np.zeros((0, 2))


def legends_of(fig) -> list:
    return [ax.get_legend() for ax in all_axes(fig) if ax.get_legend() is not None] + list(fig.legends)


def assert_legend_clear_of_data(fig) -> None:
    """No legend box covers a plotted bar, line or point of any panel."""
    renderer = renderer_of(fig)
    legends = legends_of(fig)
    assert legends, "the figure has no legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            for patch in ax.patches:
                if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_height() and patch.get_width():
                    ext = patch.get_window_extent(renderer)
                    if min(box.x1, ext.x1) - max(box.x0, ext.x0) > 0.5 and min(box.y1, ext.y1) - max(box.y0, ext.y0) > 0.5:
                        raise AssertionError(f"the legend {box} covers a bar at {ext} in {ax.get_title()!r}")
            pts = data_points(ax)
            inside = ((pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1))
            assert not inside.any(), (f"the legend {box} covers {inside.sum()} plotted points of "
                                      f"{ax.get_title()!r}, e.g. {pts[inside][:3].round()}")


def assert_matrix_colour_bar(fig, low: float = 0, high: float = 100) -> None:
    """Every heatmap (QuadMesh) of ``fig`` is explained by a colour bar of the same colours."""
    from matplotlib.collections import QuadMesh

    meshes = [c for ax in fig.axes for c in ax.collections if isinstance(c, QuadMesh)]
    assert meshes, "no heatmap in the figure"
    bars = [c.colorbar for ax in all_axes(fig) for c in ax.collections if getattr(c, "colorbar", None)]
    assert bars, "the accuracy matrices have no colour bar"
    for mesh in meshes:
        assert any(bar.mappable.get_cmap().name == mesh.get_cmap().name and
                   (bar.mappable.norm.vmin, bar.mappable.norm.vmax) == (mesh.norm.vmin, mesh.norm.vmax)
                   for bar in bars), "a matrix's colours differ from every colour bar's"
        assert (mesh.norm.vmin, mesh.norm.vmax) == (low, high)
    # the colour bar is inside the picture shown (not cropped away)
    renderer = renderer_of(fig)
    whole = fig.get_tightbbox(renderer)  # inches: what the PNG shows
    for bar in bars:
        ext = bar.ax.get_tightbbox(renderer).transformed(fig.dpi_scale_trans.inverted())
        assert whole.x0 - 1e-3 <= ext.x0 and ext.x1 <= whole.x1 + 1e-3, "the colour bar is cropped"
        width_px = bar.ax.get_window_extent(renderer).width * display_scale(fig, dpi=fig.dpi)
        assert width_px >= 8, f"the colour bar is {width_px:.0f} px wide: too thin to read"


def displayed_sample_px(fig, sample_side: int = 28, dpi: int | None = None) -> list[float]:
    """Displayed width (CSS px) of one ``sample_side``-pixel sample in every image of ``fig``."""
    dpi = dpi or fig.dpi
    scale = display_scale(fig, dpi=dpi)
    fig.set_dpi(dpi)
    renderer = renderer_of(fig)
    sizes = []
    for ax in fig.axes:
        for image in ax.get_images():
            width_px = image.get_window_extent(renderer).width
            columns = image.get_array().shape[1]
            sizes.append(width_px / columns * sample_side * scale)
    assert sizes, "no image in the figure"
    return sizes


# ------------------------------------------------------------- notebook 02: compression sweep

COMPRESSION_ROWS = [  # the shape of studies.compression_sweep's rows (teaching_sweep variants)
    dict(ratio=0.0623, hnet_params=20_611, average_final=92.1),
    dict(ratio=0.0959, hnet_params=31_720, average_final=94.0),
    dict(ratio=0.3106, hnet_params=102_736, average_final=95.2),
    dict(ratio=0.7883, hnet_params=260_744, average_final=96.0),
    dict(ratio=1.5810, hnet_params=522_912, average_final=96.3),
]


def test_compression_sweep_ticks_do_not_overlap_and_labels_are_inside():
    fig = figures.plot_compression(COMPRESSION_ROWS)  # shown inline at the default 100 dpi
    ax = fig.axes[0]
    assert_no_overlap(ax, "x")
    assert_texts_inside_axes(ax)
    assert_no_text_overlap(fig)
    assert_readable(fig, dpi=fig.dpi)
    save("compression_sweep", figure_to_png(fig, dpi=fig.dpi, close=False))


def test_compression_sweep_short_log_range_has_ticks_without_overlap():
    rows = [dict(ratio=r, hnet_params=1000 + i, average_final=90.0 + i)
            for i, r in enumerate([0.12, 0.2, 0.35, 0.6, 0.9])]  # minor labels overlapped here
    ax = figures.plot_compression(rows).axes[0]
    assert_no_overlap(ax, "x")
    assert len(tick_label_boxes(ax, "x")) >= 2
    assert_texts_inside_axes(ax)


# ---------------------------------------------------------------- notebook 02: β explorer

BETA_ROWS = [dict(beta=b, during=[97.0, 96.5, 96.0], final=[f, f + 1, 96.0],
                  average_during=96.5, average_final=f + 1.0 / 3)
             for b, f in [(0.0, 60.0), (0.003, 85.0), (0.03, 94.0), (0.3, 95.0), (3.0, 93.0)]]


@pytest.mark.parametrize("beta", [0.0, 0.03])
def test_beta_tradeoff_plots_beta_zero_and_whole_tasks(beta):
    fig = figures.plot_beta_tradeoff(BETA_ROWS, beta)
    left, right = fig.axes
    assert [line.get_xdata().tolist() for line in right.lines[:2]] == [[0, 1, 2, 3, 4]] * 2
    assert [t.get_text() for t in right.get_xticklabels()] == ["0", "0.003", "0.03", "0.3", "3"]
    assert right.lines[0].get_ydata()[0] == 96.5 and right.lines[1].get_ydata()[0] == 60.0 + 1 / 3
    lo, hi = left.get_xlim()
    assert [t for t in left.get_xticks() if lo <= t <= hi] == [1, 2, 3]  # no 0.75, 1.25 ...
    for ax in (left, right):
        assert_no_overlap(ax, "x")
    assert_readable(fig)


def test_beta_explorer_image_is_shown_at_its_own_width():
    box, slider, image = beta_explorer(BETA_ROWS)
    slider.value = 0.0
    assert image.layout.width == f"{png_width(image.value)}px" and image.layout.max_width == "100%"
    save("beta_explorer_beta0", image.value)


# ----------------------------------------------------- notebooks 00/02: compression explorer


@pytest.fixture(scope="module")
def explorer():
    target = MLP(in_features=784, hidden=(400, 400), out_features=2)
    return CompressionExplorer(target, embedding_dim=96, chunk_embedding_dim=96, hidden=(10, 10),
                               num_tasks=5, chunk_size=42_000)


def test_compression_explorer_curve_is_sharp_and_readable(explorer):
    png = explorer.figure.value
    width = png_width(png)
    # shown at its own size (not stretched by the VBox): sharp, fonts at their size
    assert explorer.figure.layout.width == f"{width}px" and explorer.figure.layout.max_width == "100%"
    assert width <= DISPLAY_WIDTH_PX
    fig = plt.figure(figsize=(5, 3))
    figures.plot_compression_curve(explorer.curve_sizes, explorer.curve_ratios, ax=fig.subplots(),
                                   current=42_000, title="title")
    assert_readable(fig)
    assert_no_overlap(fig.axes[0], "x")
    save("compression_explorer", png)


def test_compression_explorer_table_aligns_and_separates_thousands(explorer):
    html = explorer.table.value
    assert "475,202" in html  # target weights, with a thousands separator
    # every numeric column: header and cells share one alignment
    heads = re.findall(r'<th style="text-align:(\w+)">([^<]*)</th>', html.split("<tbody>")[0])
    assert heads and all(align == "right" for align, name in heads[1:])
    cells = re.findall(r'<td style="text-align:(\w+)">([^<]*)</td>', html)
    assert all(align == "right" for align, _ in cells)
    big = [value for _, value in cells if value.replace(",", "").isdigit() and int(value.replace(",", "")) >= 1000]
    assert big and all("," in value for value in big)


# ------------------------------------------------------------ notebook 03: embedding maps


def snapshot(num_tasks: int = 5) -> EmbeddingSnapshot:
    xs, ys = np.linspace(-2, 2, 16), np.linspace(-1.5, 1.5, 12)
    grids = np.random.default_rng(0).uniform(0, 1, (num_tasks, len(ys), len(xs)))
    embeddings = np.random.default_rng(1).uniform(-1, 1, (num_tasks, 2))
    return EmbeddingSnapshot(xs=xs, ys=ys, grids=grids, embeddings=embeddings, task=num_tasks - 1,
                             step=10, seconds=0.01, trajectories=[])


@pytest.mark.parametrize("num_tasks", [3, 5])
def test_embedding_maps_are_readable_as_widget_and_static_copy(num_tasks):
    view = EmbeddingSpaceView(num_tasks, metric="accuracy", vmin=0.0, vmax=1.0, log=False,
                              cmap="magma")
    view(snapshot(num_tasks))
    assert view.image.layout.width == f"{png_width(view.image.value)}px"
    assert png_width(view.image.value) <= DISPLAY_WIDTH_PX  # not shrunk in the notebook
    assert_readable(view.figure.fig, dpi=view.dpi, tight=False)
    static = figures.plot_plane(snapshot(num_tasks), title="after the last task")
    assert_readable(static, dpi=static.dpi)
    for ax in static.axes:
        assert_no_overlap(ax, "x")
    save(f"embedding_maps_{num_tasks}", view.image.value)
    save(f"embedding_static_{num_tasks}", figure_to_png(static, dpi=static.dpi, close=False))


# ---------------------------------------------------- notebooks 02 and 06: accuracy matrices


def accuracy_result(num_tasks: int, seed: int = 0, forgetting: float = 6.0) -> ContinualResult:
    """A lower-triangular accuracy matrix with one- to three-digit numbers (100 and 0 included)."""
    rng = np.random.default_rng(seed)
    matrix = [[float(np.clip(round(99.6 - forgetting * (i - j) * rng.uniform(0.5, 1.5), 1), 0, 100))
               if j <= i else None for j in range(num_tasks)] for i in range(num_tasks)]
    matrix[0][0] = 100.0
    return ContinualResult(config={"benchmark": "split_mnist"}, metric="accuracy", matrix=matrix,
                           wall_time_s=1.0, device="cpu")


MATRIX_CASES = {  # the calls of notebook 02 (section 3, section 4) and notebook 06 (section 3)
    "02_four_methods": (["HNET", "fine-tuning", "EWC", "SI"], 10, ""),
    "02_paper_run": (["paper configuration (our run)"], 10, ""),
    "06_split_mnist_cl3": (["HNET+ENT", "fine-tuning", "EWC", "Online EWC", "SI", "HNET+TIR", "HNET+R",
                            "DGR+distill"], 5, "split_mnist CL3"),
    "06_permuted_mnist_cl1": (["HNET", "fine-tuning", "EWC", "Online EWC", "SI"], 10, "permuted_mnist CL1"),
}


@pytest.mark.parametrize("case", MATRIX_CASES)
def test_accuracy_matrices_are_readable_and_have_a_colour_bar(case):
    names, num_tasks, title = MATRIX_CASES[case]
    results = {name: accuracy_result(num_tasks, seed=k, forgetting=25.0 if k % 2 else 4.0)
               for k, name in enumerate(names)}
    fig = figures.plot_accuracy_matrices(results, title=title)
    assert_readable(fig, dpi=fig.dpi)            # the numbers inside the cells included
    assert_no_text_overlap(fig)                  # tick labels, cell numbers, titles of neighbours
    for ax in fig.axes:                          # upright task numbers: "10" above "9", not "109"
        assert all(label.get_rotation() == 0 for label in ax.get_yticklabels() + ax.get_xticklabels())
    assert_matrix_colour_bar(fig)
    save(f"accuracy_matrices_{case}", figure_to_png(fig, dpi=fig.dpi, close=False))


# -------------------------------------------------------- notebook 06: compression of runs

# The shape of notebook 06's rows before it picks the paper's runs (rep.compression_rows of every
# results file): many seeds and investigation variants at a handful of ratios.
COMPRESSION_RUNS = [
    ("permuted_mnist", 1, 0.955, [97.3, 97.5, 97.4, 97.4, 97.5, 97.5, 97.5, 97.4, 97.2, 97.5, 97.6, 97.4]),
    ("permuted_mnist", 2, 0.955, [91.2, 90.8]),
    ("permuted_mnist", 3, 0.955, [89.5, 90.9, 87.6, 85.0]),
    ("permuted_mnist", 1, 1.204, [68.9, 69.6, 66.7]),
    ("permuted_mnist", 1, 0.992, [97.9, 97.9, 97.8, 97.8, 97.9, 97.8]),
    ("permuted_mnist", 1, 0.997, [98.2, 97.5, 97.7, 98.0, 97.8, 97.8]),
    ("split_cifar10_substitute", 1, 0.136, [35.7, 32.9, 30.6, 19.5]),
    ("split_cifar10_substitute", 1, 0.945, [39.6, 39.9]),
    ("split_mnist", 1, 0.973, [99.8, 99.7, 99.7, 99.7, 99.7, 99.8, 99.7]),
    ("split_mnist", 2, 0.973, [85.5, 90.3, 88.1]),
    ("split_mnist", 3, 0.973, [67.8, 70.7, 64.1, 60.8, 67.7, 66.2, 71.7, 65.2, 67.2, 63.0, 67.4, 66.2,
                               62.1, 66.5, 62.5, 67.4, 66.5, 65.0, 67.0, 62.3, 60.4, 57.3, 54.5, 63.7]),
]
COMPRESSION_06 = [dict(file=f"{bench}_hnet_cl{s}_{k}.json", benchmark=bench, scenario=s, ratio=ratio,
                       hnet_params=int(ratio * 100_000), average_final=acc, setting=f"{bench} CL{s}")
                  for bench, s, ratio, accs in COMPRESSION_RUNS for k, acc in enumerate(accs)]


@pytest.mark.parametrize("label_key", ["benchmark", "setting"])
def test_compression_of_many_runs_has_no_pile_of_labels(label_key):
    fig = figures.plot_compression(COMPRESSION_06, label_key=label_key)
    assert_no_text_overlap(fig)                  # no block of merged point labels
    assert_legend_clear_of_data(fig)             # the groups are told apart by a legend beside the data
    assert_readable(fig, dpi=fig.dpi)
    assert_texts_inside_axes(fig.axes[0])
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) + sum(len(l.get_xdata()) for l in ax.lines
                                                                   if l.get_transform() == ax.transData) \
        >= len(COMPRESSION_06)                   # every run still drawn
    save(f"compression_runs_{label_key}", figure_to_png(fig, dpi=fig.dpi, close=False))


# ------------------------------------------------------- notebook 05: during / final bars


def cifar_result(during, final) -> ContinualResult:
    """Task j: ``during[j]`` right after learning it, ``final[j]`` after the last task."""
    K = len(during)
    matrix = [[(final[j] if i == K - 1 else during[j]) if j <= i else None for j in range(K)]
              for i in range(K)]
    return ContinualResult(config={"benchmark": "split_cifar10_substitute"}, metric="accuracy",
                           matrix=matrix, wall_time_s=1.0, device="cpu")


def test_during_final_bars_keep_the_legend_off_the_bars():
    runs = {"HNET": cifar_result([61, 36, 39, 32, 34, 28], [52, 34, 38, 29, 33, 28]),
            "HNET, β = 0": cifar_result([61, 42, 47, 44, 41, 49], [8, 10, 13, 16, 21, 49]),
            "fine-tuning": cifar_result([63, 50, 50, 48, 49, 53], [43, 31, 35, 26, 44, 53]),
            "from scratch": cifar_result([63, 39, 39, 38, 40, 43], [63, 39, 39, 38, 40, 43])}
    fig = figures.plot_during_final_bars(runs, title="CIFAR-10 (JPEG mirror); substitute for Split "
                                         "CIFAR-10/100: light = right after learning the task, "
                                         "dark = after task 6")
    assert_legend_clear_of_data(fig)
    assert_no_text_overlap(fig)
    assert_readable(fig, dpi=fig.dpi)
    save("during_final_bars", figure_to_png(fig, dpi=fig.dpi, close=False))


# ------------------------------------------------------ notebooks 01 and 03: embedding probe


def widget_dpi() -> int:
    """The resolution the probe widget renders its figure at (its default)."""
    import inspect

    from hnet_utils.viz.widgets import EmbeddingProbe

    return inspect.signature(EmbeddingProbe).parameters["dpi"].default


def crossing_metrics(steps: int, num_tasks: int) -> np.ndarray:
    """Metrics along a path whose lines cross the whole panel (no free corner for a legend)."""
    s = np.linspace(0, 1, steps)[:, None]
    t = np.arange(num_tasks)[None, :]
    return np.clip(0.5 + 0.5 * np.cos(np.pi * (s * (1 + t) + t / num_tasks)), 0, 1)


def test_probe_on_a_plane_through_four_dimensional_embeddings_is_readable():
    """Notebook 03, section 'Beyond 2-D': five tasks, plane axes over [-3, 3], a path chosen."""
    from hnet_utils.viz.figures import EmbeddingProbeFigure

    dpi = widget_dpi()
    fig = EmbeddingProbeFigure(5, kind="classification", metric="accuracy", log=False, vmin=0.0, vmax=1.0,
                               cmap="magma", axis_labels=("plane x", "plane y"))
    xs = ys = np.linspace(-3.0, 3.0, 12)
    rng = np.random.default_rng(0)
    fig.set_maps(xs, ys, rng.uniform(0, 1, (5, 12, 12)), rng.uniform(-2.5, 2.5, (5, 2)))
    fig.set_digits(rng.uniform(0, 1, (5, 2, 28, 28)))
    fig.set_path(np.linspace([-2.5, -2.0], [2.5, 2.0], 50), crossing_metrics(50, 5),
                 title="straight line: task 1 → task 3")
    fig.update([0.0, 0.0], [1.0, 1.0, 0.55, 0.0, 1.0],
               predictions=([["0", "1"], ["2", "3"], ["4", "5"], ["6", "7"], ["8", "9"]],
                            [[True, False]] * 5), step=25)
    png = fig.to_png(dpi=dpi)
    assert png_width(png) <= DISPLAY_WIDTH_PX   # shown at 100 %, not shrunk
    assert_readable(fig.fig, dpi=dpi, tight=False)
    assert_no_text_overlap(fig.fig, dpi=dpi)     # "3" of one panel and "-3" of the next included
    assert_legend_clear_of_data(fig.fig)
    save("embedding_probe_4d", png)


def test_probe_widget_of_the_regression_toy_is_shown_readable():
    """Notebook 01: the widget's own PNG, at the size the notebook shows it."""
    import torch

    from hnet_utils.continual.learners import build_hnet, build_target
    from hnet_utils.data.benchmarks import make_benchmark
    from hnet_utils.experiments.configs import preset_config
    from hnet_utils.viz import embedding_space as es
    from hnet_utils.viz.widgets import EmbeddingProbe

    bench = make_benchmark("regression", num_tasks=3, seed=0)
    torch.manual_seed(0)
    cfg = preset_config("regression", "fast", method="hnet")
    target = build_target(cfg, tuple(bench.input_shape), 1, regression=True)
    hnet = build_hnet(cfg, target)
    for _ in range(3):
        hnet.add_task()
    probe = EmbeddingProbe(hnet, target, es.benchmark_tasks_data(bench), resolution=6, path_points=12)
    probe.select_path("line:0:2")
    png = probe.image.value
    assert probe.image.layout.width == f"{png_width(png)}px" and probe.image.layout.max_width == "100%"
    assert png_width(png) <= DISPLAY_WIDTH_PX
    assert_readable(probe.figure.fig, dpi=probe.dpi, tight=False)   # ticks included
    assert_no_text_overlap(probe.figure.fig, dpi=probe.dpi)
    assert_legend_clear_of_data(probe.figure.fig)
    save("embedding_probe_regression", png)


# -------------------------------------------------------------- notebook 04: dream grids


def test_dream_grids_show_every_sample_large_enough():
    import torch

    rng = torch.Generator().manual_seed(0)
    stages = [torch.rand(k + 1, 8, 784, generator=rng) for k in range(5)]   # after task 1 .. 5
    fig = figures.plot_dreams(stages, "HNET+R: decoder weights from a regularised hypernetwork")
    sizes = displayed_sample_px(fig, sample_side=28)
    assert min(sizes) >= MIN_SAMPLE_PX - 1e-6, f"samples shown {min(sizes):.0f} px wide, need {MIN_SAMPLE_PX}"
    assert_readable(fig, dpi=fig.dpi)
    assert_no_text_overlap(fig)
    save("dreams", figure_to_png(fig, dpi=fig.dpi, close=False))
