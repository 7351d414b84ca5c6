"""Tests for hnet_utils.continual.trace: every learned task's metric while training goes on."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from hnet_utils.continual.trace import MetricTrace
from hnet_utils.continual.training import task_indices, train_continual
from hnet_utils.data.benchmarks import make_benchmark
from hnet_utils.experiments.configs import preset_config
from hnet_utils.viz.figures import plot_metric_trace


@pytest.mark.parametrize("method", ["hnet", "finetune"])
def test_trace_every_k_steps_and_at_each_task_end(method):
    cfg = preset_config("regression", "fast", method=method, iterations=35)
    trace = MetricTrace()
    result = train_continual(cfg, callback=trace, callback_every=10, progress=False)
    assert trace.task_starts == [0, 35, 70]
    assert [(g, t, len(v)) for g, t, v in trace.records[:6]] == \
        [(10, 0, 1), (20, 0, 1), (30, 0, 1), (35, 0, 1), (45, 1, 2), (55, 1, 2)]
    assert len(trace.records) == 12
    for t in range(3):  # the last record of a task is what the run's matrix holds
        g, task, values = trace.records[4 * t + 3]
        assert (g, task) == (35 * (t + 1), t)
        assert values == pytest.approx(result.matrix[t][:t + 1], rel=1e-6)
    steps, values = trace.series(0, during=1)
    assert steps == [45, 55, 65, 70] and len(values) == 4
    assert trace.series(2)[0] == [80, 90, 100, 105]
    with pytest.raises(ValueError, match="task must be"):
        trace.series(-1)
    assert trace.steps_until_below(0, during=1, level=float("inf")) == 10   # the first record
    assert trace.steps_until_below(0, during=1, level=min(values) / 2) is None
    k = trace.steps_until_below(0, during=1, level=values[-1])                # the first at or below
    assert values[steps.index(35 + k)] <= values[-1]
    assert all(v > values[-1] for g, v in zip(steps, values) if g < 35 + k)


def test_trace_records_a_last_step_once_and_plots():
    trace = MetricTrace()
    with pytest.raises(ValueError, match="no records"):
        plot_metric_trace(trace)
    cfg = preset_config("regression", "fast", method="hnet", iterations=20)
    train_continual(cfg, callback=trace, callback_every=10, progress=False)
    assert [(g, t) for g, t, _ in trace.records] == [(10, 0), (20, 0), (30, 1), (40, 1), (50, 2), (60, 2)]
    fig = plot_metric_trace(trace, title="toy")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 3 + 2   # three tasks, two task starts
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["task 1", "task 2", "task 3"]
    assert plot_metric_trace(trace, metric="accuracy").axes[0].get_yscale() == "linear"
    plt.close("all")


def test_task_indices_all_or_a_seeded_subset():
    bench = make_benchmark("regression", num_tasks=3, seed=0)
    cfg = preset_config("regression", "fast", method="hnet")
    full = task_indices(cfg, bench.tasks, "test")
    assert [idx.tolist() for idx in full] == [list(range(50))] * 3
    sub = task_indices(cfg.replace(test_subset=7), bench.tasks, "test")
    assert [len(idx) for idx in sub] == [7, 7, 7]
    assert torch.equal(sub[0], task_indices(cfg.replace(test_subset=7), bench.tasks, "test")[0])
    assert not torch.equal(sub[0], sub[1])                      # each task draws its own subset
    assert not torch.equal(task_indices(cfg.replace(train_subset=7), bench.tasks, "train")[0], sub[0])
