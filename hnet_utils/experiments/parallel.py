"""Planned runs side by side: worker processes, the events they report, one progress display.

``python -m hnet_utils.reproduce --jobs N`` trains each run that is not done in
a child process of its own, the *worker* (``python -m hnet_utils.reproduce
--worker <run> ...``: it trains that one run as the sequential plan does,
resumable after each finished task, its results file written atomically), and
keeps at most N of them alive (:func:`run_workers`). ``--executor`` runs the
same worker commands as submitit jobs instead (``experiments/cluster.py``).

A worker reports on its stdout one line per event, ``@hnet-reproduce {json}``
(:func:`event_line`, :func:`parse_event`): ``start``, ``step`` (about 20 per
task), ``task_end``, and one of ``done``, ``failed`` or ``interrupted``. The
parent reads every child's lines (one thread per child) and prints them as
they arrive (:class:`Display`): which run, which task and step, the estimated
time left. Other lines of a child (warnings) are printed with its run's name.

Ctrl-C, or SIGINT sent to the parent alone, stops every child: each is sent
SIGINT and ends at once, keeping its state after its last finished task; the
same command resumes. A run that fails is reported with its command and the
others go on.

With several workers the runs start longest first (:func:`longest_first`);
runs without an estimate start before all others: they are often the longest
(nothing was measured for them) and, when their data are missing, they fail at
once instead of at the end. :func:`wall_time` estimates the wall time of that
schedule (each run goes to the worker that frees first).
"""

from __future__ import annotations

import heapq
import json
import queue
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hnet_utils.experiments.plan import format_duration

#: What starts a worker's event line on its stdout.
EVENT_PREFIX = "@hnet-reproduce "
#: At most one ``step`` line per run in this many seconds (task ends are always shown).
STEP_LINES_EVERY_S = 30.0
#: How long a stopped child may take to end before it is killed.
STOP_WAIT_S = 30.0
#: Lines of a child's other output kept, to explain a child that died without a word.
TAIL_LINES = 8

T = TypeVar("T")


# --------------------------------------------------------------------- order and wall time


def longest_first(items: Sequence[T], seconds: Callable[[T], float | None]) -> list[T]:
    """``items`` ordered for several workers: those without an estimate (``seconds`` None)
    first, in their order, then the others by decreasing estimate (ties keep their order)."""
    return sorted(items, key=lambda item: (seconds(item) is not None, -(seconds(item) or 0.0)))


def wall_time(durations: Sequence[float | None], workers: int) -> float:
    """Estimated wall time of ``durations`` started in this order on ``workers`` workers, each
    run on the worker that frees first (greedy list scheduling; longest first it is within
    a third of the best schedule). Unknown durations (None) count as 0."""
    if workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers}")
    free_at = [0.0] * min(workers, max(len(durations), 1))
    for seconds in durations:
        heapq.heappush(free_at, heapq.heappop(free_at) + (seconds or 0.0))
    return max(free_at)


# --------------------------------------------------------------------- the worker's events


def event_line(event: dict[str, Any]) -> str:
    """The line a worker prints for ``event`` (``{"event": "task_end", ...}``)."""
    return EVENT_PREFIX + json.dumps(event)


def parse_event(line: str) -> dict[str, Any] | None:
    """The event of a worker's line, or None for any other line."""
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        event = json.loads(line[len(EVENT_PREFIX):])
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


# --------------------------------------------------------------------- jobs and their outcome


@dataclass(frozen=True)
class WorkerCommand:
    """One run to train: its name, the worker's command line and its estimated seconds."""

    name: str
    argv: tuple[str, ...]
    estimate_s: float | None = None
    shown: str = ""  # the command as reported (e.g. with HNET_FAST=1 in front); default: argv

    @property
    def text(self) -> str:
        """The command as a shell line."""
        return self.shown or shlex.join(self.argv)


@dataclass(frozen=True)
class Failure:
    """A run that failed: why, and the command that reproduces it."""

    name: str
    reason: str
    command: str


@dataclass
class Outcome:
    """What became of the runs: the names of those finished, and the failures."""

    finished: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)


# --------------------------------------------------------------------- the display


class Display:
    """One progress display for every running job: a text line per event, as events arrive.

    ``[run i/n] <run> ...``: ``i`` counts the runs in the order they started.
    """

    def __init__(self, total: int, out: Callable[[str], None] | None = None,
                 step_every_s: float = STEP_LINES_EVERY_S) -> None:
        self.total, self.step_every_s = total, step_every_s
        self.out = out or (lambda text: print(text, flush=True))
        self.number: dict[str, int] = {}
        self.last_step_line: dict[str, float] = {}
        self.running = self.n_ended = 0

    def _tag(self, name: str) -> str:
        return f"[run {self.number[name]}/{self.total}] {name}"

    def started(self, command: WorkerCommand) -> None:
        """``command`` was started."""
        self.number[command.name] = len(self.number) + 1
        self.running += 1
        self.out(f"{self._tag(command.name)} started (estimated "
                 f"{format_duration(command.estimate_s)}; {self.running} running)")

    def event(self, name: str, event: dict[str, Any]) -> None:
        """Show an event of the worker of ``name`` (step lines at most every ``step_every_s``)."""
        kind, now = event["event"], time.monotonic()
        if kind == "step":
            if now - self.last_step_line.get(name, -float("inf")) < self.step_every_s:
                return
            steps = event.get("steps") or "?"
            text = f"task {event['task']}/{event['tasks']}, step {event['step']}/{steps}"
        elif kind == "task_end":
            text = f"task {event['task']}/{event['tasks']} done, {event['summary']}"
        elif kind == "start":
            if not event.get("resuming"):
                return
            text = f"resumes {event['resuming']}"
        else:  # done, failed, interrupted: shown by ended()
            return
        if event.get("left_s") is not None:
            text += f"; about {format_duration(event['left_s'])} left"
        self.last_step_line[name] = now
        self.out(f"{self._tag(name)} {text}")

    def other(self, name: str, line: str) -> None:
        """A line of the worker of ``name`` that is no event (a warning...)."""
        self.out(f"{self._tag(name)}: {line}")

    def ended(self, name: str, final: dict[str, Any] | None, failure: Failure | None) -> None:
        """The worker of ``name`` ended: ``final`` is its last event; ``failure``: it failed."""
        self.running -= 1
        self.n_ended += 1
        counts = f"({self.n_ended} of {self.total} ended, {self.running} running)"
        if failure is not None:
            self.out(f"{self._tag(name)} FAILED: {failure.reason} {counts}\n"
                     f"    command: {failure.command}")
        elif final is not None and final["event"] == "interrupted":
            self.out(f"{self._tag(name)} stopped: {final['note']}")
        else:
            summary = (final or {}).get("summary", "done")
            self.out(f"{self._tag(name)} done: {summary} {counts}")


