"""Command line: --help, presets, bad input rejected before training, a tiny real run."""

import json
import subprocess
import sys
from dataclasses import fields

import pytest
import torch

from hnet_utils import run
from hnet_utils.experiments.configs import ExperimentConfig, preset_config
from hnet_utils.experiments.results import ContinualResult


def fail(argv, capsys):
    """Run the CLI expecting a usage error; return its message."""
    with pytest.raises(SystemExit) as exc:
        run.main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_help_documents_every_option():
    out = subprocess.run([sys.executable, "-m", "hnet_utils.run", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for f in fields(ExperimentConfig):
        assert "--" + f.name.replace("_", "-") in out
    for option in ("--preset", "--out", "--checkpoint", "--print-config", "--threads",
                   "--overwrite", "--evaluate", "--debug"):
        assert option in out
    assert set(run.FIELD_HELP) == {f.name for f in fields(ExperimentConfig)}


def test_print_config_resolves_preset_and_overrides(capsys):
    run.main(["--benchmark", "split_mnist", "--method", "si", "--scenario", "3",
              "--target-hidden", "100,50", "--reg-subset", "none", "--no-lookahead",
              "--print-config"])
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["si_c"] == preset_config("split_mnist", "paper", scenario=3).si_c
    assert cfg["target_hidden"] == [100, 50] and cfg["lookahead"] is False
    assert cfg["iterations"] == 2000 and cfg["chunk_size"] == 42_000  # from the paper preset


@pytest.mark.parametrize("argv, message", [
    (["--benchmark", "imagenet"], "invalid choice: 'imagenet'"),
    (["--benchmark", "split_mnist", "--method", "lwf"], "invalid choice: 'lwf'"),
    (["--benchmark", "split_mnist", "--scenario", "4"], "invalid choice: 4"),
    (["--benchmark", "split_mnist", "--method", "scratch", "--scenario", "2"],
     "method 'scratch' supports scenario 1 only"),
    (["--benchmark", "regression", "--scenario", "3"], "'regression' supports scenario 1 only"),
    (["--benchmark", "split_mnist", "--preset", "huge"], "unknown preset 'huge'"),
    (["--benchmark", "split_mnist", "--epochs", "3"], "exactly one of iterations and epochs"),
    (["--benchmark", "split_mnist", "--hnet-type", "full"], "does not use chunk_size"),
    (["--benchmark", "split_mnist", "--num-tasks", "6"], "num_tasks must be an integer in [1, 5]"),
    (["--benchmark", "split_mnist", "--target", "resnet32"], "needs image inputs"),
    (["--benchmark", "split_mnist", "--reg-subset", "0"], "reg_subset must be a number > 0"),
    (["--benchmark", "split_mnist", "--lr", "-1"], "lr must be a number > 0"),
    (["--benchmark", "split_mnist", "--adam-beta1", "1"], "adam_beta1 must be a number in [0, 1)"),
    (["--benchmark", "split_mnist", "--target-hidden", "4x4"], "comma-separated integers"),
    (["--benchmark", "split_mnist", "--threads", "0"], "--threads must be a positive integer"),
])
def test_bad_input_is_a_clear_error(argv, message, capsys, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("training must not start on bad input")

    monkeypatch.setattr("hnet_utils.continual.training.train_continual", no_training)
    assert message in fail(argv, capsys)


def test_full_hypernetwork_override_is_accepted_when_consistent(capsys):
    run.main(["--benchmark", "split_mnist", "--hnet-type", "full", "--chunk-size", "none",
              "--chunk-embedding-dim", "none", "--print-config"])
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["hnet_type"] == "full" and cfg["chunk_size"] is None


def test_tiny_run_writes_json_and_checkpoint(tmp_path, capsys):
    out, ck = tmp_path / "r.json", tmp_path / "r.pt"
    result = run.main(["--benchmark", "regression", "--preset", "fast", "--method", "finetune",
                       "--iterations", "20", "--no-progress", "--threads", "1",
                       "--out", str(out), "--checkpoint", str(ck)])
    printed = capsys.readouterr().out
    assert "average final mse" in printed
    loaded = ContinualResult.load(out)
    assert loaded.matrix == result.matrix and loaded.config["iterations"] == 20
    assert loaded.device.startswith("cpu") or loaded.device.startswith("cuda")
    assert torch.load(ck, weights_only=True)["config"]["method"] == "finetune"


def test_every_preset_is_valid():
    from hnet_utils.experiments.configs import PRESETS

    for benchmark, presets in PRESETS.items():
        for name in presets:
            for scenario in ([1] if benchmark == "regression" else [1, 2, 3]):
                cfg = preset_config(benchmark, name, scenario=scenario)
                assert cfg.benchmark == benchmark


def test_paper_presets_follow_method_md():
    perm = preset_config("permuted_mnist", "paper")
    assert (perm.num_tasks, perm.target_hidden, perm.embedding_dim, perm.chunk_embedding_dim,
            perm.chunk_size, perm.hnet_hidden, perm.hnet_activation, perm.beta, perm.lr,
            perm.iterations, perm.batch_size) == (10, (1000, 1000), 24, 8, 78_000, (25, 25), "elu",
                                                  0.1, 1e-4, 5000, 128)
    split = preset_config("split_mnist", "paper")
    assert (split.target_hidden, split.embedding_dim, split.chunk_embedding_dim, split.chunk_size,
            split.hnet_hidden, split.beta, split.lr, split.iterations) == \
        ((400, 400), 96, 96, 42_000, (10, 10), 0.01, 1e-3, 2000)
    reg = preset_config("regression", "paper")
    assert (reg.target_hidden, reg.target_activation, reg.hnet_type, reg.embedding_dim, reg.beta,
            reg.lr, reg.iterations, reg.batch_size) == ((10, 10), "sigmoid", "full", 2, 0.005,
                                                        0.01, 4001, 32)


def test_preset_override_errors():
    with pytest.raises(ValueError, match="contradicts the preset's benchmark 'split_mnist'"):
        preset_config("split_mnist", "paper", benchmark="regression")
    with pytest.raises(ValueError, match=r"unknown configuration field\(s\) \['learning_rate'\]"):
        preset_config("split_mnist", "paper", learning_rate=0.1)
    with pytest.raises(ValueError, match="benchmark must be one of"):
        preset_config("mnist", "paper")
    with pytest.raises(ValueError, match="online_gamma must be in"):
        preset_config("split_mnist", "paper", online_gamma=0.0)


@pytest.mark.parametrize("benchmark,overrides", [
    ("split_mnist", dict(method="hnet", scenario=3, seed=2)),
    ("permuted_mnist", dict(method="ewc", scenario=1, ewc_lambda=5.0, fisher_samples=None)),
    ("regression", dict(method="hnet", scenario=1, lookahead=False, hnet_hidden=(), beta=0.0)),
    ("split_mnist", dict(method="si", scenario=2, target_hidden=(20,), train_subset=256)),
])
def test_config_to_argv_round_trips(benchmark, overrides):
    cfg = preset_config(benchmark, "paper", **overrides)
    argv = run.config_to_argv(cfg)
    _, back = run.parse_config(argv)
    assert back == cfg
    # only what differs from the preset is spelled out
    assert "--seed" in argv if overrides.get("seed") else "--seed" not in argv
    fast = preset_config(benchmark, "fast", **overrides)
    assert run.parse_config(run.config_to_argv(fast, preset="fast"))[1] == fast
