"""Tests of the studies (hnet_utils.studies.studies) and of what they feed:
teaching presets, task-inference confusion, embedding planes, figures and widgets.

Everything runs on the shipped MNIST-mini subset with tiny models and a few
steps, so the whole file takes seconds.
"""

import matplotlib

matplotlib.use("Agg")

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from hnet_utils.continual import inference
from hnet_utils.continual.inference import all_task_logits, infer_task
from hnet_utils.data import benchmarks
from hnet_utils.experiments import studies
from hnet_utils.experiments.configs import describe_config, preset_config
from hnet_utils.experiments.results import ContinualResult
from hnet_utils.networks.hypernet import HyperNetwork, compression_ratio, count_parameters, make_hypernetwork
from hnet_utils.networks.targets import MLP, num_params
from hnet_utils.viz import embedding_space, figures, widgets


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def split_mini():
    """SplitMNIST (2 tasks) built from the shipped MNIST-mini subset."""
    from hnet_utils.data import datasets

    return benchmarks.split_mnist(num_tasks=2, mnist=datasets.load_shipped_mnist())


def tiny_cfg(**overrides):
    """A SplitMNIST hypernetwork configuration that trains in well under a second."""
    values = dict(num_tasks=2, target_hidden=(8,), embedding_dim=4, chunk_embedding_dim=2,
                  chunk_size=500, hnet_hidden=(8,), iterations=5, batch_size=16,
                  train_subset=64, test_subset=32, eval_batch_size=64, device="cpu")
    return preset_config("split_mnist", "teaching", fast=True, **{**values, **overrides})


def fake_result(matrix, method="hnet", scenario=1):
    return ContinualResult(config={"method": method, "scenario": scenario}, metric="accuracy",
                           matrix=matrix, wall_time_s=1.0, device="cpu")


# ----------------------------------------------------------------- configurations


def test_teaching_presets_full_fast_and_overrides(monkeypatch):
    full = preset_config("permuted_mnist", "teaching")
    assert (full.num_tasks, full.target_hidden, full.iterations) == (10, (256, 256), 1500)
    fast = preset_config("permuted_mnist", "teaching", fast=True)
    assert fast.num_tasks < full.num_tasks and fast.iterations < full.iterations
    assert fast.train_subset is not None
    # one fast-mode rule: the caller passes fast=...; the environment does not change a preset
    monkeypatch.setenv("HNET_FAST", "1")
    assert preset_config("permuted_mnist", "teaching") == full
    # scenario-dependent baseline strengths come from the paper preset
    ewc3 = preset_config("split_mnist", "teaching", method="ewc", scenario=3)
    assert ewc3.ewc_lambda == 1e9 and ewc3.target_hidden == (100, 100)
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("split_mnist", "cifar")
    with pytest.raises(ValueError, match="unknown configuration field"):
        preset_config("split_mnist", "teaching", betta=1.0)
    # --preset fast is the paper preset in fast mode
    assert preset_config("split_mnist", "fast") == preset_config("split_mnist", "paper", fast=True)


def test_describe_config_names_the_settings_of_each_method():
    hnet = describe_config(tiny_cfg())
    assert "beta=0.01" in hnet and "chunk_size=500" in hnet and "ewc_lambda" not in hnet
    si = describe_config(tiny_cfg(method="si"))
    assert "si_c=" in si and "beta" not in si
    assert describe_config({"a": 1, "b": 2}, fields=["b"]) == "b=2"
    # wrapped for a notebook: between fields only, never inside one
    wrapped = describe_config(tiny_cfg(), width=60, indent="  ")
    assert all(len(line) <= 60 and line.startswith("  ") for line in wrapped.splitlines())
    assert wrapped.replace(",\n  ", ", ").strip() == describe_config(tiny_cfg())
    with pytest.raises(ValueError, match="not configuration fields"):
        describe_config(tiny_cfg(), fields=["nope"])


# -------------------------------------------------------------------- compression


def test_target_num_weights_matches_the_engine():
    cfg = tiny_cfg()
    assert studies.target_num_weights(cfg, (784,), 2) == 784 * 8 + 8 + 8 * 2 + 2


