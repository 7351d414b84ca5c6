"""The continual-learning engine on tiny, fast configurations.

Data: the generated regression tasks and the shipped MNIST-mini subset (or the
mirror, when HNET_DATA_MIRROR is set); no internet needed.
"""

import os

import pytest
import torch

from hnet_utils.continual.training import BatchSampler, TrainState, subset_indices, train_continual
from hnet_utils.data.benchmarks import make_benchmark
from hnet_utils.experiments.configs import METHODS, preset_config, scenario_problem
from hnet_utils.experiments.results import load_run, save_run_checkpoint

@pytest.fixture(scope="module")
def split_mnist():
    return make_benchmark("split_mnist", num_tasks=5, seed=0)


@pytest.fixture(scope="module")
def regression_runs():
    """HNET and fine-tuning on the paper's 3 regression tasks, 200 steps per task."""
    return {m: train_continual(preset_config("regression", "fast", method=m), progress=False)
            for m in ("hnet", "finetune")}


def test_hnet_remembers_regression_task_1_better_than_finetuning(regression_runs):
    hnet, finetune = regression_runs["hnet"], regression_runs["finetune"]
    assert hnet.metric == finetune.metric == "mse"
    # both learn task 1 well right after training it ...
    assert hnet.during[0] < 0.05 and finetune.during[0] < 0.05
    # ... but after tasks 2 and 3 fine-tuning has overwritten it, the hypernetwork has not
    assert finetune.final[0] > 2.0
    assert hnet.final[0] < finetune.final[0] / 5
    assert hnet.average_final < finetune.average_final


def test_same_config_gives_identical_results():
    cfg = preset_config("regression", "fast", method="hnet", iterations=40)
    a = train_continual(cfg, progress=False)
    b = train_continual(cfg, progress=False)
    assert a.matrix == b.matrix
    for p, q in zip(a.hnet.parameters(), b.hnet.parameters()):
        assert torch.equal(p, q)
    c = train_continual(cfg.replace(seed=1), progress=False)
    assert c.matrix != a.matrix


def test_the_machine_load_is_recorded():
    cfg = preset_config("regression", "fast", method="hnet", iterations=40)
    result = train_continual(cfg, progress=False)
    if hasattr(os, "getloadavg"):
        assert isinstance(result.load_average, float) and result.load_average >= 0
    else:
        assert result.load_average is None


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario", [1, 2, 3])
def test_every_method_and_scenario_runs(split_mnist, method, scenario):
    if scenario_problem(method, scenario, "split_mnist"):
        with pytest.raises(ValueError, match="scenario 1 only|scenarios 2 and 3"):
            preset_config("split_mnist", "fast", method=method, scenario=scenario)
        return
    cfg = preset_config("split_mnist", "fast", method=method, scenario=scenario, num_tasks=3,
                        iterations=15, test_subset=60)
    r = train_continual(cfg, benchmark=split_mnist, progress=False)
    assert r.metric == "accuracy" and len(r.matrix) == 3
    for i, row in enumerate(r.matrix):
        assert all(0.0 <= v <= 100.0 for v in row[:i + 1])
        assert all(v is None for v in row[i + 1:])
    assert r.data["test_samples_per_task"] == [60, 60, 60]
    assert r.data["train_samples_per_task"] == [256, 256, 256]
    inferred = method in ("hnet", "hnet_tir") and scenario in (2, 3)
    assert (r.task_inference_accuracy is not None) == inferred
    assert (r.hnet is not None) == (method in ("hnet", "hnet_tir"))


def test_scratch_keeps_one_frozen_network_per_task(split_mnist):
    cfg = preset_config("split_mnist", "fast", method="scratch", num_tasks=3, iterations=20)
    r = train_continual(cfg, benchmark=split_mnist, progress=False)
    assert len(r.task_targets) == 3
    for j in range(3):  # later tasks never touch the network of task j
        column = [r.matrix[i][j] for i in range(j, 3)]
        assert column == [column[0]] * len(column)


