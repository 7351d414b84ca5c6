"""Figures are readable at the size they are shown (issue #11, items 9-11).

Each figure is checked at its display size: a PNG widget or an inline figure
is shown at its own pixel width, shrunk to the output area
(``figures.DISPLAY_WIDTH_PX``) when wider. Checked: fonts >= 8 pt there, tick
labels that do not overlap, labels inside the axes, every swept β plotted.
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
from matplotlib.text import Text

from hnet_utils.networks.targets import MLP
from hnet_utils.viz import figures
from hnet_utils.viz.embedding_space import EmbeddingSnapshot
from hnet_utils.viz.figures import DISPLAY_DPI, DISPLAY_WIDTH_PX, figure_to_png, png_width
from hnet_utils.viz.widgets import CompressionExplorer, EmbeddingSpaceView, beta_explorer

MIN_PT = 8.0


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