def test_compression_sweep_reports_the_trained_models_ratio(split_mini):
    base = tiny_cfg()
    rows = studies.compression_sweep(base, [{"chunk_size": 300}, {"chunk_size": 3000}],
                                         benchmark=split_mini, progress=False)
    assert [r["chunk_size"] for r in rows] == [300, 3000]
    n = studies.target_num_weights(base, (784,), 2)
    for row in rows:
        built = make_hypernetwork(n, 4, (8,), chunk_size=row["chunk_size"], chunk_embedding_dim=2,
                                  num_tasks=2)
        assert row["target_params"] == n and row["hnet_params"] == count_parameters(built)["total"]
        assert math.isclose(row["ratio"], compression_ratio(built, n))
        assert math.isclose(row["average_final"], float(np.mean(row["final"])))
        assert all(0 <= a <= 100 for a in row["final"])
    with pytest.raises(ValueError, match="method"):
        studies.compression_sweep(tiny_cfg(method="finetune"), [{}], benchmark=split_mini)
    with pytest.raises(ValueError, match="variants"):
        studies.compression_sweep(base, [], benchmark=split_mini)


# ---------------------------------------------------------------- regulariser cost


def test_time_regularizer_methods_agree_and_reference_memory_grows():
    cfg = tiny_cfg(target_hidden=(16,), chunk_size=700)
    rows = studies.time_regularizer(cfg, (784,), 2, num_old_tasks=[1, 4], repeats=1,
                                        progress=False)
    assert [(r["num_old_tasks"], r["method"]) for r in rows] == [
        (1, "reference"), (1, "exact"), (4, "reference"), (4, "exact")]
    for t in (0, 2):
        ref, exact = rows[t], rows[t + 1]
        assert ref["value"] > 0
        assert math.isclose(ref["value"], exact["value"], rel_tol=1e-3)
    assert all(r["ms"] > 0 for r in rows)
    ref_growth = rows[2]["stored_mib"] - rows[0]["stored_mib"]
    exact_growth = rows[3]["stored_mib"] - rows[1]["stored_mib"]
    assert ref_growth > 3 * exact_growth > 0  # the reference keeps whole weight sets
    with pytest.raises(ValueError, match="num_old_tasks"):
        studies.time_regularizer(cfg, (784,), 2, num_old_tasks=[0])
    with pytest.raises(ValueError, match="repeats"):
        studies.time_regularizer(cfg, (784,), 2, num_old_tasks=[1], repeats=0)


# ------------------------------------------------------------------ β and methods


def test_beta_sweep_rows(split_mini):
    rows = studies.beta_sweep(tiny_cfg(), [0.0, 1.0], benchmark=split_mini, progress=False)
    assert [r["beta"] for r in rows] == [0.0, 1.0]
    for r in rows:
        assert len(r["during"]) == len(r["final"]) == 2
        assert math.isclose(r["average_during"], float(np.mean(r["during"])))
        assert r["during"][-1] == r["final"][-1]  # the last task is evaluated once
    with pytest.raises(ValueError, match="betas"):
        studies.beta_sweep(tiny_cfg(), [], benchmark=split_mini)


def test_compare_methods_runs_each_label_in_order(split_mini):
    results = studies.compare_methods(
        tiny_cfg(), {"HNET": {}, "fine-tuning": {"method": "finetune"}},
        benchmark=split_mini, progress=False)
    assert list(results) == ["HNET", "fine-tuning"]
    assert results["fine-tuning"].config["method"] == "finetune"
    assert results["HNET"].hnet is not None
    with pytest.raises(ValueError, match="methods"):
        studies.compare_methods(tiny_cfg(), {}, benchmark=split_mini)


