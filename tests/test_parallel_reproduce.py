"""reproduce --jobs N and --executor: runs in parallel give the results of runs one after another,
an interrupted parallel reproduce resumes, a failed run is reported with its command, submitit's
local executor runs a plan end to end, the dry run estimates the wall time; bad options are
refused before any run. Every training here is a fast-mode regression run (seconds)."""

import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from hnet_utils import reproduce
from hnet_utils.experiments import cluster, parallel
from hnet_utils.experiments import plan as planning
from hnet_utils.experiments.results import ContinualResult

RUNS = ("regression_hnet_cl1", "regression_finetune_cl1")
ARGS = ["--only", "regression", "--methods", "hnet", "finetune", "--seeds", "0", "--threads", "1",
        "--no-progress", "--no-tables"]


def matrices(folder, names=RUNS):
    return {name: ContinualResult.load(folder / f"{name}.json").matrix for name in names}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The two runs one after the other in this process (--jobs 1): the reference."""
    folder = tmp_path_factory.mktemp("sequential")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HNET_FAST", "1")
        patch.setenv("HNET_OFFLINE", "1")
        assert reproduce.main(ARGS + ["--results-dir", str(folder)]) == 0
    return matrices(folder)


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setenv("HNET_FAST", "1")


def test_two_runs_in_parallel_give_the_results_of_one_after_another(fast, sequential, tmp_path,
                                                                     capsys):
    assert reproduce.main(ARGS + ["--jobs", "2", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "with 2 run(s) at once (1 thread each), longest first" in out
    for name in RUNS:  # one display: every job's tasks, its end
        assert re.search(rf"\[run \d/2\] {name} task 3/3 done, mean over seen tasks", out)
        assert re.search(rf"\[run \d/2\] {name} done: mse ", out)
    assert "2 run(s) trained in" in out and "2 at once" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.json" for n in RUNS)
    assert matrices(tmp_path) == sequential


def test_an_interrupted_parallel_reproduce_resumes_with_the_same_results(sequential, tmp_path):
    env = {**os.environ, "HNET_FAST": "1"}
    command = [sys.executable, "-m", "hnet_utils.reproduce", *ARGS, "--jobs", "2",
               "--results-dir", str(tmp_path)]
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=planning.settings.REPO_ROOT)
    for line in parent.stdout:
        if "task 1/3 done" in line:  # a child finished its first task: Ctrl-C, to the parent only
            parent.send_signal(signal.SIGINT)
            break
    out, err = parent.communicate(timeout=300)
    assert parent.returncode == 130, out + err
    assert err.strip().splitlines()[-1].startswith("interrupted: ")
    assert "Traceback" not in out + err
    assert re.search(r"stopped: after task [12] of 3; it resumes there", out), out
    assert list((tmp_path / ".progress").glob("*.resume.pt"))

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300,
                           cwd=planning.settings.REPO_ROOT)
    assert again.returncode == 0, again.stdout + again.stderr
    assert re.search(r"resumes after task [12] of 3", again.stdout)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.json" for n in RUNS)
    assert matrices(tmp_path) == sequential


def test_a_failed_run_is_reported_with_its_command_and_the_others_finish(
        fast, no_mirror, tmp_data_dir, tmp_path, capsys):
    # Split CIFAR-10/100 needs CIFAR-100: not here (no mirror, offline, empty cache)
    rc = reproduce.main(["--only", "regression", "split_cifar10_100", "--methods", "hnet",
                         "--seeds", "0", "--threads", "1", "--no-tables", "--jobs", "2",
                         "--results-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1
    assert re.search(r"split_cifar10_100_hnet_cl1 FAILED: FileNotFoundError: .*CIFAR-100", out)
    assert re.search(r"command: HNET_FAST=1 \S+ -m hnet_utils.reproduce --worker "
                     r"split_cifar10_100_hnet_cl1 --seeds 0 --results-dir \S+ --threads 1", out)
    assert "1 run(s) failed" in out
    assert (tmp_path / "regression_hnet_cl1.json").is_file()


def test_submitit_local_executor_runs_a_plan_end_to_end(fast, sequential, tmp_path, capsys):
    args = ["--only", "regression", "--methods", "hnet", "--seeds", "0", "--threads", "1",
            "--no-tables", "--executor", "local", "--results-dir", str(tmp_path)]
    assert reproduce.main(args) == 0
    out = capsys.readouterr().out
    assert "regression_hnet_cl1 task 3/3 done" in out  # the workers' events, read from the logs
    # the results file as a local run writes it; the finished job's logs are removed
    assert [p.name for p in tmp_path.iterdir()] == ["regression_hnet_cl1.json"]
    assert matrices(tmp_path, RUNS[:1]) == {RUNS[0]: sequential[RUNS[0]]}


def test_the_dry_run_prints_the_wall_time_for_n_jobs_and_starts_the_longest_first(capsys,
                                                                                 tmp_path):
    base = ["--dry-run", "--only", "regression", "permuted_mnist", "--methods", "hnet",
            "--scenarios", "1", "--seeds", "0", "--threads", "1", "--results-dir", str(tmp_path)]
    assert reproduce.main(base) == 0
    one = capsys.readouterr().out
    assert "at once" not in one  # --jobs 1: today's plan, in the plan's order
    assert one.index("regression_hnet_cl1") < one.index("permuted_mnist_hnet_cl1")
    assert reproduce.main(base + ["--jobs", "2"]) == 0
    two = capsys.readouterr().out
    assert two.index("permuted_mnist_hnet_cl1") < two.index("regression_hnet_cl1")
    runs = planning.select(planning.course_plan([0]), ["regression", "permuted_mnist"],
                           ["hnet"], [1])
    table = planning.load_step_times()
    seconds = [planning.estimate_seconds(r, table)[0] for r in runs]
    longest = planning.format_duration(max(seconds))  # two runs on two workers: the longer one
    assert ("with 2 run(s) at once (1 thread each), longest first: estimated wall time "
            f"{longest}") in two
    assert not list(tmp_path.iterdir())


def test_longest_first_and_the_greedy_wall_time():
    estimates = {"a": 1.0, "b": None, "c": 5.0, "d": 3.0}
    assert parallel.longest_first(list(estimates), estimates.get) == ["b", "c", "d", "a"]
    assert parallel.wall_time([5, 3, 3, 2, 2, 2], 2) == 9  # 5+2+2 | 3+3+2
    assert parallel.wall_time([5, 3, 3, 2, 2, 2], 1) == 17
    assert parallel.wall_time([4, None], 8) == 4
    assert parallel.wall_time([], 3) == 0


def test_worker_events_round_trip():
    event = {"event": "task_end", "task": 1, "tasks": 3, "summary": "mean 0.1", "left_s": 2.0}
    assert parallel.parse_event(parallel.event_line(event)) == event
    assert parallel.parse_event("a warning") is None
    assert parallel.parse_event(parallel.EVENT_PREFIX + "{not json") is None


@pytest.mark.parametrize("argv, message", [
    (["--executor", "pbs"], "invalid choice: 'pbs'"),
    (["--partition", "gpu"], "--partition is an option of --executor"),
    (["--executor", "local", "--partition", "gpu"], "--partition names a Slurm partition"),
    (["--jobs", "0"], "argument --jobs: expected a positive integer, got '0'"),
    (["--jobs", "-2"], "argument --jobs: expected a positive integer, got '-2'"),
    (["--executor", "local", "--time-limit", "0"], "argument --time-limit: expected a positive"),
    (["--executor", "local", "--gpus", "-1"], "argument --gpus: expected a positive integer"),
    (["--gpus", "1"], "--gpus is an option of --executor"),
    (["--executor", "slurm"], "--executor slurm needs --time-limit"),
    (["--worker", "no_such_run"], "is no run of the plan"),
])
def test_bad_parallel_options_are_refused_before_any_run(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        reproduce.main(argv + ["--only", "regression", "--results-dir", str(tmp_path)])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="this machine has Slurm")
def test_slurm_needs_a_slurm_machine(capsys, tmp_path):
    with pytest.raises(SystemExit):
        reproduce.main(["--executor", "slurm", "--time-limit", "10", "--only", "regression",
                        "--results-dir", str(tmp_path)])
    assert "sbatch and srun not on this machine's PATH" in capsys.readouterr().err


def test_slurm_jobs_ask_for_partition_time_limit_gpus_and_cores(monkeypatch, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")  # submitit looks for srun
    parameters = cluster.executor_parameters("slurm", 240, 1, "gpu", 8)
    executor = cluster.make_executor("slurm", tmp_path / "logs", parameters)
    script = executor._executor._make_submission_file_text("the worker", "uid")
    for line in ("--partition=gpu", "--time=240", "--gpus-per-node=1", "--cpus-per-task=8",
                 "--signal=USR2@"):  # USR2 before the time limit: requeued, resumes
        assert f"#SBATCH {line}" in script
    local = cluster.executor_parameters("local", None, None, None, 1)
    assert local["timeout_min"] == cluster.LOCAL_TIME_LIMIT_MIN and "cpus_per_task" not in local