def outcome_of(command: WorkerCommand, final: dict[str, Any] | None, returncode: int | None,
               tail: Sequence[str] = ()) -> Failure | None:
    """None when the worker ended with a ``done`` event, else the :class:`Failure` to report:
    its ``failed`` event's error, or how it ended and its last words."""
    if final is not None and final["event"] == "done":
        return None
    if final is not None and final["event"] == "failed":
        reason = final["error"]
    else:
        reason = f"the worker ended with status {returncode} and no result"
        if tail:
            reason += "; its last output: " + " | ".join(tail)
    return Failure(command.name, reason, command.text)


# --------------------------------------------------------------------- N local processes


@dataclass
class _Child:
    command: WorkerCommand
    process: subprocess.Popen
    reader: threading.Thread
    final: dict[str, Any] | None = None
    tail: deque = field(default_factory=lambda: deque(maxlen=TAIL_LINES))


def _read_lines(name: str, stream, lines: queue.Queue) -> None:
    """Put every line of ``stream`` on ``lines`` as ``(name, line)``, then ``(name, None)``."""
    for line in stream:
        lines.put((name, line.rstrip("\n")))
    lines.put((name, None))


def _start(command: WorkerCommand, lines: queue.Queue, env: dict[str, str] | None) -> _Child:
    """Start the worker of ``command``; its stdout and stderr are read into ``lines``."""
    process = subprocess.Popen(command.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1,
                               env=env)
    reader = threading.Thread(target=_read_lines, args=(command.name, process.stdout, lines),
                              daemon=True)
    reader.start()
    return _Child(command, process, reader)


def _handle_line(child: _Child, line: str, display: Display) -> None:
    """One line of a child: an event (shown, the last one kept) or other output (shown, kept)."""
    event = parse_event(line)
    if event is None:
        child.tail.append(line)
        display.other(child.command.name, line)
    else:
        if event["event"] in ("done", "failed", "interrupted"):
            child.final = event
        display.event(child.command.name, event)


def run_workers(commands: Sequence[WorkerCommand], jobs: int, display: Display | None = None,
                env: dict[str, str] | None = None) -> Outcome:
    """Run the workers of ``commands`` in this order, at most ``jobs`` at once, showing their
    events on ``display``. A failed run does not stop the others. On KeyboardInterrupt every
    running worker is stopped (:func:`stop_children`) and the KeyboardInterrupt goes on."""
    if jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs}")
    display = display or Display(len(commands))
    pending, running, outcome = deque(commands), {}, Outcome()
    lines: queue.Queue = queue.Queue()
    try:
        while pending or running:
            while pending and len(running) < jobs:
                command = pending.popleft()
                try:
                    running[command.name] = _start(command, lines, env)
                except OSError as err:
                    failure = Failure(command.name, f"could not start: {err}", command.text)
                    display.started(command)
                    display.ended(command.name, None, failure)
                    outcome.failed.append(failure)
                    continue
                display.started(command)
            name, line = lines.get()
            child = running[name]
            if line is not None:
                _handle_line(child, line, display)
                continue
            del running[name]  # its output ended: it has ended, or is about to
            failure = outcome_of(child.command, child.final, child.process.wait(), child.tail)
            display.ended(name, child.final, failure)
            if failure is None:
                outcome.finished.append(name)
            else:
                outcome.failed.append(failure)
    except KeyboardInterrupt:
        stop_children(list(running.values()), lines, display)
        raise
    return outcome


def stop_children(children: Sequence[_Child], lines: queue.Queue, display: Display) -> None:
    """Stop ``children``: SIGINT to each (a worker then ends at once, keeping its state after
    its last finished task), killed after :data:`STOP_WAIT_S`. A second Ctrl-C meanwhile is
    ignored. Each child's end is shown."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for child in children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_WAIT_S
        for child in children:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            child.reader.join(timeout=5)
        by_name = {child.command.name: child for child in children}
        while not lines.empty():  # their last events; other output (a child stopped while
            name, line = lines.get()  # importing prints a traceback) is not shown
            event = parse_event(line) if line is not None and name in by_name else None
            if event is not None and event["event"] in ("failed", "interrupted", "done"):
                by_name[name].final = event
        for child in children:
            final = child.final or {"event": "interrupted", "note": "it ended without a word"}
            failure = (outcome_of(child.command, final, child.process.returncode)
                       if final["event"] == "failed" else None)
            display.ended(child.command.name, final, failure)
    finally:
        signal.signal(signal.SIGINT, previous)
