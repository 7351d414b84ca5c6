"""A run never loses work (issue #11): bad input fails before training with one ``error:``
line, output paths are checked first, writes are atomic, checkpoints load with our messages."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hnet_utils import run
from hnet_utils.continual.regularizer import OutputRegularizer
from hnet_utils.data.benchmarks import make_benchmark
from hnet_utils.experiments.configs import preset_config
from hnet_utils.experiments.results import (CheckpointError, ContinualResult, read_checkpoint,
                                            save_checkpoint)
from hnet_utils.files import OutputPathError, atomic_write, check_output_path
from hnet_utils.networks.hypernet import ChunkedHyperNetwork, HyperNetwork, make_hypernetwork
from hnet_utils.networks.targets import MLP

TINY = ["--benchmark", "regression", "--preset", "fast", "--iterations", "5", "--no-progress",
        "--threads", "1"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content: to assert that nothing changed on disk."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def no_training(monkeypatch):
    """Training (and data loading) must not start: any call fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("training must not start on bad input")

    monkeypatch.setattr("hnet_utils.continual.training.train_continual", refuse)
    monkeypatch.setattr("hnet_utils.continual.training.make_benchmark_for", refuse)


def cli_error(argv, capsys) -> str:
    """Run the CLI expecting an expected error: exit status 2, stderr one error line + hint."""
    with pytest.raises(SystemExit) as exc:
        run.main(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1] == run.HINT, captured.err
    assert "Traceback" not in captured.err and "usage:" not in captured.err
    return lines[0]


# ------------------------------------------------------------- 1. output paths, before training


@pytest.mark.parametrize("option", ["--out", "--checkpoint"])
def test_output_path_that_is_a_folder_fails_before_training(option, tmp_path, capsys, no_training):
    before = snapshot(tmp_path)
    message = cli_error([*TINY, option, str(tmp_path)], capsys)
    assert str(tmp_path) in message and "is a folder" in message
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("option", ["--out", "--checkpoint"])
def test_output_path_in_a_missing_folder_fails_and_creates_nothing(option, tmp_path, capsys,
                                                                   no_training):
    target = tmp_path / "missing" / "run.out"
    message = cli_error([*TINY, option, str(target)], capsys)
    assert "does not exist" in message and str(tmp_path / "missing") in message
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("option", ["--out", "--checkpoint"])
def test_output_path_in_an_unwritable_place_fails_before_training(option, tmp_path, capsys,
                                                                  no_training):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    cli_error([*TINY, option, str(not_a_folder / "run.out")], capsys)
    assert not_a_folder.read_text() == "x"


