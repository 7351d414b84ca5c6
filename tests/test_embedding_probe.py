"""Tests for the embedding-space probe: embedding_space.probe / evaluate_path / paths,
figures.EmbeddingProbeFigure and widgets.EmbeddingProbe (driven from code)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.text import Text

from hnet_utils.continual.learners import build_hnet, build_target
from hnet_utils.continual.training import subset_indices, train_continual
from hnet_utils.data.benchmarks import make_benchmark
from hnet_utils.experiments.configs import preset_config
from hnet_utils.viz import embedding_space as es
from hnet_utils.viz.figures import EmbeddingProbeFigure
from hnet_utils.viz.widgets import EmbeddingProbe

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def bench():
    return make_benchmark("regression", num_tasks=3, seed=0)


def untrained(bench, embedding_dim=2, seed=0):
    """An untrained regression hypernetwork with three task embeddings (spread apart)."""
    torch.manual_seed(seed)
    cfg = preset_config("regression", "fast", method="hnet", embedding_dim=embedding_dim)
    target = build_target(cfg, tuple(bench.input_shape), 1, regression=True)
    hnet = build_hnet(cfg, target)
    for _ in range(3):
        hnet.add_task()
    return hnet, target


@pytest.fixture(scope="module")
def trained(bench):
    """A short real training run of the regression toy, with embedding trajectories."""
    cfg = preset_config("regression", "fast", method="hnet", iterations=30)
    monitor = es.EmbeddingSpaceMonitor(es.benchmark_tasks_data(bench), resolution=4, refresh_every=1000)
    result = train_continual(cfg, benchmark=bench, callback=monitor, callback_every=5, progress=False)
    return result, monitor


# ---------------------------------------------------------------------------- paths


def test_straight_path_endpoints_are_the_two_embeddings():
    a, b = np.array([0.3, -1.2, 2.0]), np.array([1.7, 0.4, -0.5])
    path = es.straight_path(a, b, 50)
    assert path.shape == (50, 3)
    np.testing.assert_allclose(path[0], a, rtol=0, atol=1e-6)
    np.testing.assert_allclose(path[-1], b, rtol=0, atol=1e-6)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    np.testing.assert_allclose(steps, np.linalg.norm(b - a) / 49, rtol=1e-4)
    with pytest.raises(ValueError, match="same shape"):
        es.straight_path([0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="num"):
        es.straight_path(a, b, 1)


def test_resample_path_keeps_ends_and_spaces_by_arc_length():
    trajectory = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 3.0]])  # length 4, a repeated vertex
    path = es.resample_path(trajectory, 9)
    np.testing.assert_allclose(path[0], trajectory[0])
    np.testing.assert_allclose(path[-1], trajectory[-1])
    np.testing.assert_allclose(np.linalg.norm(np.diff(path, axis=0), axis=1), 0.5, rtol=1e-5)
    np.testing.assert_allclose(path[2], [1.0, 0.0], atol=1e-6)       # the corner, 1.0 along
    assert es.resample_path([[2.0, 1.0]], 4).tolist() == [[2.0, 1.0]] * 4


# ---------------------------------------------------------------------------- probe


def test_batched_path_equals_point_by_point(bench):
    hnet, target = untrained(bench)
    data = es.benchmark_tasks_data(bench)
    inputs = torch.linspace(-4, 4, 17).unsqueeze(1)
    points = es.straight_path(hnet.task_embedding(0).detach(), hnet.task_embedding(2).detach(), 7)
    path = es.evaluate_path(hnet, target, data, points, metric="mse", inputs=inputs)
    assert path.metrics.shape == (7, 3) and path.curves.shape == (7, 17, 1)
    for i, point in enumerate(points):
        one = es.probe(hnet, target, data, point, metric="mse", inputs=inputs)
        np.testing.assert_allclose(path.metrics[i], one.metrics, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(path.curves[i], one.curve, rtol=1e-5, atol=1e-6)
        for t in range(3):
            np.testing.assert_allclose(path.outputs[t][i], one.outputs[t], rtol=1e-5, atol=1e-6)
        step = path.step(i)
        np.testing.assert_allclose(step.point, point)
    grid = es.evaluate_embedding_grid(hnet, target, data, torch.as_tensor(points))  # (T, P)
    np.testing.assert_allclose(path.metrics, grid.numpy().T, rtol=1e-5, atol=1e-7)


def test_probe_at_learned_embedding_reproduces_the_engine_mse(bench, trained):
    result, _ = trained
    data = es.benchmark_tasks_data(bench, "test")
    for t in range(3):
        found = es.probe(result.hnet, result.target, data, result.hnet.task_embedding(t).detach())
        assert found.metrics[t] == pytest.approx(result.final[t], rel=1e-4, abs=1e-6)


def test_probe_at_learned_embedding_reproduces_the_engine_accuracy():
    bench = make_benchmark("split_mnist", num_tasks=5, seed=0)
    cfg = preset_config("split_mnist", "teaching_plane", fast=True).replace(iterations=15, num_tasks=3)
    result = train_continual(cfg, benchmark=bench, progress=False)
    data = []
    for j in range(3):   # the engine's fixed test subset of each task
        x, y = bench.tasks[j].tensors("test")
        idx = subset_indices(len(y), cfg.test_subset, cfg.seed + 2000 + j)
        data.append((x[idx], y[idx]))
    for t in range(3):
        found = es.probe(result.hnet, result.target, data, result.hnet.task_embedding(t).detach(),
                         metric="accuracy")
        assert 100 * found.metrics[t] == pytest.approx(result.final[t], abs=1e-3)


def test_first_step_worse_and_its_check_never_print_the_answer(capsys):
    metrics = np.array([[0.01, 5.0]] * 7 + [[0.5, 0.02]] * 5)       # task 1 worse than 0.1 from step 7
    assert es.first_step_worse(metrics, 0, 0.1) == 7
    assert es.first_step_worse(metrics, 1, 10.0) is None
    assert es.first_step_worse(100 - 100 * metrics, 0, 60, metric="accuracy") == 7
    path = es.PathEvaluation(points=np.zeros((12, 2)), metrics=metrics, outputs=[])
    assert not es.check_first_step_worse(path, 0, 0.1, answer=2)
    out = capsys.readouterr().out
    assert "later" in out and "7" not in out
    assert not es.check_first_step_worse(path, 0, 0.1, answer=None)
    assert "7" not in capsys.readouterr().out
    assert es.check_first_step_worse(path, 0, 0.1, answer=8)          # within one step
    assert capsys.readouterr().out.startswith("pass")
    assert es.check_first_step_worse(path, 1, 10.0, answer=None)


# ---------------------------------------------------------------------------- figure and widget


def test_probe_figure_fonts_are_readable(bench):
    fig = EmbeddingProbeFigure(3)
    xs = ys = np.linspace(-1, 1, 5)
    fig.set_maps(xs, ys, np.full((3, 5, 5), 0.1), np.zeros((3, 2)))
    fig.set_regression_data([(np.arange(3.0), np.arange(3.0))] * 3)
    fig.set_path(np.zeros((4, 2)), np.full((4, 3), 0.5), title="a path")
    fig.update([0.0, 0.0], [0.1, 0.2, 0.3], curve=(np.arange(3.0), np.arange(3.0)), step=2)
    fig.fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.fig.findobj(Text) if t.get_visible() and t.get_text()]
    assert sizes and min(sizes) >= 8


def test_widget_driven_from_code_updates_its_image(bench, trained):
    result, monitor = trained
    data = es.benchmark_tasks_data(bench)
    probe = EmbeddingProbe(result.hnet, result.target, data, trajectories=monitor.trajectories,
                           resolution=6, path_points=10)
    first = bytes(probe.image.value)
    assert first.startswith(PNG) and "probe" in probe.status.value
    found = probe.move_to(probe.x.value + 0.3, probe.y.value - 0.2)
    assert bytes(probe.image.value) != first and probe.last is found
    assert "trajectory:0" in probe.path_options
    probe.path.value = "line:0:2"                                    # what the dropdown does
    ends = probe.path_eval.points[[0, -1]]
    np.testing.assert_allclose(ends, probe.embeddings[[0, 2]], atol=1e-6)
    assert not probe.play.disabled and probe.play.max == 9
    before = bytes(probe.image.value)
    probe.play.value = 9                                             # what pressing play does
    assert bytes(probe.image.value) != before
    assert "path step 9" in probe.status.value
    assert (probe.x.value, probe.y.value) == pytest.approx(tuple(probe.embeddings[2]), abs=1e-2)
    np.testing.assert_allclose(probe.last.metrics, probe.path_eval.metrics[9])
    probe.show_path_step(4)                                          # from code: play follows, one redraw
    assert probe.play.value == 4 and "path step 4" in probe.status.value
    # the browser's slider echoes the kernel's position back, rounded to its step: not a move
    step = probe.x.step
    probe.x.value = probe.x.min + round((probe.x.value - probe.x.min) / step) * step
    assert "path step 4" in probe.status.value
    probe.x.value += 2 * step                                        # a real move by the user
    assert probe.status.value.startswith("<b>probe</b>")
    probe.path.value = "trajectory:1"
    np.testing.assert_allclose(probe.path_eval.points[-1], monitor.trajectories[1][-1], atol=1e-6)
    probe.path.value = "none"
    assert probe.play.disabled and probe.path_eval is None


def test_widget_on_a_plane_through_three_larger_embeddings(bench):
    hnet, target = untrained(bench, embedding_dim=4)
    with torch.no_grad():
        for t in range(3):
            hnet.task_embedding(t).copy_(torch.randn(4))
    data = es.benchmark_tasks_data(bench)
    probe = EmbeddingProbe(hnet, target, data, resolution=5, path_points=5)
    assert "plane through the 4-D embeddings of tasks 1, 2, 3" in probe.plane_note
    for t in range(3):   # every chosen embedding lies on the plane: probing its plane point probes it
        x, y = probe.coords[t]
        found = probe.move_to(float(x), float(y))
        np.testing.assert_allclose(found.point, probe.embeddings[t], atol=2e-2)  # slider step rounding
    with pytest.raises(ValueError, match="plane_tasks"):
        EmbeddingProbe(hnet, target, data, plane_tasks=(0, 1), resolution=3)


def test_probe_figure_blitting_matches_a_full_render():
    """to_png redraws only what moved over a cached background: same pixels as a full render."""
    import io

    from PIL import Image

    from hnet_utils.viz.figures import figure_to_png

    def pixels(png):
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)

    fig = EmbeddingProbeFigure(2, kind="classification", metric="accuracy", log=False, vmin=0, vmax=1,
                               cmap="magma")
    xs = ys = np.linspace(-1, 1, 6)
    fig.set_maps(xs, ys, np.random.default_rng(0).random((2, 6, 6)), [[0.5, 0.5], [-0.5, -0.5]])
    fig.set_digits(np.random.default_rng(1).random((2, 2, 28, 28)))
    fig.set_path([[0.5, 0.5], [-0.5, -0.5]], [[1.0, 0.5], [0.5, 1.0]], title="a path")
    for coords, labels in (([0.5, 0.5], "0"), ([-0.8, 0.3], "1")):   # the second must erase the first
        fig.update(coords, [0.9, 0.4], predictions=([[labels] * 2] * 2, [[True, False]] * 2))
        fast = pixels(fig.to_png(dpi=72))
        full = pixels(figure_to_png(fig.fig, dpi=72, close=False, tight=False))
        assert fast.shape == full.shape
        assert (np.abs(fast - full).sum(-1) > 30).mean() < 1e-3