def test_run_scenarios_uses_each_scenarios_preset_strengths(split_mini):
    overrides = dict(num_tasks=2, target_hidden=(8,), iterations=3, batch_size=16, train_subset=64,
                     test_subset=32, fisher_samples=16, device="cpu")
    runs = studies.run_scenarios("split_mnist", "teaching", {"EWC": "ewc", "HNET": "hnet"}, scenarios=(1, 3),
                                     benchmark=split_mini, progress=False, **overrides)
    assert list(runs) == [("EWC", 1), ("HNET", 1), ("EWC", 3), ("HNET", 3)]
    assert runs[("EWC", 1)].config["ewc_lambda"] == 1e5 and runs[("EWC", 3)].config["ewc_lambda"] == 1e9
    assert runs[("HNET", 3)].task_inference_accuracy is not None   # HNET+ENT in CL3
    assert runs[("HNET", 1)].task_inference_accuracy is None
    with pytest.raises(ValueError, match="scenarios"):
        studies.run_scenarios("split_mnist", "teaching", {"EWC": "ewc"}, scenarios=(4,))
    with pytest.raises(ValueError, match="methods"):
        studies.run_scenarios("split_mnist", "teaching", {})


# ------------------------------------------------------------------ task inference


def test_task_inference_confusion_matches_a_direct_count(split_mini):
    torch.manual_seed(0)
    target = MLP(784, (6,), 2)
    h = HyperNetwork(num_params(target), embedding_dim=3, hidden=(5,))
    h.add_task(), h.add_task()
    confusion = inference.task_inference_confusion(h, target, split_mini, max_samples=40,
                                                     batch_size=16)
    assert confusion.shape == (2, 2)
    np.testing.assert_allclose(confusion.sum(axis=1), [100.0, 100.0])
    for t in range(2):
        x, _ = split_mini.tasks[t].tensors("test")
        inferred = infer_task(all_task_logits(h, target, x[:40]))
        assert math.isclose(confusion[t, t], 100.0 * (inferred == t).sum().item() / 40)
    with pytest.raises(ValueError, match="num_tasks"):
        inference.task_inference_confusion(h, target, split_mini, num_tasks=3)
    with pytest.raises(ValueError, match="max_samples"):
        inference.task_inference_confusion(h, target, split_mini, max_samples=0)


def test_entropies_per_task_are_the_entropies_of_each_tasks_outputs(split_mini):
    torch.manual_seed(1)
    target = MLP(784, (6,), 2)
    h = HyperNetwork(num_params(target), embedding_dim=3, hidden=(5,))
    for _ in range(3):
        h.add_task()
    x, _ = split_mini.tasks[0].tensors("test")
    ent = inference.entropies_per_task(h, target, x[:7])
    assert ent.shape == (7, 3) and (ent >= 0).all() and (ent <= math.log(2) + 1e-6).all()
    p = torch.softmax(all_task_logits(h, target, x[:7])[1], dim=-1)
    np.testing.assert_allclose(ent[:, 1], -(p * p.log()).sum(-1).detach().numpy(), rtol=1e-5)
    np.testing.assert_array_equal(ent.argmin(axis=1), infer_task(all_task_logits(h, target, x[:7])))


def test_task_inference_picks_the_confident_task(split_mini):
    """A task whose weights give sharp outputs wins the entropy vote everywhere."""
    target = MLP(784, (), 2)
    h = HyperNetwork(num_params(target), embedding_dim=2, hidden=())
    for _ in range(2):
        h.add_task()
    with torch.no_grad():
        h.output.weight.zero_()
        h.output.bias.zero_()
        h.output.weight[784 * 2, 0] = 50.0  # bias of output 0, driven by embedding entry 0
        h.task_embeddings[0].copy_(torch.tensor([0.0, 0.0]))
        h.task_embeddings[1].copy_(torch.tensor([1.0, 0.0]))
    confusion = inference.task_inference_confusion(h, target, split_mini, max_samples=20)
    np.testing.assert_allclose(confusion[:, 1], [100.0, 100.0])


# -------------------------------------------------------------- published numbers


def test_results_table_puts_paper_numbers_beside_ours():
    ok = [[99.0, None], [98.0, 100.0]]
    results = {("HNET", 1): fake_result(ok), ("HNET", 3): fake_result(ok, scenario=3),
               ("EWC", 3): fake_result([[50.0, None], [10.0, 30.0]], method="ewc", scenario=3)}
    table = studies.results_table(results, "split_mnist")
    assert list(table.columns) == ["CL1 ours", "CL1 paper", "CL3 ours", "CL3 paper"]
    assert table.loc["HNET", "CL1 ours"] == 99.0
    assert table.loc["HNET", "CL1 paper"] == "99.79 (recalled)"     # the HNET+ENT column, recalled
    assert table.loc["HNET", "CL3 paper"] == "69.48 ± 0.80"         # verified: no mark
    assert table.loc["EWC", "CL3 paper"] == "20.01" and table.loc["EWC", "CL3 ours"] == 20.0
    assert np.isnan(table.loc["EWC", "CL1 ours"]) and table.loc["EWC", "CL1 paper"] == "—"
    with pytest.raises(ValueError, match="results"):
        studies.results_table({}, "split_mnist")