def test_unwritable_folder_is_refused(tmp_path, monkeypatch):
    def no_temp_file(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("hnet_utils.files.tempfile.mkstemp", no_temp_file)
    with pytest.raises(OutputPathError, match="is not writable"):
        check_output_path(tmp_path / "r.json", "results file")


# ------------------------------------------------- 2. no silent overwrite, no silent folders


def test_existing_results_file_is_refused_unless_overwrite(tmp_path, capsys, no_training):
    out = tmp_path / "r.json"
    out.write_text("previous results\n")
    message = cli_error([*TINY, "--out", str(out)], capsys)
    assert "already exists" in message and "--overwrite" in message
    assert out.read_text() == "previous results\n"


def test_overwrite_replaces_the_results_file(tmp_path, capsys):
    out = tmp_path / "r.json"
    out.write_text("previous results\n")
    result = run.main([*TINY, "--method", "finetune", "--out", str(out), "--overwrite"])
    assert ContinualResult.load(out).matrix == result.matrix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temporary files left


def test_checkpoint_of_the_same_run_is_reused_and_another_is_refused(tmp_path, capsys):
    ck = tmp_path / "r.pt"
    first = run.main([*TINY, "--checkpoint", str(ck)])
    stored = ck.read_bytes()
    capsys.readouterr()

    out = tmp_path / "r.json"
    again = run.main([*TINY, "--checkpoint", str(ck), "--out", str(out)])  # no training: reused
    assert "reusing it instead of training again" in capsys.readouterr().out
    assert again.matrix == first.matrix and ContinualResult.load(out).matrix == first.matrix
    assert ck.read_bytes() == stored

    message = cli_error([*TINY, "--lr", "0.02", "--checkpoint", str(ck)], capsys)
    assert "another configuration" in message and "lr" in message and "--overwrite" in message
    assert ck.read_bytes() == stored


def test_existing_file_that_is_no_checkpoint_is_not_overwritten(tmp_path, capsys, no_training):
    ck = tmp_path / "notes.pt"
    ck.write_text("my notes")
    message = cli_error([*TINY, "--checkpoint", str(ck)], capsys)
    assert str(ck) in message
    assert ck.read_text() == "my notes"


# ------------------------------------------------------------------ 3. atomic writes


class Interrupted(BaseException):
    """Stands for Ctrl-C or a killed process in the middle of a write."""


def test_interrupted_write_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("previous")

    def write_half(file):
        file.write(b'{"half": ')
        raise Interrupted

    with pytest.raises(Interrupted):
        atomic_write(path, write_half)
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_interrupted_results_and_checkpoint_saves_keep_previous_files(tmp_path, monkeypatch):
    cfg = preset_config("split_mnist", "fast", num_tasks=2, method="finetune")
    result = ContinualResult(config=cfg.to_dict(), metric="accuracy", matrix=[[90.0, None], [80.0, 95.0]],
                             wall_time_s=1.0, device="cpu")
    out = result.save(tmp_path / "r.json")
    ck = save_checkpoint(tmp_path / "r.pt", cfg, {"target": MLP(4, (3,), 2)})
    before = snapshot(tmp_path)

    real_save = torch.save

    def save_half(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")
        raise Interrupted

    monkeypatch.setattr(torch, "save", save_half)
    with pytest.raises(Interrupted):
        save_checkpoint(ck, cfg, {"target": MLP(4, (3,), 2)})
    monkeypatch.setattr(torch, "save", real_save)
    monkeypatch.setattr("hnet_utils.experiments.results.json.dumps",
                        lambda *a, **k: (_ for _ in ()).throw(Interrupted()))
    with pytest.raises(Interrupted):
        result.save(out)
    assert snapshot(tmp_path) == before
    read_checkpoint(ck)  # still a valid checkpoint


def test_atomic_files_get_normal_permissions(tmp_path):
    path = atomic_write(tmp_path / "f", lambda f: f.write(b"x"))
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


# ------------------------------------------------------------- 4. bad numbers are refused


@pytest.mark.parametrize("option", ["--lr", "--beta"])
@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_numbers_are_refused_by_the_cli(option, value, capsys, no_training):
    message = cli_error([*TINY, f"{option}={value}"], capsys)
    assert message.startswith(f"error: {option[2:]} must be a number")
    assert "finite" in message


@pytest.mark.parametrize("field", ["lr", "beta", "ewc_lambda", "si_c", "si_epsilon",
                                   "outlier_weight", "online_gamma"])
@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_replace_validates(field, value):
    cfg = preset_config("regression", "fast")
    with pytest.raises(ValueError, match=field):
        cfg.replace(**{field: value})


def test_replace_refuses_out_of_range_and_accepts_consistent_changes():
    cfg = preset_config("regression", "fast")
    with pytest.raises(ValueError, match=r"beta must be a number >= 0"):
        cfg.replace(beta=-1)
    with pytest.raises(ValueError, match=r"lr must be a number > 0"):
        cfg.replace(lr=math.inf)
    assert cfg.replace(beta=0.0, lr=0.5).lr == 0.5


@pytest.mark.parametrize("init_std", [math.nan, math.inf, -1.0])
def test_hypernetwork_refuses_non_finite_init_std(init_std):
    with pytest.raises(ValueError, match="init_std must be a finite number >= 0"):
        HyperNetwork(141, 2, init_std=init_std)
    with pytest.raises(ValueError, match="init_std"):
        HyperNetwork(3, 2, init_std=torch.tensor([0.1, init_std, 0.1]))


@pytest.mark.parametrize("beta", [math.inf, math.nan, -0.1])
def test_output_regularizer_refuses_bad_beta(beta):
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        OutputRegularizer(HyperNetwork(141, 2), beta=beta)


# ---------------------------------------------------- 5. chunk size larger than the target


def test_chunk_larger_than_the_target_is_refused_everywhere(capsys, no_training):
    with pytest.raises(ValueError, match=r"chunk_size must be an integer in \[1, 141\]"):
        ChunkedHyperNetwork(141, 2, 2, 142)
    with pytest.raises(ValueError, match=r"chunk_size must be an integer in \[1, 141\]"):
        make_hypernetwork(141, 2, chunk_size=100_000, chunk_embedding_dim=2)
    assert ChunkedHyperNetwork(141, 2, 2, 141).num_chunks == 1
    message = cli_error([*TINY, "--hnet-type", "chunked", "--chunk-size", "100000",
                         "--chunk-embedding-dim", "4"], capsys)
    assert "chunk_size must be an integer in [1, 141]" in message


# ------------------------------------------------------ 6. one rule for the number of tasks


def test_cli_and_make_benchmark_agree_on_num_tasks(capsys, no_training):
    message = cli_error([*TINY, "--num-tasks", "101"], capsys)
    with pytest.raises(ValueError) as err:
        make_benchmark("regression", num_tasks=101)
    assert message == f"error: {err.value}"
    assert make_benchmark("regression", num_tasks=9).num_tasks == 9  # generated tasks: allowed


def test_bad_val_size_is_refused_before_training(capsys, no_training):
    message = cli_error([*TINY, "--val-size", "-1"], capsys)
    assert message.startswith("error: val_size must be an int >= 0 or None")
    with pytest.raises(ValueError, match="val_size"):
        preset_config("regression", "fast").replace(val_size=2.5)


def test_make_benchmark_for_holds_out_cfg_val_size():
    from hnet_utils.continual import training

    cfg = preset_config("regression", "fast")
    assert training.make_benchmark_for(cfg).tasks[0].num_samples("val") == 50       # the default
    assert training.make_benchmark_for(cfg.replace(val_size=7)).tasks[0].num_samples("val") == 7
    with pytest.raises(ValueError, match="val_size=7 but the benchmark holds out val_size=50"):
        training.train_continual(cfg.replace(val_size=7), benchmark=training.make_benchmark_for(cfg))


# ---------------------------------------------------- 7. one error line, exit status 2


def test_configuration_error_is_one_line_without_usage(capsys):
    message = cli_error(["--benchmark", "split_mnist", "--method", "scratch", "--scenario", "2"],
                        capsys)
    assert "method 'scratch' supports scenario 1 only" in message


def test_argparse_errors_are_one_line_too(capsys):
    message = cli_error(["--benchmark", "imagenet"], capsys)
    assert "invalid choice: 'imagenet'" in message
    assert "--benchmark" in cli_error([], capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu_is_one_error_line(tmp_path, capsys, no_training):
    message = cli_error([*TINY, "--device", "cuda", "--out", str(tmp_path / "r.json")], capsys)
    assert "CUDA" in message and "not available" in message
    assert not any(tmp_path.iterdir())


def test_corrupt_dataset_file_is_one_error_line(temp_mirror, tmp_path, capsys):
    labels = temp_mirror / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-10])  # truncated
    before = snapshot(temp_mirror)
    message = cli_error(["--benchmark", "split_mnist", "--preset", "fast", "--no-progress",
                         "--out", str(tmp_path / "r.json")], capsys)
    assert str(labels) in message
    assert snapshot(temp_mirror) == before and not (tmp_path / "r.json").exists()


def test_debug_shows_the_traceback(tmp_path, no_training):
    with pytest.raises(OutputPathError):
        run.main([*TINY, "--out", str(tmp_path), "--debug"])
    with pytest.raises(ValueError, match="lr must be"):
        run.main([*TINY, "--lr", "nan", "--debug"])


def test_subprocess_prints_one_line_and_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hnet_utils.run", *TINY, "--beta", "inf"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["error: beta must be a number >= 0 (finite: not NaN or "
                                        "infinity), got inf", run.HINT]


# -------------------------------------------------------------- 8. loading checkpoints


def test_evaluate_a_checkpoint_reproduces_the_final_row(tmp_path, capsys):
    ck = tmp_path / "r.pt"
    result = run.main([*TINY, "--checkpoint", str(ck)])
    capsys.readouterr()
    values = run.main(["--evaluate", str(ck), "--threads", "1"])
    assert values == pytest.approx(result.final, rel=1e-5)
    printed = capsys.readouterr().out
    assert "final mse per task" in printed and str(ck) in printed


def test_evaluate_refuses_configuration_options(tmp_path, capsys):
    message = cli_error(["--evaluate", str(tmp_path / "r.pt"), "--lr", "0.1"], capsys)
    assert "--evaluate takes the configuration stored in the checkpoint" in message
    assert "--lr" in message


def test_truncated_checkpoint_names_the_file(tmp_path, capsys):
    ck = tmp_path / "r.pt"
    run.main([*TINY, "--checkpoint", str(ck)])
    capsys.readouterr()
    ck.write_bytes(ck.read_bytes()[:1000])
    message = cli_error(["--evaluate", str(ck)], capsys)
    assert str(ck) in message and "PytorchStreamReader" not in message
    with pytest.raises(CheckpointError, match=str(ck)):
        read_checkpoint(ck)


class NotAllowed:
    """An object that ``weights_only=True`` refuses to unpickle."""


def test_foreign_pickle_never_advises_weights_only_false(tmp_path, capsys):
    ck = tmp_path / "foreign.pt"
    torch.save({"config": {}, "states": NotAllowed()}, ck)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(ck)
    assert str(ck) in str(err.value) and "weights_only" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    message = cli_error(["--evaluate", str(ck)], capsys)
    assert "weights_only" not in message and str(ck) in message

    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CheckpointError, match="plain.pkl"):
        read_checkpoint(plain)
    results = tmp_path / "r.json"
    results.write_text(json.dumps({"not": "a checkpoint"}))
    with pytest.raises(CheckpointError, match="r.json"):
        read_checkpoint(results)


def test_missing_checkpoint_is_one_error_line(tmp_path, capsys):
    message = cli_error(["--evaluate", str(tmp_path / "none.pt")], capsys)
    assert "no checkpoint at" in message


def test_shapes_used_before_loading_data_match_the_built_benchmarks(mnist_mini):
    """The CLI builds the target from ``SHAPES`` to check the chunk size without data."""
    from hnet_utils.data import benchmarks

    built = {"regression": benchmarks.regression(num_tasks=1),
             "split_mnist": benchmarks.split_mnist(num_tasks=1, mnist=mnist_mini),
             "permuted_mnist": benchmarks.permuted_mnist(num_tasks=1, mnist=mnist_mini)}
    for name, bench in built.items():
        assert benchmarks.SHAPES[name] == (tuple(bench.input_shape), bench.classes_per_task), name
