"""Mosaic outliers (an optional aid to HNET+ENT): shapes, content, loss, config checks, training."""

import math

import pytest
import torch

from hnet_utils.data.benchmarks import make_benchmark
from hnet_utils.continual.outliers import image_shape, mosaic, uniform_loss
from hnet_utils.experiments.configs import preset_config
from hnet_utils.continual.learners import HnetLearner, build_target
from hnet_utils.continual.training import train_continual


def test_image_shape_of_flat_and_image_inputs():
    assert image_shape((784,)) == (1, 28, 28)
    assert image_shape((1024,)) == (1, 32, 32)
    assert image_shape((3, 32, 32)) == (3, 32, 32)
    for bad in ((1,), (10,), (3, 5, 5)):
        with pytest.raises(ValueError, match="input shape|even"):
            image_shape(bad)


def test_mosaic_is_made_of_the_batch_quadrants():
    torch.manual_seed(0)
    x = torch.arange(6 * 3 * 4 * 4, dtype=torch.float32).reshape(6, 3, 4, 4)
    out = mosaic(x, (3, 4, 4))
    assert out.shape == x.shape

    def quadrants(t):  # every (C, 2, 2) quadrant of every image, as sorted tuples
        q = t.reshape(-1, 3, 2, 2, 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(-1, 12)
        return sorted(map(tuple, q.tolist()))

    assert quadrants(out) == quadrants(x)  # the same quadrants, rearranged
    assert not torch.equal(out, x)
    flat = torch.rand(5, 784)
    assert mosaic(flat, image_shape((784,))).shape == (5, 784)


def test_uniform_loss_is_smallest_for_uniform_predictions():
    assert uniform_loss(torch.zeros(3, 2)).item() == pytest.approx(math.log(2))
    assert uniform_loss(torch.tensor([[5.0, -5.0]])).item() > math.log(2)


def test_outlier_weight_is_checked():
    with pytest.raises(ValueError, match="outlier_weight must be a number >= 0"):
        preset_config("split_mnist", "fast", outlier_weight=-1.0)
    with pytest.raises(ValueError, match="needs method='hnet'"):
        preset_config("split_mnist", "fast", method="ewc", outlier_weight=1.0)
    with pytest.raises(ValueError, match="classification benchmark"):
        preset_config("regression", "fast", outlier_weight=1.0)


def test_outlier_loss_is_added_to_the_task_loss():
    bench = make_benchmark("split_mnist", num_tasks=2, seed=0)
    losses = {}
    for weight in (0.0, 1.0):
        cfg = preset_config("split_mnist", "fast", method="hnet", scenario=3, num_tasks=2,
                            outlier_weight=weight)
        torch.manual_seed(0)
        learner = HnetLearner(cfg, bench, build_target(cfg, (784,), 2), torch.device("cpu"))
        learner.start_task(0)
        x, y = bench.tasks[0].batch("train", torch.arange(16))
        losses[weight] = learner.task_loss(x, y, 0).item()
    # at initialisation predictions are near uniform: the extra term is about log 2
    assert losses[1.0] - losses[0.0] == pytest.approx(math.log(2), abs=0.1)


def test_training_with_outliers_runs_and_reports_task_inference():
    cfg = preset_config("split_mnist", "fast", method="hnet", scenario=3, num_tasks=2,
                        iterations=40, outlier_weight=1.0)
    r = train_continual(cfg, progress=False)
    assert len(r.task_inference_accuracy) == 2
    assert r.config["outlier_weight"] == 1.0


def test_mosaic_figure_shows_images_and_mosaics_and_keeps_the_random_state():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hnet_utils.viz.figures import plot_mosaic_examples

    bench = make_benchmark("split_mnist", num_tasks=2, seed=0)
    state = torch.random.get_rng_state()
    fig = plot_mosaic_examples(bench, task=1, num_images=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert len(fig.axes) == 8
    assert [fig.axes[0].get_ylabel(), fig.axes[4].get_ylabel()] == ["images", "mosaics"]
    plt.close(fig)
    with pytest.raises(ValueError, match="num_images must be >= 2"):
        plot_mosaic_examples(bench, num_images=1)