def test_load_result_if_present(tmp_path):
    assert studies.load_result_if_present(tmp_path / "absent.json") is None
    path = fake_result([[90.0]]).save(tmp_path / "r.json")
    assert studies.load_result_if_present(path).average_final == 90.0
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a results file"):
        studies.load_result_if_present(tmp_path / "bad.json")


# ------------------------------------------------------------------ embedding plane


def test_embedding_plane_of_2d_embeddings_is_the_space_itself():
    origin, basis = embedding_space.embedding_plane([[1.0, 2.0], [3.0, -1.0]])
    assert torch.equal(origin, torch.zeros(2)) and torch.equal(basis, torch.eye(2))


@pytest.mark.parametrize("num", [1, 2, 3])
def test_embedding_plane_contains_up_to_three_embeddings(num):
    e = torch.randn(num, 6, generator=torch.Generator().manual_seed(num))
    origin, basis = embedding_space.embedding_plane(e)
    torch.testing.assert_close(basis @ basis.T, torch.eye(2), atol=1e-5, rtol=0)
    coords = embedding_space.to_plane(e, origin, basis)
    back = embedding_space.from_plane(torch.as_tensor(coords), origin, basis)
    torch.testing.assert_close(back, e, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="embeddings"):
        embedding_space.embedding_plane(torch.zeros(3))


def test_plane_snapshot_grids_for_large_embeddings(split_mini):
    torch.manual_seed(0)
    target = MLP(784, (4,), 2)
    h = HyperNetwork(num_params(target), embedding_dim=5, hidden=(6,))
    for _ in range(2):
        h.add_task()
    data = [(x[:20], y[:20]) for x, y in (t.tensors("test") for t in split_mini.tasks)]
    snap = embedding_space.plane_snapshot(h, target, data, resolution=6)
    assert snap.grids.shape == (2, 6, 6) and snap.embeddings.shape == (2, 2)
    assert ((snap.grids >= 0) & (snap.grids <= 1)).all()
    lo, hi = snap.xs[0], snap.xs[-1]
    assert ((snap.embeddings[:, 0] > lo) & (snap.embeddings[:, 0] < hi)).all()
    fig = figures.plot_plane(snap, title="plane")
    assert len(fig.axes) == 3  # two panels and the colour bar


# ------------------------------------------------------------------------ figures


def test_figures_draw_the_given_data(split_mini):
    results = {"HNET": fake_result([[99.0, None], [98.0, 97.0]]),
               "EWC": fake_result([[99.0, None], [60.0, 97.0]], method="ewc")}
    fig = figures.plot_accuracy_matrices(results)
    assert [ax.get_title() for ax in fig.axes] == ["HNET: mean final 97.5%", "EWC: mean final 78.5%"]
    rows = [{"ratio": 0.5, "average_final": 90.0, "hnet_params": 10},
            {"ratio": 2.0, "average_final": 95.0, "hnet_params": 40}]
    ax = figures.plot_compression(rows).axes[0]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [0.5, 2.0])
    timing = [{"num_old_tasks": t, "method": m, "ms": t * k} for t in (1, 2)
              for k, m in ((1, "exact"), (5, "reference"))]
    ax = figures.plot_regularizer_cost(timing).axes[0]
    assert len(ax.lines) == 2 and list(ax.lines[1].get_ydata()) == [5, 10]
    fig = figures.plot_during_and_final(results["EWC"])
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), [60.0, 97.0])
    fig = figures.plot_task_inference(np.array([[90.0, 10.0], [20.0, 80.0]]))
    assert fig.axes[0].get_xlabel() == "inferred task"
    fig = figures.plot_task_examples(split_mini, num_tasks=2, num_images=3, side=28)
    assert len(fig.axes) == 6