def test_multitask_trains_a_fresh_network_on_all_tasks_so_far():
    """Joint training from scratch at every stage: a new network, and batches of every seen task."""
    cfg = preset_config("regression", "fast", method="multitask", iterations=5)
    nets, batch_tasks = {}, {}

    def callback(state):
        nets.setdefault(state.task, state.target)
        batch_tasks[state.task] = list(state.learner.batch_tasks(state.task))

    train_continual(cfg, callback=callback, callback_every=1, progress=False)
    assert len({id(net) for net in nets.values()}) == 3
    assert batch_tasks == {0: [0], 1: [0, 1], 2: [0, 1, 2]}


def test_class_incremental_finetuning_forgets_old_classes(split_mnist):
    """CL3 fine-tuning predicts only the newest classes: the classic failure HNET+ENT avoids."""
    cfg = preset_config("split_mnist", "fast", method="finetune", scenario=3, num_tasks=2,
                        iterations=60)
    r = train_continual(cfg, benchmark=split_mnist, progress=False)
    assert r.during[0] > 80.0
    assert r.final[0] < 20.0


def test_hnet_ent_task_inference_is_reported(split_mnist):
    cfg = preset_config("split_mnist", "fast", method="hnet", scenario=3, num_tasks=2,
                        iterations=60)
    r = train_continual(cfg, benchmark=split_mnist, progress=False)
    assert len(r.task_inference_accuracy) == 2
    # a CL3 prediction is right only if the task was inferred right
    for acc, inferred in zip(r.final, r.task_inference_accuracy):
        assert acc <= inferred + 1e-9
    assert r.average_task_inference_accuracy > 50.0  # better than guessing between 2 tasks


def test_callback_every_n_steps_and_at_task_end():
    seen: list[TrainState] = []
    cfg = preset_config("regression", "fast", method="hnet", num_tasks=2, iterations=25)
    train_continual(cfg, callback=seen.append, callback_every=10, progress=False)
    steps = [(s.event, s.task, s.step) for s in seen]
    assert steps == [("step", 0, 10), ("step", 0, 20), ("task_end", 0, 25),
                     ("step", 1, 10), ("step", 1, 20), ("task_end", 1, 25)]
    end = seen[2]
    assert end.hnet is not None and end.target is not None and end.config is cfg
    assert end.matrix[0][0] is not None and end.matrix[1][1] is None
    assert seen[-1].global_step == 50 and isinstance(seen[-1].loss, float)
    with pytest.raises(ValueError, match="callback_every"):
        train_continual(cfg, callback=seen.append, callback_every=0, progress=False)


@pytest.mark.parametrize("method", ["hnet", "scratch", "ewc", "hnet_r", "hnet_tir"])
def test_checkpoint_round_trip(tmp_path, split_mnist, method):
    scenario = 3 if method in ("hnet_r", "hnet_tir") else 1
    cfg = preset_config("split_mnist", "fast", method=method, num_tasks=2, iterations=10,
                        scenario=scenario)
    r = train_continual(cfg, benchmark=split_mnist, progress=False)
    path = save_run_checkpoint(r, tmp_path / "run.pt")
    loaded = load_run(path, config=cfg)
    x, _ = split_mnist.tasks[1].tensors("test")
    with torch.no_grad():
        if scenario == 3:  # replay: every model of the learner comes back
            for name, model in r.learner.models().items():
                for (k, v), (k2, v2) in zip(model.state_dict().items(),
                                            loaded[name].state_dict().items()):
                    assert k == k2
                    torch.testing.assert_close(v, v2)
        elif method == "hnet":
            for t in range(2):
                torch.testing.assert_close(loaded["hnet"](task_id=t), r.hnet(task_id=t))
        elif method == "scratch":
            for t in range(2):
                torch.testing.assert_close(loaded["task_targets"][t](x), r.task_targets[t](x))
        else:
            torch.testing.assert_close(loaded["target"](x), r.target.eval()(x))


