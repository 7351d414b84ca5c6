"""No run's results are lost, replaced or silently changed (the issue's cases, one test each):
full disks, long names, one path for two outputs, concurrent writers, interruptions, a resume
or an evaluation on other data, and bad input that used to fail only after the data were built.

Faults are simulated: a patched free-space reading or ``fsync`` for a full disk, two real
processes racing for one file, real signals sent to a child process."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hnet_utils import reproduce, run
from hnet_utils.continual import training
from hnet_utils.data import datasets
from hnet_utils.experiments import pretrained
from hnet_utils.experiments.configs import preset_config
from hnet_utils.experiments.results import ContinualResult, read_checkpoint
from hnet_utils.files import OutputPathError, OutputWriteError, Reservation, atomic_write_text
from hnet_utils.viz import embedding_space, widgets

from test_robustness import TINY, cli_error, no_training, snapshot  # noqa: F401 (fixture)

#: A run of the CLI that takes a few seconds in a child process (3 tasks).
SLOW = ["--benchmark", "regression", "--preset", "fast", "--iterations", "1500", "--no-progress",
        "--threads", "1"]
REPO = Path(__file__).resolve().parent.parent


def child(args, **kwargs) -> subprocess.Popen:
    """``python -m hnet_utils.run ARGS`` (or another module) in a child process."""
    return subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def wait_for(condition, timeout=120.0, what="condition"):
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def printed_json(text: str) -> dict:
    """The JSON object printed in ``text`` (the results of a run whose file could not be written)."""
    return json.JSONDecoder().raw_decode(text[text.index("{"):])[0]


def disk_full_when_writing(monkeypatch, target: Path):
    """``fsync`` of the temporary file of ``target`` fails with ENOSPC: the disk filled up
    while ``target`` was written (other files are written as usual)."""
    real = os.fsync

    def fsync(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(f".{target.name}."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr("hnet_utils.files.os.fsync", fsync)


# ---------------------------------------------------------------- results lost after training


@pytest.mark.parametrize("option", ["--out", "--checkpoint"])
def test_a_full_disk_is_refused_before_training(option, tmp_path, capsys, no_training, monkeypatch):
    usage = type("usage", (), {"total": 10 << 20, "used": 10 << 20, "free": 4096})
    monkeypatch.setattr("hnet_utils.files.shutil.disk_usage", lambda path: usage)
    message = cli_error([*TINY, option, str(tmp_path / "r.out")], capsys)
    assert "free" in message and str(tmp_path) in message
    assert not any(tmp_path.iterdir())


def test_disk_full_at_the_results_file_keeps_the_checkpoint_and_prints_the_results(
        tmp_path, capsys, monkeypatch):
    out, ck = tmp_path / "r.json", tmp_path / "r.pt"
    disk_full_when_writing(monkeypatch, out)
    with pytest.raises(SystemExit) as exc:
        run.main([*TINY, "--out", str(out), "--checkpoint", str(ck)])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert "No space left on device" in captured.err and str(out) in captured.err
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
    result = ContinualResult.from_dict(printed_json(captured.out))  # the numbers survive on stdout
    assert result.final == read_checkpoint(ck)["extra"]["result"]["final"]  # checkpoint written


def test_disk_full_at_the_checkpoint_names_the_real_cause_and_keeps_the_results(
        tmp_path, capsys, monkeypatch):
    out, ck = tmp_path / "r.json", tmp_path / "r.pt"
    disk_full_when_writing(monkeypatch, ck)
    with pytest.raises(SystemExit):
        run.main([*TINY, "--out", str(out), "--checkpoint", str(ck)])
    err = capsys.readouterr().err
    assert "cannot write the checkpoint" in err and "No space left on device" in err
    assert "unexpected pos" not in err and "Traceback" not in err
    assert ContinualResult.load(out).final and not ck.exists()


def test_a_torch_save_into_a_full_file_reports_the_disk(tmp_path, monkeypatch):
    """torch.save into a failing file says only "unexpected pos"; ours says what happened."""
    from hnet_utils.experiments.results import save_checkpoint

    class FullFile:
        def __init__(self, file):
            self.file = file

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def __getattr__(self, name):
            return getattr(self.file, name)

    real_fdopen = os.fdopen
    monkeypatch.setattr("hnet_utils.files.os.fdopen", lambda *a, **k: FullFile(real_fdopen(*a, **k)))
    with pytest.raises(OutputWriteError, match="checkpoint .*No space left on device"):
        save_checkpoint(tmp_path / "c.pt", preset_config("regression", "paper"),
                        {"net": torch.nn.Linear(2, 2)})
    assert not any(tmp_path.iterdir())


def test_a_long_legal_name_is_written(tmp_path, capsys):
    name = "r" * (255 - len(".json")) + ".json"  # 255 bytes: the longest legal name
    out = tmp_path / name
    run.main([*TINY, "--out", str(out)])
    assert ContinualResult.load(out).final


def test_a_name_too_long_for_the_file_system_is_refused_before_training(tmp_path, capsys,
                                                                       no_training):
    message = cli_error([*TINY, "--out", str(tmp_path / ("r" * 300 + ".json"))], capsys)
    assert "305 bytes" in message and "allows 255" in message


def test_one_path_for_two_outputs_is_refused(tmp_path, capsys, no_training):
    same = tmp_path / "r.out"
    message = cli_error([*TINY, "--out", str(same), "--checkpoint", str(tmp_path / "." / "r.out")],
                        capsys)
    assert "--out and --checkpoint name the same file" in message
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("option", ["--out", "--checkpoint"])
def test_two_runs_racing_for_one_file_the_second_is_refused(option, tmp_path):
    target = tmp_path / "r.out"
    first = child(["hnet_utils.run", *SLOW, option, str(target)])
    lock = tmp_path / ".r.out.lock"
    wait_for(lambda: lock.exists() or first.poll() is not None, what="the first run's lock")
    second = child(["hnet_utils.run", *SLOW, option, str(target)])
    out2, err2 = second.communicate(timeout=120)
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 2 and "another run is writing" in err2, err2
    assert "training" not in out2 and "written" not in out2
    assert target.is_file() and not lock.exists()


def test_two_reproduce_commands_never_train_one_run_twice(tmp_path):
    folder = tmp_path / "results"
    env = {**os.environ, "HNET_FAST": "1"}
    args = ["hnet_utils.reproduce", "--only", "regression", "--methods", "hnet", "--seeds", "0",
            "--results-dir", str(folder), "--no-progress", "--no-tables", "--threads", "1"]
    first = child(args, env=env)
    wait_for(lambda: any(folder.glob(".*.lock")) or first.poll() is not None, what="the lock")
    second = child(args, env=env)
    out2, err2 = second.communicate(timeout=300)
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert "another run is writing" in out2 or "1 runs: 1 done" in out2, out2
    assert [p.name for p in folder.glob("*.json")] == ["regression_hnet_cl1.json"]
    assert not list(folder.glob(".*.lock"))


def test_an_existing_device_or_pipe_is_never_an_output(tmp_path, capsys, no_training):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    message = cli_error([*TINY, "--out", str(fifo), "--overwrite"], capsys)
    assert "not a regular file" in message


def test_a_file_made_by_someone_else_during_the_run_is_not_replaced(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r.json"
    real_train = training.train_continual

    def train_while_someone_writes(*args, **kwargs):
        out.write_text("another run's results")
        return real_train(*args, **kwargs)

    monkeypatch.setattr("hnet_utils.continual.training.train_continual", train_while_someone_writes)
    with pytest.raises(SystemExit):
        run.main([*TINY, "--out", str(out)])
    captured = capsys.readouterr()
    assert out.read_text() == "another run's results"
    assert "appeared while this run was writing it" in captured.err
    assert printed_json(captured.out)["final"]  # the results are not lost


@pytest.mark.parametrize("problem", ["file", "unwritable", "full"])
def test_reproduce_checks_its_results_folder_before_the_first_run(problem, tmp_path, capsys,
                                                                  no_training, monkeypatch):
    folder = tmp_path / "results"
    if problem == "file":
        folder.write_text("x")
    elif problem == "unwritable":
        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")
        monkeypatch.setattr("hnet_utils.files.tempfile.mkstemp", refuse)
    else:
        usage = type("usage", (), {"total": 1 << 30, "used": 1 << 30, "free": 1 << 20})
        monkeypatch.setattr("hnet_utils.files.shutil.disk_usage", lambda path: usage)
    monkeypatch.setenv("HNET_FAST", "1")
    with pytest.raises(SystemExit) as exc:
        reproduce.main(["--only", "regression", "--results-dir", str(folder), "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert {"file": "is a file", "unwritable": "not writable", "full": "free"}[problem] in err


# ------------------------------------------------------------ interrupted runs: what is kept


def interrupt_after_task_1(args, resume_file: Path, sig=signal.SIGINT):
    proc = child(args)
    wait_for(lambda: resume_file.exists() or proc.poll() is not None, what="task 1's state")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_says_what_it_kept_and_resumes(sig, tmp_path):
    out = tmp_path / "r.json"
    resume_file = run.resume_path(str(out))
    code, _, err = interrupt_after_task_1(["hnet_utils.run", *SLOW, "--out", str(out)],
                                          resume_file, sig)
    assert code == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "interrupted after task" in lines[0] and str(resume_file) in lines[0]
    assert not out.exists() and resume_file.exists()
    again = subprocess.run([sys.executable, "-m", "hnet_utils.run", *SLOW, "--out", str(out)],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resuming an interrupted run" in again.stdout
    straight = tmp_path / "straight.json"
    run.main([*SLOW, "--out", str(straight)])
    assert ContinualResult.load(out).matrix == ContinualResult.load(straight).matrix
    assert not resume_file.exists()


def test_an_interrupted_reproduce_says_it_resumes_in_one_line(tmp_path):
    folder = tmp_path / "results"
    env = {**os.environ, "HNET_FAST": "1"}
    proc = child(["hnet_utils.reproduce", "--only", "regression", "--results-dir", str(folder),
                  "--no-progress", "--no-tables", "--threads", "1"], env=env)
    wait_for(lambda: any(folder.glob(".progress/*.resume.pt")) or proc.poll() is not None,
             what="the first run's state")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted:")
    assert "the same command resumes" in err


# ------------------------------------------------------------------ the data a run was made on


def test_evaluate_refuses_other_test_data(tmp_path, capsys, monkeypatch):
    ck = tmp_path / "r.pt"
    run.main(["--benchmark", "split_mnist", "--preset", "fast", "--no-progress", "--threads", "1",
              "--checkpoint", str(ck)])
    capsys.readouterr()
    real = training.make_benchmark_for

    def other_data(cfg):  # the same images under another name: as if the mirror had gone
        return dataclasses.replace(real(cfg), data_label="MNIST-mini (shipped subset)")

    monkeypatch.setattr(training, "make_benchmark_for", other_data)
    message = cli_error(["--evaluate", str(ck)], capsys)
    assert "was tested on" in message and "the test data here are MNIST-mini" in message


def test_a_checkpoint_made_on_other_data_is_not_reused(tmp_path, capsys, monkeypatch):
    ck = tmp_path / "r.pt"
    argv = ["--benchmark", "split_mnist", "--preset", "fast", "--no-progress", "--threads", "1",
            "--checkpoint", str(ck)]
    run.main(argv)
    capsys.readouterr()
    assert run.main(argv).final  # the same data: reused
    assert "reusing it" in capsys.readouterr().out
    real = training.make_benchmark_for
    monkeypatch.setattr(training, "make_benchmark_for", lambda cfg: dataclasses.replace(
        real(cfg), data_label="MNIST-mini (shipped subset)"))
    message = cli_error(argv, capsys)
    assert "made on" in message and "the data here are MNIST-mini" in message


# ------------------------------------------------- bad input: refused before any data are built


@pytest.mark.parametrize("argv, message", [
    (["--device", "mps"], "MPS, which is not available"),
    (["--device", "cudafoo"], "device must be"),
    (["--device", "cuda:-1"], "device must be"),
    (["--threads", "1000"], "more than the"),
    (["--out", ""], "--out is empty"),
    (["--checkpoint", ""], "--checkpoint is empty"),
    (["--target-hidden", "2000000000"], "GiB free"),
    (["--hnet-hidden", "2000000000"], "GiB free"),
    (["--seed", str(10**23)], "seed must be an integer in [0, 2**63 - 1]"),
])
def test_bad_input_is_refused_before_any_data(argv, message, capsys, no_training):
    assert message in cli_error([*TINY, *argv], capsys)


@pytest.mark.parametrize("size", ["100000", str(10**10)])
def test_val_size_beyond_the_benchmark_is_refused_before_its_data(size, capsys, no_training):
    message = cli_error(["--benchmark", "split_mnist", "--preset", "fast", "--val-size", size],
                        capsys)
    assert "leaves no training data" in message and "11,263" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_gpu_index_beyond_the_gpus_is_refused(capsys, no_training):
    assert "CUDA" in cli_error([*TINY, "--device", "cuda:7"], capsys)


@pytest.mark.parametrize("argv, message", [
    (["--device", "mps"], "MPS, which is not available"),
    (["--threads", "1000"], "more than the"),
    (["--seeds", str(10**23)], "--seeds must be integers in [0, 2**63 - 1]"),
    (["--results-dir", ""], "--results-dir is empty"),
])
def test_reproduce_refuses_bad_input_before_any_run(argv, message, capsys, no_training,
                                                    tmp_path):
    with pytest.raises(SystemExit) as exc:
        reproduce.main(["--only", "regression", "--results-dir", str(tmp_path), *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_a_bad_fast_flag_is_one_error_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HNET_FAST", "2")
    with pytest.raises(SystemExit) as exc:
        reproduce.main(["--dry-run", "--results-dir", str(tmp_path)])
    assert exc.value.code == 2 and "HNET_FAST must be one of" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["file", "unwritable"])
def test_a_data_cache_that_cannot_be_written_is_named(kind, tmp_path, monkeypatch):
    root = tmp_path / "cache"
    if kind == "file":
        root.write_text("x")
    else:
        root.mkdir()

        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")
        monkeypatch.setattr("hnet_utils.data.datasets.tempfile.TemporaryFile", refuse)
    with pytest.raises(ValueError, match="HNET_DATA_DIR.*(is a file|cannot be written)"):
        datasets._check_cache_folder(root)


def test_notebook_helpers_refuse_what_a_learner_can_mistype():
    with pytest.raises(ValueError, match="resolution .*\\[2, 500\\]"):
        embedding_space.make_grid((0, 1), (0, 1), resolution=10**6)
    with pytest.raises(ValueError, match="resolution"):
        widgets.RegressionExplorer(preset_config("regression", "paper", fast=True),
                                   resolution=10**5)
    with pytest.raises(ValueError, match="at least one β"):
        widgets.beta_explorer([])


def test_a_missing_list_of_sums_is_never_regenerated_from_the_files(tmp_path):
    (tmp_path / "run.pt").write_bytes(b"x")
    with pytest.raises(FileNotFoundError) as exc:
        pretrained.verified_path("run", tmp_path)
    text = str(exc.value)
    assert "is missing" in text and "git checkout" in text and "bless" in text
    assert "python -m hnet_utils.experiments.pretrained" not in text


def test_reservation_is_released_when_its_holder_ends(tmp_path):
    target = tmp_path / "r.json"
    with Reservation(target, "results file"):
        with pytest.raises(OutputPathError, match="another run is writing"):
            with Reservation(target, "results file"):
                pass
    with Reservation(target, "results file"):  # free again
        atomic_write_text(target, "{}", replace=False)
    assert not (tmp_path / ".r.json.lock").exists()
