"""Tests for hnet_utils.viz.figures: figures and tables built from plain arrays."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from hnet_utils.viz import figures as plotting


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def three_tasks():
    xs = [np.linspace(-4, -2, 20), np.linspace(-1, 1, 20), np.linspace(2, 4, 20)]
    return [(x, x + 1.0) for x in xs]


def test_regression_fits_draws_points_and_only_learned_curves():
    data = three_tasks()
    curves = [(data[0][0], data[0][1]), (torch.linspace(-1, 1, 5), torch.zeros(5, 1)), None]
    fig = plotting.plot_regression_fits(data, curves, title="after task 2")
    ax = fig.axes[0]
    assert len(ax.collections) == 3          # one scatter per task
    assert len(ax.lines) == 2                # curves of the two learned tasks only
    assert ax.get_title() == "after task 2"
    np.testing.assert_allclose(ax.lines[1].get_ydata(), np.zeros(5))


def test_regression_fits_rejects_mismatched_input():
    data = three_tasks()
    with pytest.raises(ValueError, match="curves"):
        plotting.plot_regression_fits(data, [None, None])
    with pytest.raises(ValueError, match=r"data\[1\]"):
        plotting.plot_regression_fits([data[0], (np.zeros(3), np.zeros(4))], [None, None])
    with pytest.raises(ValueError, match=r"curves\[0\]"):
        plotting.plot_regression_fits(data, [(np.zeros(3), np.zeros(2)), None, None])


def test_fit_grid_has_one_panel_per_method_and_stage():
    data = three_tasks()
    stage = lambda i: [(x, y) if t <= i else None for t, (x, y) in enumerate(data)]
    fits = [stage(0), stage(1), stage(2)]
    fig = plotting.plot_fit_grid(data, {"fine-tuning": fits, "hnet": fits})
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == "fine-tuning: after task 1"
    assert fig.axes[5].get_title() == "hnet: after task 3"
    assert len(fig.axes[5].lines) == 3 and len(fig.axes[3].lines) == 1
    with pytest.raises(ValueError, match="same number of stages"):
        plotting.plot_fit_grid(data, {"a": fits, "b": fits[:2]})
    with pytest.raises(ValueError, match="fits_by_method"):
        plotting.plot_fit_grid(data, {})


def test_metric_table_adds_mean_and_checks_lengths():
    table = plotting.metric_table({"fine-tuning": [1.0, 2.0, 0.0], "hnet": [0.1, 0.2, 0.3]})
    assert list(table.columns) == ["task 1", "task 2", "task 3", "mean MSE"]
    assert table.loc["fine-tuning", "mean MSE"] == pytest.approx(1.0)
    assert table.loc["hnet", "task 3"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="same number of tasks"):
        plotting.metric_table({"a": [1.0], "b": [1.0, 2.0]})
    with pytest.raises(ValueError, match="task_names"):
        plotting.metric_table({"a": [1.0, 2.0]}, task_names=["only one"])


def test_metric_matrix_masks_untrained_entries():
    matrix = [[0.1, None, None], [2.0, 0.2, None], [3.0, 4.0, 0.3]]
    fig = plotting.plot_metric_matrix(matrix, title="fine-tuning")
    ax = fig.axes[0]
    annotations = [t.get_text() for t in ax.texts]
    assert len(annotations) == 6             # only the lower triangle is annotated
    assert "4" in annotations and ax.get_title() == "fine-tuning"
    with pytest.raises(ValueError, match="square"):
        plotting.plot_metric_matrix([[1.0, 2.0]])


def test_embedding_heatmaps_layout_markers_and_paths():
    xs, ys = np.linspace(-2, 2, 7), np.linspace(-1, 3, 5)
    grids = np.random.default_rng(0).uniform(0.01, 10, size=(3, 5, 7))
    embeddings = np.array([[0.0, 0.0], [1.0, 1.0]])
    paths = [np.array([[0.5, 0.5], [0.0, 0.0]]), np.array([[1.5, 1.5], [1.0, 1.0]])]
    fig = plotting.plot_embedding_heatmaps(xs, ys, grids, embeddings, paths)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3                   # one heatmap per task
    np.testing.assert_allclose(panels[0].images[0].get_array(), grids[0])
    assert list(panels[0].images[0].get_extent()) == [-2, 2, -1, 3]
    drawn = [line for line in panels[1].lines if len(line.get_xdata())]
    assert len(drawn) == 2                    # both trajectories on every panel
    np.testing.assert_allclose(drawn[1].get_xydata(), paths[1])
    own, others = panels[0].collections[1], panels[0].collections[0]
    np.testing.assert_allclose(own.get_offsets(), [[0.0, 0.0]])       # task 1's star
    np.testing.assert_allclose(others.get_offsets(), [[1.0, 1.0]])    # the other embedding
    assert len(panels[2].collections[1].get_offsets()) == 0            # task 3 not learned yet
    png = plotting.figure_to_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_embedding_heatmap_figure_updates_in_place_and_validates():
    view = plotting.EmbeddingHeatmapFigure(2, vmin=1e-2, vmax=10)
    xs = ys = np.linspace(0, 1, 4)
    fig = view.update(xs, ys, np.ones((2, 4, 4)), np.zeros((1, 2)))
    image = view.images[0]
    assert view.update(xs * 2, ys, np.full((2, 4, 4), 0.5), np.zeros((2, 2))) is fig
    assert view.images[0] is image and image.get_array()[0, 0] == 0.5
    assert list(image.get_extent()) == [0, 2, 0, 1]
    assert len([ax for ax in fig.axes if ax.images]) == 2
    with pytest.raises(ValueError, match="grids must have shape"):
        view.update(xs, ys, np.ones((2, 3, 4)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="embeddings must have shape"):
        view.update(xs, ys, np.ones((2, 4, 4)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="trajectories"):
        view.update(xs, ys, np.ones((2, 4, 4)), np.zeros((1, 2)), [np.zeros((1, 2))] * 2)
    with pytest.raises(ValueError, match="vmin"):
        plotting.EmbeddingHeatmapFigure(2, vmin=0.0, vmax=1.0)


def test_plot_curves_one_line_per_weight_set():
    x = torch.linspace(0, 1, 5).unsqueeze(1)
    ys = torch.stack([x * k for k in range(3)])          # (3, 5, 1) like forward_with_weights
    fig = plotting.plot_curves(x, ys, labels=["a", "b", "c"])
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    np.testing.assert_allclose(ax.lines[2].get_ydata(), 2 * np.linspace(0, 1, 5))
    with pytest.raises(ValueError, match="ys must have shape"):
        plotting.plot_curves(x, torch.zeros(3, 4))
    with pytest.raises(ValueError, match="labels"):
        plotting.plot_curves(x, ys, labels=["a"])


def test_parameter_table_counts_and_ratio():
    from hnet_utils.networks.hypernet import ChunkedHyperNetwork, HyperNetwork
    from hnet_utils.networks.targets import MLP, num_params

    target = MLP(3, (4,), 2)                              # 3*4+4 + 4*2+2 = 26 weights
    full = HyperNetwork(26, embedding_dim=2, hidden=())
    chunked = ChunkedHyperNetwork(26, embedding_dim=2, chunk_embedding_dim=1, chunk_size=10, hidden=())
    full.add_task(), chunked.add_task()
    table = plotting.parameter_table(target, {"full": full, "chunked": chunked})
    assert num_params(target) == 26
    assert table.loc["full", "layers"] == 3 * 26          # (2 inputs + bias) x 26 outputs
    assert table.loc["chunked", "chunks"] == 3
    assert table.loc["chunked", "chunk embeddings"] == 3
    assert table.loc["chunked", "trainable total"] == 4 * 10 + 3 + 2
    assert table.loc["chunked", "compression ratio"] == pytest.approx(45 / 26, abs=1e-4)
    with pytest.raises(ValueError, match="hnets"):
        plotting.parameter_table(target, {})


def test_compression_curve_plot_marks_current_size():
    fig = plotting.plot_compression_curve([10, 100, 1000], [2.0, 0.5, 3.0], current=100)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[100, 0.5]])
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="equally long"):
        plotting.plot_compression_curve([10, 100], [1.0])
    with pytest.raises(ValueError, match="> 0"):
        plotting.plot_compression_curve([0, 100], [1.0, 2.0])


class State:
    """The fields of training.TrainState the recorder reads."""

    def __init__(self, task, method, target, hnet=None, event="task_end"):
        self.event, self.task, self.target, self.hnet = event, task, target, hnet
        self.config = type("Cfg", (), {"method": method})()


def test_fit_recorder_per_method():
    from hnet_utils.data.benchmarks import make_benchmark
    from hnet_utils.networks.hypernet import HyperNetwork
    from hnet_utils.networks.targets import MLP, forward_with_weights, num_params

    bench = make_benchmark("regression", num_tasks=3, seed=0)
    torch.manual_seed(0)
    net = MLP(1, (3,), 1)
    rec = plotting.FitRecorder(bench, num_points=11)
    rec(State(0, "finetune", net, event="step"))         # steps are ignored
    rec(State(0, "finetune", net))
    rec(State(1, "finetune", net))
    assert len(rec.fits) == 2 and rec.fits[0][1] is None and rec.fits[1][2] is None
    x1, y1 = rec.fits[1][0]
    np.testing.assert_allclose(x1, np.linspace(-4, -2, 11), rtol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(y1, net(torch.tensor(x1).float().unsqueeze(1)).reshape(-1).numpy(), rtol=1e-5)

    # scratch: an old task keeps the curve recorded right after it was learned
    scratch = plotting.FitRecorder(bench, num_points=5)
    first, second = MLP(1, (3,), 1), MLP(1, (3,), 1)
    scratch(State(0, "scratch", first))
    scratch(State(1, "scratch", second))
    assert scratch.fits[1][0] is scratch.fits[0][0]

    # hypernetwork: task j is predicted with the weights of embedding j
    h = HyperNetwork(num_params(net), embedding_dim=2)
    h.add_task(), h.add_task()
    hrec = plotting.FitRecorder(bench, num_points=5)
    hrec(State(1, "hnet", net, hnet=h))
    x, y = hrec.fits[0][1]
    with torch.no_grad():
        expected = forward_with_weights(net, h(task_id=1), torch.tensor(x).float().unsqueeze(1))
    np.testing.assert_allclose(y, expected.reshape(-1).numpy(), rtol=1e-5)


def test_regression_data_rejects_classification():
    fake = type("B", (), {"kind": "classification"})()
    with pytest.raises(ValueError, match="regression"):
        plotting.regression_data(fake)
    with pytest.raises(ValueError, match="regression"):
        plotting.FitRecorder(fake)


def test_figure_to_png_rejects_bad_dpi():
    fig = plt.figure()
    with pytest.raises(ValueError, match="dpi"):
        plotting.figure_to_png(fig, dpi=0)


def _cifar_like(during, final):
    from hnet_utils.experiments.results import ContinualResult
    K = len(during)
    matrix = [[during[j] if j == i else (final[j] if i == K - 1 else during[j]) if j <= i else None
               for j in range(K)] for i in range(K)]
    return ContinualResult(config={"benchmark": "split_cifar10_substitute"}, metric="accuracy",
                           matrix=matrix, wall_time_s=1.0, device="cpu")


def test_during_final_bars_draw_one_panel_per_method_and_check_task_counts():
    a = _cifar_like([80, 60, 61], [79, 60, 60])
    b = _cifar_like([80, 40, 41], [30, 20, 41])
    fig = plotting.plot_during_final_bars({"HNET": a, "fine-tuning": b})
    assert [ax.get_title() for ax in fig.axes] == ["HNET", "fine-tuning"]
    heights = [p.get_height() for p in fig.axes[1].patches]
    assert heights == [80, 40, 41, 30, 20, 41]                   # during bars, then final bars
    with pytest.raises(ValueError, match="same number of tasks"):
        plotting.plot_during_final_bars({"a": a, "b": _cifar_like([1, 2], [1, 2])})
    with pytest.raises(ValueError, match="at least one run"):
        plotting.plot_during_final_bars({})
    plt.close("all")


def test_embedding_predictions_figure_marks_the_right_answers():
    probs = np.array([[0.7, 0.3], [0.1, 0.9], [0.4, 0.6]])
    names = [("cat", "dog"), ("dog", "cat"), ("cat", "dog")]
    fig = plotting.plot_embedding_predictions(np.zeros((4, 4, 3)), probs, names, 0, "cat")
    bars = fig.axes[1].patches
    green = [tuple(round(c, 3) for c in b.get_facecolor()[:3]) for b in bars]
    assert green[0] == green[1] != green[2]                     # tasks 1, 2 say "cat", task 3 "dog"
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert texts == ["cat  70 %", "cat  90 %", "dog  60 %"]
    with pytest.raises(ValueError, match="class_names must name the labels of 3 tasks"):
        plotting.plot_embedding_predictions(np.zeros((4, 4, 3)), probs, names[:2], 0, "cat")
    plt.close("all")


def test_average_seen_plot_draws_one_line_per_run():
    a = _cifar_like([80, 60, 61], [79, 60, 60])
    b = _cifar_like([80, 40, 41], [30, 20, 41])
    fig = plotting.plot_average_seen({"HNET": a, "fine-tuning": b})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["HNET", "fine-tuning"]
    assert list(lines[1].get_ydata()) == pytest.approx([80, 60, (30 + 20 + 41) / 3])
    with pytest.raises(ValueError, match="at least one run"):
        plotting.plot_average_seen({})
    plt.close("all")