def test_checkpoint_of_other_architecture_is_a_clear_error(tmp_path, split_mnist):
    cfg = preset_config("split_mnist", "fast", method="hnet", num_tasks=2, iterations=5)
    r = train_continual(cfg, benchmark=split_mnist, progress=False)
    path = save_run_checkpoint(r, tmp_path / "run.pt")
    with pytest.raises(ValueError, match="chunk_size: checkpoint has 2000, expected 3000"):
        load_run(path, config=cfg.replace(chunk_size=3000))
    with pytest.raises(ValueError, match="target_hidden"):
        load_run(path, config=cfg.replace(target_hidden=(30,)))


def test_benchmark_must_match_config(split_mnist):
    with pytest.raises(ValueError, match="only 5 tasks"):
        train_continual(preset_config("permuted_mnist", "fast", num_tasks=6),
                        benchmark=split_mnist, progress=False)
    with pytest.raises(ValueError, match="does not match"):
        train_continual(preset_config("regression", "fast"), benchmark=split_mnist, progress=False)


def test_batch_sampler_streams_full_batches_over_epochs():
    gen = torch.Generator().manual_seed(0)
    idx = torch.arange(10, 20)
    sampler = BatchSampler(idx, 4, gen)
    batches = [sampler.next() for _ in range(5)]
    # every batch is full: no short batch at an epoch's end (hypercl's data handlers)
    assert [len(b) for b in batches] == [4] * 5
    stream = torch.cat(batches).tolist()
    assert sorted(stream[:10]) == list(range(10, 20))  # each epoch visits every sample once
    assert sorted(stream[10:20]) == list(range(10, 20))
    # fewer samples than a batch: each batch is one whole epoch
    small = BatchSampler(torch.arange(3), 8, gen)
    assert [sorted(small.next().tolist()) for _ in range(2)] == [[0, 1, 2]] * 2


def test_subset_indices_fixed_and_sorted():
    a = subset_indices(100, 10, seed=3)
    assert torch.equal(a, subset_indices(100, 10, seed=3)) and len(a.unique()) == 10
    assert torch.equal(a, a.sort().values)
    assert torch.equal(subset_indices(5, None, 0), torch.arange(5))
    assert torch.equal(subset_indices(5, 9, 0), torch.arange(5))


def test_cuda_request_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = preset_config("regression", "fast", device="cuda")
    with pytest.raises(ValueError, match="CUDA, which is not available"):
        train_continual(cfg, progress=False)