def test_beta_tradeoff_figure_and_unknown_beta():
    rows = [{"beta": b, "during": [99.0, 98.0], "final": [f, 98.0], "average_during": 98.5,
             "average_final": (f + 98) / 2} for b, f in ((0.0, 50.0), (0.01, 90.0), (1.0, 97.0))]
    fig = figures.plot_beta_tradeoff(rows, 0.01)
    left, right = fig.axes
    assert left.get_title() == "β = 0.01"
    assert [p.get_height() for p in left.patches][2:] == [90.0, 98.0]
    np.testing.assert_allclose(right.lines[1].get_ydata(), [74.0, 94.0, 97.5])  # β = 0 included
    with pytest.raises(ValueError, match="beta"):
        figures.plot_beta_tradeoff(rows, 0.5)


# ------------------------------------------------------------------------ widgets


def test_beta_explorer_redraws_when_driven_from_code():
    rows = [{"beta": b, "during": [99.0, 98.0], "final": [f, 98.0], "average_during": 98.5,
             "average_final": (f + 98) / 2} for b, f in ((0.01, 90.0), (1.0, 97.0))]
    box, slider, image = widgets.beta_explorer(rows)
    first = image.value
    assert first[:4] == b"\x89PNG"
    slider.value = 1.0
    assert image.value != first


def test_embedding_explorer_trains_with_the_sliders_settings(split_mini):
    base = tiny_cfg(embedding_dim=2, iterations=4)
    data = [(x[:16], y[:16]) for x, y in (t.tensors("test") for t in split_mini.tasks)]
    explorer = widgets.EmbeddingExplorer(base, split_mini, data, betas=(0.0, 0.5),
                                             embedding_dims=(2, 3), resolution=4,
                                             refresh_every=2, callback_every=1)
    with pytest.raises(ValueError, match="train"):
        explorer.snapshot_figure()
    result = explorer.train()  # 2-D: the live monitor refreshes the view
    assert explorer.view.refreshes >= 4 and explorer.snapshot.grids.shape == (2, 4, 4)
    assert len(explorer.refresh_seconds) == explorer.view.refreshes
    assert result.config["beta"] == base.beta and "mean" in explorer.table.value
    explorer.beta.value = 0.5
    explorer.embedding_dim.value = 3
    before = explorer.view.refreshes
    result = explorer.train()  # 3-D: a plane snapshot at the end of every task
    assert result.config["beta"] == 0.5 and result.config["embedding_dim"] == 3
    assert explorer.view.refreshes == before + 2 and len(explorer.refresh_seconds) == 2
    assert explorer.snapshot.embeddings.shape == (2, 2)
    assert "principal directions" in explorer.status.value
    assert explorer.progress.value == explorer.progress.max == 8
    # a static snapshot of each run, titled with its settings: the widget shows only the latest
    fig = explorer.snapshot_figure()
    assert fig._suptitle.get_text().startswith("β = 0.5, 3-D task embeddings")
    with pytest.raises(ValueError, match="tasks_data"):
        widgets.EmbeddingExplorer(base, split_mini, data[:1])
    with pytest.raises(ValueError, match="embedding_dims"):
        widgets.EmbeddingExplorer(base, split_mini, data, embedding_dims=(1,))


def test_train_or_load_uses_a_recorded_run_only_of_the_same_configuration(tmp_path, capsys):
    from hnet_utils.experiments.studies import train_or_load
    cfg = preset_config("regression", "paper", fast=True, iterations=5)
    trained = train_or_load(cfg, progress=False, recorded=tmp_path)        # nothing recorded yet
    assert "training it now" in capsys.readouterr().out
    trained.save(tmp_path / "run.json")
    loaded = train_or_load(cfg, progress=False, recorded=tmp_path)
    assert "loaded" in capsys.readouterr().out and loaded.matrix == trained.matrix
    other = train_or_load(cfg.replace(beta=0.5), progress=False, recorded=tmp_path)
    assert "training it now" in capsys.readouterr().out and other.config["beta"] == 0.5
