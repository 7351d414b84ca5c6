"""Tests for hnet_utils.viz.embedding_space: batched grid evaluation and the live monitor."""

import numpy as np
import pytest
import torch

from hnet_utils.viz.embedding_space import (EmbeddingSpaceMonitor, benchmark_tasks_data,
                                       evaluate_embedding_grid, grid_limits, make_grid)
from hnet_utils.networks.hypernet import ChunkedHyperNetwork, HyperNetwork
from hnet_utils.networks.targets import MLP, forward_with_weights, num_params


@pytest.fixture
def small():
    """A 1->4->1 target, a 2-D-embedding hypernetwork with two tasks, two tiny tasks."""
    torch.manual_seed(0)
    target = MLP(1, (4,), 1, activation="tanh")
    h = HyperNetwork(num_params(target), embedding_dim=2, hidden=(5,), activation="tanh")
    h.add_task(), h.add_task()
    x = torch.linspace(-1, 1, 7).unsqueeze(1)
    tasks = [(x, torch.sin(3 * x)), (x + 2, x ** 2)]
    return target, h, tasks


def test_make_grid_layout_matches_imshow_convention():
    xs, ys, points = make_grid((-1.0, 1.0), (0.0, 2.0), resolution=3)
    assert points.shape == (9, 2)
    grid = points.reshape(3, 3, 2)
    assert torch.equal(grid[2, 0], torch.tensor([-1.0, 2.0]))   # row = y index, column = x index
    assert torch.equal(grid[0, 2], torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="resolution"):
        make_grid((0, 1), (0, 1), resolution=1)
    with pytest.raises(ValueError, match="xlim"):
        make_grid((1, 0), (0, 1))


def test_grid_limits_are_square_and_contain_points():
    xlim, ylim = grid_limits(np.array([[0.2, -3.1], [1.4, 0.0]]), margin=0.5, step=0.5)
    assert xlim[0] <= 0.2 - 0.5 and xlim[1] >= 1.4 + 0.5
    assert ylim[0] <= -3.6 and ylim[1] >= 0.5
    assert xlim[1] - xlim[0] == pytest.approx(ylim[1] - ylim[0])
    with pytest.raises(ValueError, match="margin"):
        grid_limits(np.zeros((1, 2)), margin=-1)
    with pytest.raises(ValueError, match="points"):
        grid_limits(np.zeros((0, 2)))


def test_grid_evaluation_equals_one_embedding_at_a_time(small):
    target, h, tasks = small
    _, _, points = make_grid((-2, 2), (-2, 2), resolution=4)
    values = evaluate_embedding_grid(h, target, tasks, points)
    assert values.shape == (2, 16)
    with torch.no_grad():
        for p in (0, 5, 15):
            for t, (x, y) in enumerate(tasks):
                mse = ((forward_with_weights(target, h(embeddings=points[p]), x) - y) ** 2).mean()
                assert values[t, p].item() == pytest.approx(mse.item(), rel=1e-5)
    # splitting the grid into several hypernetwork calls gives the same numbers
    assert torch.allclose(evaluate_embedding_grid(h, target, tasks, points, batch_size=5), values)


def test_grid_uses_one_hypernetwork_call(small, monkeypatch):
    target, h, tasks = small
    calls = []
    original = HyperNetwork.forward

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("embeddings").shape if "embeddings" in kwargs else None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HyperNetwork, "forward", counting)
    _, _, points = make_grid((-1, 1), (-1, 1), resolution=10)
    evaluate_embedding_grid(h, target, tasks, points)
    assert calls == [torch.Size([100, 2])]