def test_exact_and_reference_regularisers_train_alike():
    """Same value and gradient in theory, so the same short run up to rounding."""
    cfg = preset_config("regression", "fast", method="hnet", iterations=30)
    exact = train_continual(cfg, progress=False)
    reference = train_continual(cfg.replace(regularizer="reference"), progress=False)
    for row_e, row_r in zip(exact.matrix, reference.matrix):
        for e, r in zip(row_e, row_r):
            assert (e is None and r is None) or e == pytest.approx(r, rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("changes", [dict(lookahead=False), dict(reg_subset=1),
                                     dict(regularizer="reference", reg_subset=1)])
def test_hnet_variants_run(changes):
    cfg = preset_config("regression", "fast", method="hnet", iterations=20, **changes)
    r = train_continual(cfg, progress=False)
    assert len(r.final) == 3 and all(v >= 0 for v in r.final)


@pytest.mark.parametrize("target, method, scenario", [
    ("zenke", "hnet", 1), ("resnet32", "hnet", 3), ("resnet32", "finetune", 1)])
def test_cifar_targets_run(target, method, scenario):
    """Conv targets (ResNet-32 with per-task batch-norm statistics) through the engine."""
    from hnet_utils.data import datasets

    bench = make_benchmark("split_cifar10", num_tasks=2, seed=0,
                           cifar10=datasets.load_shipped_cifar10())
    extra = dict(chunk_size=7000, hnet_hidden=()) if target == "resnet32" else {}
    cfg = preset_config("split_cifar10", "fast", method=method, scenario=scenario, target=target,
                        iterations=2, test_subset=20, **extra)
    r = train_continual(cfg, benchmark=bench, progress=False)
    assert len(r.final) == 2 and all(0.0 <= v <= 100.0 for v in r.final)
    assert (r.task_inference_accuracy is not None) == (scenario == 3)
    if target == "resnet32" and method == "hnet":
        # each task's batch-norm statistics were updated while training it
        assert not torch.equal(r.target.bn.running_mean[0], r.target.bn.running_mean[1])


def test_hnet_step_is_the_plain_regularised_adam_step(split_mnist):
    """HnetLearner.step (exact regulariser, reused lookahead buffers, fused Adam) takes the
    step of the plainly written one: task loss, then the paper's task-by-task regulariser
    at θ + Δθ (lookahead from the task loss), then a step of a standard Adam."""
    import copy

    import torch.nn.functional as F

    from hnet_utils.continual.regularizer import OutputRegularizer, adam_lookahead
    from hnet_utils.networks.targets import forward_with_weights
    from hnet_utils.continual.training import make_learner

    cfg = preset_config("split_mnist", "fast", method="hnet", device="cpu")
    assert cfg.lookahead and cfg.regularizer == "exact" and cfg.beta > 0
    idx = [torch.arange(t.num_samples("train")) for t in split_mnist.tasks]
    learner = make_learner(cfg, split_mnist, torch.device("cpu"), torch.Generator(), idx)
    batches = [split_mnist.tasks[t].batch("train", torch.arange(32 * k, 32 * k + 32))
               for t in range(3) for k in range(3)]
    for task in range(3):
        if task:
            learner.end_task(task - 1)
        learner.start_task(task)
        if task < 2:
            for x, y in batches[3 * task:3 * task + 3]:
                learner.step([(task, x, y)], task + 1)
    h = copy.deepcopy(learner.hnet)                       # the same θ, θ* and embeddings
    reg = OutputRegularizer(h, beta=cfg.beta, method="reference")
    reg.snapshot()
    reg.tasks = (0, 1)
    opt = torch.optim.Adam([*h.theta_parameters(), h.task_embedding(2)], lr=cfg.lr)
    for x, y in batches[6:]:
        learner.step([(2, x, y)], 3)
        opt.zero_grad()
        head = 2 if cfg.hnet_heads == "per_task" else None      # the paper preset: per task
        F.cross_entropy(forward_with_weights(learner.target, h(task_id=2), x, head), y).backward()
        reg(adam_lookahead(opt, h.theta_parameters())).backward()
        opt.step()
    for (name, a), b in zip(learner.hnet.named_parameters(), h.parameters()):
        # Adam's first steps move every weight by about lr: compare on that scale. Where a weight's
        # gradient is near 0, Adam's m / sqrt(v) turns float rounding (another order of the same
        # sums) into up to a few thousandths of lr; a wrong gradient moves most weights by ~lr.
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-2 * cfg.lr)


@pytest.mark.parametrize("method", ["hnet", "finetune", "ewc", "hnet_tir", "hnet_r", "dgr"])
def test_every_adam_of_a_run_uses_adam_beta1(method, split_mnist, monkeypatch):
    made = []

    class RecordingAdam(torch.optim.Adam):
        def __init__(self, params, **kwargs):
            super().__init__(params, **kwargs)
            made.append(self.defaults["betas"])

    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    scenario = 1 if method in ("hnet", "finetune", "ewc") else 2
    cfg = preset_config("split_mnist", "fast", method=method, scenario=scenario, num_tasks=2,
                        iterations=2, adam_beta1=0.5)
    train_continual(cfg, benchmark=split_mnist, progress=False)
    assert made and all(betas == (0.5, 0.999) for betas in made), made
