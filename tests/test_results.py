"""Results JSON round trip, software versions and checkpoints."""

import json

import pytest
import torch

from hnet_utils.experiments.configs import ExperimentConfig, preset_config
from hnet_utils.experiments.results import ContinualResult, load_checkpoint, save_checkpoint, software_versions
from hnet_utils.networks.targets import MLP

MATRIX = [[98.0, None], [90.0, 97.0]]


def make_result(**kw):
    cfg = preset_config("split_mnist", "fast", num_tasks=2)
    return ContinualResult(config=cfg.to_dict(), metric="accuracy", matrix=MATRIX,
                           wall_time_s=1.5, device="cpu (2 threads)", **kw)


def test_summaries_are_computed_from_matrix():
    r = make_result()
    assert r.final == [90.0, 97.0] and r.during == [98.0, 97.0]
    assert r.average_final == pytest.approx(93.5)
    assert r.backward_transfer == pytest.approx(-8.0)
    assert r.average_task_inference_accuracy is None


def test_json_round_trip(tmp_path):
    r = make_result(task_inference_accuracy=[80.0, 60.0], data={"source": "shipped subset"},
                    load_average=1.25)
    path = r.save(tmp_path / "sub" / "run.json")
    raw = json.loads(path.read_text())
    for key in ("config", "metric", "matrix", "during", "final", "average_final",
                "backward_transfer", "task_inference_accuracy", "wall_time_s", "load_average", "device",
                "versions"):
        assert key in raw
    assert set(raw["versions"]) == {"python", "torch", "torchvision", "hnet_utils", "platform"}
    back = ContinualResult.load(path)
    assert back.to_dict() == r.to_dict()
    assert back.average_task_inference_accuracy == pytest.approx(70.0)
    assert back.experiment_config == ExperimentConfig.from_dict(r.config)
    assert back.experiment_config.target_hidden == (20,)  # lists come back as tuples


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        ContinualResult.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"metric": "accuracy"}))
    with pytest.raises(ValueError, match="missing"):
        ContinualResult.load(bad)
    with pytest.raises(ValueError, match="metric"):
        ContinualResult(config={}, metric="f1", matrix=MATRIX, wall_time_s=0.0, device="cpu")


def test_versions_are_real():
    v = software_versions()
    assert v["torch"] == torch.__version__ and v["python"].count(".") == 2


def test_checkpoint_round_trip_and_wrong_architecture(tmp_path):
    cfg = preset_config("split_mnist", "fast", method="finetune")
    torch.manual_seed(0)
    net = MLP(784, (20,), 2, num_heads=5)
    path = save_checkpoint(tmp_path / "ck.pt", cfg, {"target": net}, {"num_learned": 5})
    raw = torch.load(path, weights_only=True)  # plain tensors and builtins only
    assert raw["extra"]["num_learned"] == 5

    other = MLP(784, (20,), 2, num_heads=5)
    load_checkpoint(path, config=cfg, models={"target": other})
    for a, b in zip(net.parameters(), other.parameters()):
        assert torch.equal(a, b)

    wider = MLP(784, (30,), 2, num_heads=5)
    with pytest.raises(ValueError, match=r"layers.0.weight: checkpoint shape \(20, 784\), model shape \(30, 784\)"):
        load_checkpoint(path, models={"target": wider})
    with pytest.raises(ValueError, match="target_hidden: checkpoint has \\[20\\], expected \\[30\\]"):
        load_checkpoint(path, config=cfg.replace(target_hidden=(30,)))
    with pytest.raises(ValueError, match="no 'hnet'"):
        load_checkpoint(path, models={"hnet": other})
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing.pt")