def test_grid_accuracy_metric_and_chunked_hypernetwork():
    torch.manual_seed(1)
    target = MLP(3, (4,), 2)
    h = ChunkedHyperNetwork(num_params(target), embedding_dim=2, chunk_embedding_dim=2, chunk_size=7)
    x, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    _, _, points = make_grid((-1, 1), (-1, 1), resolution=3)
    acc = evaluate_embedding_grid(h, target, [(x, y)], points, metric="accuracy")
    assert acc.shape == (1, 9)
    assert ((acc >= 0) & (acc <= 1)).all()
    with torch.no_grad():
        expected = (forward_with_weights(target, h(embeddings=points[4]), x).argmax(-1) == y).float().mean()
    assert acc[0, 4].item() == pytest.approx(expected.item())
    with pytest.raises(ValueError, match="metric"):
        evaluate_embedding_grid(h, target, [(x, y)], points, metric="f1")
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_embedding_grid(h, target, [(x, y)], points, batch_size=0)


class State:
    """The fields of training.TrainState the monitor reads."""

    def __init__(self, event, task, step, hnet, target):
        self.event, self.task, self.step, self.hnet, self.target = event, task, step, hnet, target


def test_monitor_records_trajectories_and_refreshes_when_due(small):
    target, h, tasks = small
    seen = []
    monitor = EmbeddingSpaceMonitor(tasks, resolution=6, refresh_every=20, on_refresh=seen.append)
    for step in (10, 20, 30, 40):
        with torch.no_grad():
            h.task_embedding(1).add_(0.1)
        monitor(State("step", 1, step, h, target))
    monitor(State("task_end", 1, 40, h, target))
    assert len(monitor.trajectories[1]) == 5
    assert np.allclose(monitor.trajectories[1][-1], h.task_embedding(1).detach().numpy())
    assert [s.step for s in seen] == [10, 30, 40]        # first call, 20 steps later, task end
    snap = monitor.latest
    assert snap.grids.shape == (2, 6, 6)
    assert snap.embeddings.shape == (2, 2) and len(snap.trajectories) == 2
    # the plane contains every embedding and trajectory point
    for path in snap.trajectories:
        assert (path[:, 0] >= snap.xs[0]).all() and (path[:, 0] <= snap.xs[-1]).all()
        assert (path[:, 1] >= snap.ys[0]).all() and (path[:, 1] <= snap.ys[-1]).all()
    assert len(monitor.refresh_seconds) == 3


def test_monitor_limits_only_grow_and_reject_bad_input(small):
    target, h, tasks = small
    monitor = EmbeddingSpaceMonitor(tasks, resolution=4)
    first = monitor.refresh(h, target).xs
    with torch.no_grad():
        h.task_embedding(0).fill_(10.0)
    second = monitor.refresh(h, target).xs
    assert second[0] <= first[0] and second[-1] >= max(first[-1], 10.0)
    with pytest.raises(ValueError, match="refresh_every"):
        EmbeddingSpaceMonitor(tasks, refresh_every=0)
    with pytest.raises(ValueError, match="xlim"):
        EmbeddingSpaceMonitor(tasks, limits=((1, -1), (0, 1)))
    fixed = EmbeddingSpaceMonitor(tasks, resolution=3, limits=((-5, 5), (-1, 1)))
    snap = fixed.refresh(h, target)                       # embedding at 10 lies outside: kept fixed
    assert (snap.xs[0], snap.xs[-1], snap.ys[0], snap.ys[-1]) == (-5, 5, -1, 1)
    with pytest.raises(ValueError, match="state.hnet"):
        monitor(State("step", 0, 1, None, target))
    h3 = HyperNetwork(num_params(target), embedding_dim=3)
    h3.add_task()
    with pytest.raises(ValueError, match="2-D task embeddings"):
        monitor.record(h3, 0)


def test_benchmark_tasks_data_reads_every_task():
    from hnet_utils.data.benchmarks import make_benchmark

    bench = make_benchmark("regression", num_tasks=3, seed=0)
    data = benchmark_tasks_data(bench, split="test", max_samples=10)
    assert len(data) == 3
    assert data[0][0].shape == (10, 1) and data[0][1].shape == (10, 1)
    with pytest.raises(ValueError, match="max_samples"):
        benchmark_tasks_data(bench, max_samples=0)
