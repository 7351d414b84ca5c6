"""Planned runs as submitit jobs: on a Slurm cluster, or through submitit's local executor.

``python -m hnet_utils.reproduce --executor slurm --partition P --time-limit MIN --gpus G``
submits each run that is not done as one job of `submitit
<https://github.com/facebookincubator/submitit>`_; the job runs the same worker
command as ``--jobs`` (``experiments/parallel.py``), so its results file lands
in the results folder exactly as a local run writes it (the folder must be on
a file system the nodes share). ``--executor local`` runs the jobs with
submitit's ``LocalExecutor`` on this machine: the same code path, without a
cluster.

The parent submits at most ``--jobs`` jobs at once (all of them without
``--jobs``), follows them by reading the events their workers write into
their logs (``<results>/.progress/submitit/``), shows the events on the same
display as ``--jobs``, and reports a failed job with its command and its log;
the logs of finished jobs are removed. A job that reaches its time limit is
requeued by submitit (at most :data:`MAX_TIMEOUTS` times) and its worker
resumes after its last finished task. Ctrl-C cancels every job; each keeps its
state after its last finished task, and the same command resumes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hnet_utils import settings
from hnet_utils.experiments.parallel import Display, Failure, Outcome, WorkerCommand, parse_event
from hnet_utils.experiments.plan import PROGRESS_DIR

#: The executors ``--executor`` accepts.
EXECUTORS = ("slurm", "local")
#: Where the jobs' pickles and logs go, inside the results folder (git-ignored with .progress/).
LOG_FOLDER = Path(PROGRESS_DIR) / "submitit"
#: The local executor's time limit per job when ``--time-limit`` is not given (a week).
LOCAL_TIME_LIMIT_MIN = 7 * 24 * 60
#: Seconds between two looks at the jobs (Slurm is asked through sacct: not too often).
POLL_S = {"local": 0.5, "slurm": 15.0}
#: How often a job that reached its time limit is requeued (it resumes each time).
MAX_TIMEOUTS = 3
#: How long a cancelled worker may take to end before it is killed.
STOP_WAIT_S = 30.0
#: Environment variables passed from the submitting shell to every job's worker.
PASSED_ENV_PREFIX = "HNET_"


def executor_parameters(kind: str, time_limit_min: int | None, gpus: int | None,
                        partition: str | None, threads: int | None) -> dict[str, Any]:
    """The submitit parameters of one job (``AutoExecutor.update_parameters``)."""
    if kind not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {kind!r}")
    params: dict[str, Any] = {"timeout_min": time_limit_min or LOCAL_TIME_LIMIT_MIN,
                              "stderr_to_stdout": True, "tasks_per_node": 1, "nodes": 1}
    if gpus:
        params["gpus_per_node"] = gpus
    if kind == "slurm":
        if partition:
            params["slurm_partition"] = partition
        if threads:
            params["cpus_per_task"] = threads
    return params


def make_executor(kind: str, folder: Path, parameters: dict[str, Any]):
    """A submitit ``AutoExecutor`` for ``kind`` writing its pickles and logs into ``folder``."""
    import submitit

    executor = submitit.AutoExecutor(folder=folder, cluster=kind,
                                     slurm_max_num_timeout=MAX_TIMEOUTS,
                                     local_max_num_timeout=MAX_TIMEOUTS)
    executor.update_parameters(**parameters)
    return executor


def passed_env() -> dict[str, str]:
    """The variables of this shell a job's worker needs (``HNET_FAST``, ``HNET_DATA_MIRROR``...)."""
    return {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV_PREFIX)}


class WorkerJob:
    """What a submitit job calls: the worker command, in the node's environment plus ``env``.

    Checkpointable (submitit's protocol): at its time limit the job is requeued with this same
    callable, and the worker resumes after its last finished task. When the job is cancelled
    or requeued, the worker is stopped as Ctrl-C would stop it.
    """

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: str) -> None:
        self.argv, self.env, self.cwd = list(argv), dict(env), cwd

    def __call__(self) -> int:
        """Run the worker; its output goes to the job's log. Raises if it did not succeed."""
        process = subprocess.Popen(self.argv, cwd=self.cwd, env={**os.environ, **self.env})
        try:
            returncode = process.wait()
        except BaseException:  # cancelled (SIGINT) or requeued (SystemExit): stop the worker
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
            raise
        if returncode != 0:
            raise RuntimeError(f"the worker ended with status {returncode}")
        return returncode

    def checkpoint(self):
        """Requeue the same worker (submitit calls this at the job's time limit)."""
        import submitit

        return submitit.helpers.DelayedSubmission(self)


# --------------------------------------------------------------------- following the jobs


