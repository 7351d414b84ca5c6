"""HNET+ENT task inference: entropy, picking, and the batched path through a hypernetwork."""

import math

import pytest
import torch

from hnet_utils.networks.hypernet import HyperNetwork
from hnet_utils.continual.inference import (all_task_logits, infer_task, pick, predict_without_task_id,
                                  predictive_entropy)
from hnet_utils.networks.targets import MLP, forward_with_weights, num_params


def test_entropy_values():
    assert predictive_entropy(torch.zeros(4)).item() == pytest.approx(math.log(4))
    assert predictive_entropy(torch.tensor([100.0, 0.0])).item() == pytest.approx(0.0, abs=1e-6)


def test_infer_task_picks_the_confident_task():
    # 3 tasks, 4 samples, 2 classes; sample i is confidently classified by task i % 3
    logits = torch.zeros(3, 4, 2)
    for i, t in enumerate([0, 1, 2, 0]):
        logits[t, i] = torch.tensor([0.0, 8.0]) if i % 2 else torch.tensor([8.0, 0.0])
    tasks = infer_task(logits)
    assert tasks.tolist() == [0, 1, 2, 0]
    assert pick(logits, tasks).argmax(-1).tolist() == [0, 1, 0, 1]
    with pytest.raises(ValueError, match=r"\(T, N, C\)"):
        infer_task(torch.zeros(3, 2))


def test_batched_inference_through_hypernetwork():
    """Each task embedding is set so that its weights are confident exactly on 'its' inputs."""
    torch.manual_seed(0)
    target = MLP(in_features=2, hidden=(), out_features=2)  # linear: logits = W x + b
    h = HyperNetwork(num_params(target), embedding_dim=4, hidden=())
    for _ in range(2):
        h.add_task()
    # the two embeddings give weights confident on x[0]-direction or x[1]-direction inputs
    weights = torch.tensor([[6.0, 0.0, -6.0, 0.0, 0.0, 0.0],
                            [0.0, 6.0, 0.0, -6.0, 0.0, 0.0]])
    with torch.no_grad():
        h.output.weight.zero_()
        h.output.bias.zero_()
        h.output.weight[:, :2] = weights.T  # output = W e; e = one-hot(task)
        h.task_embeddings[0].copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        h.task_embeddings[1].copy_(torch.tensor([0.0, 1.0, 0.0, 0.0]))
    x = torch.tensor([[1.0, 0.0], [0.0, -1.0], [-1.0, 0.0], [0.0, 1.0]])
    logits = all_task_logits(h, target, x)
    assert logits.shape == (2, 4, 2)
    for t in range(2):  # same as evaluating each task's weights separately
        torch.testing.assert_close(logits[t], forward_with_weights(target, h(task_id=t), x))
    tasks, labels = predict_without_task_id(h, target, x)
    assert tasks.tolist() == [0, 1, 0, 1]
    assert labels.tolist() == [0, 1, 1, 0]
    # restricted to the first task, everything is attributed to it
    assert predict_without_task_id(h, target, x, num_tasks=1)[0].tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="num_tasks"):
        all_task_logits(h, target, x, num_tasks=3)


def test_per_task_heads_embedding_t_uses_head_t():
    """hnet_heads='per_task' (the authors' SplitMNIST CL3 layout): the target has one 2-unit head
    per task; training, prediction and ENT all read embedding t's outputs from head t."""
    from hnet_utils.continual.training import train_continual
    from hnet_utils.experiments.configs import preset_config

    cfg = preset_config("split_mnist", "fast", method="hnet", scenario=3, hnet_heads="per_task",
                        iterations=5)
    result = train_continual(cfg, progress=False)
    assert result.target.num_heads == cfg.num_tasks and result.target.out.out_features == 2 * cfg.num_tasks
    x = torch.rand(7, 784)
    logits = all_task_logits(result.hnet, result.target, x, 3)
    assert logits.shape == (3, 7, 2)
    for t in range(3):
        own = forward_with_weights(result.target, result.hnet(task_id=t), x, head=t)
        other = forward_with_weights(result.target, result.hnet(task_id=t), x, head=(t + 1) % 3)
        assert torch.allclose(logits[t], own, atol=1e-6)
        assert not torch.allclose(logits[t], other, atol=1e-3)
    with pytest.raises(ValueError, match="hnet_heads='per_task'.*method='hnet'.*'hnet_tir'"):
        preset_config("split_mnist", "fast", method="hnet_tir", scenario=3, hnet_heads="per_task")
    with pytest.raises(ValueError, match="hnet_heads='per_task'.*classification"):
        preset_config("regression", "fast", hnet_heads="per_task")
    # a baseline does not read it (compare_methods switches the method of an HNET configuration)
    assert preset_config("split_mnist", "fast", method="ewc", hnet_heads="per_task").method == "ewc"
    with pytest.raises(ValueError, match="hnet_heads must be one of"):
        preset_config("split_mnist", "fast", hnet_heads="two")


def _entropy_nan_check():
    """scripts/entropy_nan_check.py as a module."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "scripts" / "entropy_nan_check.py"
    spec = importlib.util.spec_from_file_location("entropy_nan_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_authors_entropy_is_nan_when_softmax_underflows_and_argmin_takes_the_first_nan():
    logits = torch.tensor([[[0.0, 1.0]], [[0.0, 200.0]], [[0.0, 300.0]], [[0.0, 0.5]]])  # (T=4, N=1, C=2)
    entropy, tasks = _entropy_nan_check().authors_rule(logits)
    assert torch.isnan(entropy[1:3, 0]).all() and not torch.isnan(entropy[[0, 3], 0]).any()
    assert tasks.tolist() == [1]
    assert infer_task(logits).tolist() == [1]   # ours: entropy 0 for both, the first of them wins


def test_entropy_nan_check_reproduces_the_runs_final_accuracies(tmp_path):
    from hnet_utils.continual.training import train_continual
    from hnet_utils.experiments.configs import preset_config
    from hnet_utils.experiments.results import save_run_checkpoint

    cfg = preset_config("split_mnist", "fast", method="hnet", scenario=3, num_tasks=3, iterations=30)
    run = train_continual(cfg, progress=False)
    report = _entropy_nan_check().main([str(save_run_checkpoint(run, tmp_path / "run.pt"))])
    assert report["accuracy"]["ours"] == pytest.approx(run.final, abs=1e-4)
    assert len(report["max_logit_gap"]) == 3
