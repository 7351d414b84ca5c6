"""Tests for hnet_utils.widgets, driven from code as a notebook (or nbval) would."""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from hnet_utils.data.benchmarks import make_benchmark
from hnet_utils.viz.embedding_space import EmbeddingSnapshot
from hnet_utils.networks.targets import MLP, num_params
from hnet_utils.experiments.configs import describe_config, preset_config
from hnet_utils.viz import widgets as W

PNG = b"\x89PNG\r\n\x1a\n"


def is_png(value) -> bool:
    """Image widgets hold their bytes as a memoryview."""
    return bytes(value).startswith(PNG)


@pytest.fixture(scope="module")
def bench():
    return make_benchmark("regression", num_tasks=3, seed=0)


def tiny_config(**changes):
    return preset_config("regression", "fast", **{"method": "hnet", "iterations": 6, **changes})


def test_explorer_config_full_and_chunked():
    base = tiny_config()
    full = W.explorer_config(base, beta=0.0, embedding_dim=3, hnet_type="full", chunk_size=50)
    assert (full.beta, full.embedding_dim, full.hnet_type) == (0.0, 3, "full")
    assert full.chunk_size is None and full.chunk_embedding_dim is None   # ignored for "full"
    chunked = W.explorer_config(base, 0.01, 2, "chunked", chunk_size=50, chunk_embedding_dim=4)
    assert (chunked.chunk_size, chunked.chunk_embedding_dim) == (50, 4)
    assert chunked.iterations == base.iterations and chunked.lr == base.lr
    with pytest.raises(ValueError, match="hnet_type"):
        W.explorer_config(base, 0.01, 2, "huge")
    with pytest.raises(ValueError, match="method='hnet'"):
        W.explorer_config(base.replace(method="finetune"), 0.01, 2, "full")
    with pytest.raises(ValueError, match="beta"):
        W.explorer_config(base, -1.0, 2, "full")


def test_regression_explorer_trains_and_redraws(bench):
    explorer = W.RegressionExplorer(tiny_config(), benchmark=bench, reference={"fine-tuning": [9.0, 8.0, 7.0]},
                                    callback_every=2, refresh_every=3, resolution=6)
    assert explorer.chunk_size.disabled                         # full hypernetwork at start
    assert "compression ratio" in explorer.status.value
    result = explorer.train()
    assert explorer.progress.value == explorer.progress.max == 18   # 3 tasks x 6 iterations
    assert is_png(explorer.fits.value)
    assert is_png(explorer.heatmap.image.value) and explorer.heatmap.refreshes >= 3
    assert "this run" in explorer.table.value and "fine-tuning" in explorer.table.value
    assert f"{result.final[0]:.3g}" in explorer.table.value
    assert "done in" in explorer.status.value and not explorer.train_button.disabled
    # the browser test (tests/browser) waits for exactly this to know the run finished
    assert explorer.status.value.startswith("done in") and "hnet_type=full" in explorer.status.value


def test_regression_explorer_controls_change_what_is_trained(bench):
    explorer = W.RegressionExplorer(tiny_config(), benchmark=bench, callback_every=3, resolution=4)
    explorer.beta.value = 0.0
    explorer.embedding_dim.value = 3
    explorer.hnet_type.value = "chunked"
    explorer.chunk_size.value = 50
    assert not explorer.chunk_size.disabled
    cfg = explorer.config()
    assert (cfg.beta, cfg.embedding_dim, cfg.hnet_type, cfg.chunk_size) == (0.0, 3, "chunked", 50)
    explorer.train_button.click()                              # the button runs train()
    assert explorer.result is not None and explorer.result.config["chunk_size"] == 50
    assert explorer.result.hnet.num_chunks == math.ceil(explorer.num_target_weights / 50)
    assert explorer.heatmap.refreshes == 0                      # no 2-D plane for size 3
    assert "embedding size 2 only" in explorer.heatmap_box.children[0].value


def test_regression_explorer_rejects_other_configs(bench):
    with pytest.raises(ValueError, match="regression"):
        W.RegressionExplorer(preset_config("split_mnist", "fast"), benchmark=bench)


def test_embedding_space_view_draws_snapshot():
    view = W.EmbeddingSpaceView(num_tasks=2)
    xs = ys = np.linspace(-1, 1, 5)
    snap = EmbeddingSnapshot(task=1, step=40, xs=xs, ys=ys, grids=np.full((2, 5, 5), 0.1),
                             embeddings=np.zeros((2, 2)), trajectories=[np.zeros((3, 2))] * 2,
                             seconds=0.01)
    view(snap)
    assert is_png(view.image.value) and view.refreshes == 1
    assert "training task 2, step 40" in view.caption.value
    with pytest.raises(ValueError, match="num_tasks"):
        W.EmbeddingSpaceView(num_tasks=0)


def test_compression_explorer_table_follows_slider():
    target = MLP(20, (30,), 5)
    n = num_params(target)
    explorer = W.CompressionExplorer(target, embedding_dim=4, chunk_embedding_dim=3, hidden=(6,),
                                     num_tasks=2, chunk_size=100, curve_points=5)
    table = explorer.parameter_table()
    assert table.loc["full", "chunks"] == 1
    assert table.iloc[1]["chunks"] == math.ceil(n / 100)
    before = explorer.table.value
    explorer.chunk_size.value = 40
    after = explorer.parameter_table()
    assert after.iloc[1]["chunks"] == math.ceil(n / 40)
    assert after.iloc[1]["chunk embeddings"] == 3 * math.ceil(n / 40)
    assert explorer.table.value != before and "chunk size 40" in explorer.table.value
    assert is_png(explorer.figure.value)
    assert len(explorer.curve_ratios) == len(explorer.curve_sizes) >= 2
    with pytest.raises(ValueError, match="chunk_size"):
        W.CompressionExplorer(target, 4, 3, (6,), chunk_size=n + 1)


def test_compression_curve_matches_parameter_counts():
    ratios = W.compression_curve(100, [10, 50], embedding_dim=2, chunk_embedding_dim=2, hidden=())
    # no hidden layer: output layer (4 + 1) * c, chunk embeddings 2 * ceil(100 / c), task embedding 2
    expected = [(5 * 10 + 2 * 10 + 2) / 100, (5 * 50 + 2 * 2 + 2) / 100]
    assert np.allclose(ratios, expected)


def test_describe_config_names_method_specific_settings():
    assert "beta=0.005" in describe_config(tiny_config())
    text = describe_config(tiny_config(method="finetune"))
    assert "method=finetune" in text and "beta" not in text