@dataclass
class _Submitted:
    command: WorkerCommand
    job: Any  # a submitit Job
    read: int = 0  # characters of its log already read
    final: dict[str, Any] | None = None
    tail: deque = field(default_factory=lambda: deque(maxlen=5))


def _read_log(sub: _Submitted, display: Display) -> None:
    """Show the events of ``sub``'s log written since the last look."""
    path = Path(sub.job.paths.stdout)
    if not path.is_file():
        return
    with path.open(errors="replace") as log:
        log.seek(sub.read)
        text = log.read()
    complete = text[:text.rfind("\n") + 1]
    sub.read += len(complete)
    for line in complete.splitlines():
        event = parse_event(line)
        if event is None:
            if line.strip():
                sub.tail.append(line.strip())
            continue
        if event["event"] in ("done", "failed", "interrupted"):
            sub.final = event
        display.event(sub.command.name, event)


def _remove_logs(job) -> None:
    """Delete a finished job's pickles and logs, and their folders when empty."""
    paths = job.paths
    for path in (paths.submitted_pickle, paths.result_pickle, paths.stdout, paths.stderr,
                 paths.submission_file):
        Path(path).unlink(missing_ok=True)
    for folder in (Path(paths.folder), Path(paths.folder).parent):
        try:
            folder.rmdir()
        except OSError:
            break


def _ended(sub: _Submitted) -> Failure | None:
    """The failure of a job that ended (None when it succeeded), naming its log."""
    error = sub.job.exception()
    if error is None:
        sub.final = sub.final or {"event": "done", "summary": "done"}
        return None
    if sub.final is not None and sub.final["event"] == "failed":
        reason = sub.final["error"]
    else:  # the worker never said why: the job's own error, and the worker's last lines
        lines = [line for line in str(error).splitlines() if line.strip()]
        reason = f"{type(error).__name__}: {lines[-1] if lines else ''}"
        if sub.tail:
            reason += "; its last output: " + " | ".join(sub.tail)
    return Failure(sub.command.name, f"{reason} (log: {sub.job.paths.stdout})", sub.command.text)


@contextlib.contextmanager
def _output_discarded(discard: bool):
    """Processes started meanwhile (when ``discard``) write their stdout and stderr nowhere:
    submitit's local controller, started for each job, would print a traceback when a
    job is cancelled (its job's own output goes to the job's log)."""
    if not discard:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved, null = (os.dup(1), os.dup(2)), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def run_jobs(commands: Sequence[WorkerCommand], executor, kind: str,
             max_running: int | None = None, display: Display | None = None) -> Outcome:
    """Submit the workers of ``commands`` as jobs of ``executor``, at most ``max_running`` at
    once (None: all), follow them until they end and report them on ``display``. On
    KeyboardInterrupt every job is cancelled and the KeyboardInterrupt goes on."""
    display = display or Display(len(commands))
    pending, running, outcome = deque(commands), [], Outcome()
    cwd = str(settings.REPO_ROOT)
    try:
        while pending or running:
            while pending and (max_running is None or len(running) < max_running):
                command = pending.popleft()
                executor.update_parameters(name=f"hnet-{command.name}"[:64])
                with _output_discarded(kind == "local"):
                    job = executor.submit(WorkerJob(command.argv, passed_env(), cwd))
                running.append(_Submitted(command, job))
                display.started(command)
            time.sleep(POLL_S[kind])
            for sub in list(running):
                done = sub.job.done()
                _read_log(sub, display)
                if not done:
                    continue
                running.remove(sub)
                failure = _ended(sub)
                display.ended(sub.command.name, sub.final, failure)
                if failure is None:
                    outcome.finished.append(sub.command.name)
                    _remove_logs(sub.job)
                else:
                    outcome.failed.append(failure)
    except KeyboardInterrupt:
        cancel_jobs(running, kind, display)
        raise
    return outcome


def cancel_jobs(running: Sequence[_Submitted], kind: str, display: Display) -> None:
    """Cancel every job of ``running`` (Slurm: scancel, whose SIGTERM the worker takes as
    Ctrl-C; local: SIGINT); wait for the local ones to end and remove their logs. A second
    Ctrl-C meanwhile is ignored."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for sub in running:
            sub.job.cancel(check=False)
        deadline = time.monotonic() + (STOP_WAIT_S if kind == "local" else 0.0)
        while time.monotonic() < deadline and not all(sub.job.done() for sub in running):
            time.sleep(POLL_S[kind])
        for sub in running:
            _read_log(sub, display)
            note = (sub.final or {}).get("note", "cancelled")
            display.ended(sub.command.name, {"event": "interrupted", "note": note}, None)
            if sub.job.done():  # a cancelled job is no failure: nothing to look at in its log
                _remove_logs(sub.job)
    finally:
        signal.signal(signal.SIGINT, previous)
