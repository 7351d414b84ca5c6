"""One command for every run of the course's results: ``python -m hnet_utils.reproduce``.

It prints the plan (every run, whether it is done, its estimated time on this
machine), then trains the runs that are not done, one after the other, and
writes each results file atomically, then regenerates the tables of
``results/README.md``. The plan is :func:`hnet_utils.experiments.plan.course_plan`.

    python -m hnet_utils.reproduce --dry-run                 # the plan only
    python -m hnet_utils.reproduce --only split_mnist --seeds 0 1 2
    python -m hnet_utils.reproduce --only regression --methods hnet finetune
    HNET_FAST=1 python -m hnet_utils.reproduce --only regression   # smoke test (seconds)
    make reproduce DRY_RUN=1          # the same through make (make eats a bare --dry-run)

A run is *done* when its results file exists and holds the planned
configuration (the device aside); done runs are skipped, so after an
interruption the command picks up at the first run that is not done. A run
killed half-way leaves no results file (the file is written at the end,
through a temporary file and ``os.replace``). It resumes after its last
finished task: after every task the run's state is written to
``results/.progress/<run>.resume.pt`` (``continual/resume.py``), and the next
attempt continues from it with the same results as an uninterrupted run. The
replay methods cannot resume yet; they restart from their first task.

Several runs at once: ``--jobs N`` trains at most N runs at the same time,
each in a process of its own (the *worker*, ``--worker <run>``, trains one run
exactly as above) with ``--threads`` torch threads (default: the cores divided
among the N jobs), longest runs first; one display shows every running job
(``experiments/parallel.py``). ``--executor slurm`` submits the same workers as
submitit jobs to a Slurm cluster, ``--executor local`` through submitit's
local executor (``experiments/cluster.py``). Without ``--jobs`` or with
``--jobs 1`` the runs are trained one after the other in this process.

    python -m hnet_utils.reproduce --only split_mnist --jobs 4          # 4 runs at once
    python -m hnet_utils.reproduce --dry-run --jobs 8                   # wall time with 8
    python -m hnet_utils.reproduce --executor slurm --partition gpu --time-limit 240 --gpus 1

Fast mode (``HNET_FAST=1``) trains every planned run with its preset's fast
variant and writes into a temporary folder, never into ``results/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from hnet_utils import settings
from hnet_utils.experiments import cluster, parallel
from hnet_utils.experiments import plan as planning
from hnet_utils.continual.resume import can_resume_method
from hnet_utils.experiments.configs import MAX_SEED, METHODS
from hnet_utils.files import OutputPathError, Reservation, atomic_write_text, check_output_path
from hnet_utils.run import available_cores, threads_problem

MAKE_TABLES = settings.REPO_ROOT / "scripts" / "make_tables.py"


def write_json_atomically(data: dict, path: Path) -> Path:
    """Write ``data`` as indented JSON to ``path``: the old file or the complete new one
    (``files.atomic_write_text``); missing folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hnet_utils.reproduce",
        description="Plan and run every run of the course's results (skips runs already done).")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (status and estimated time of every run) and exit")
    parser.add_argument("--only", nargs="+", metavar="GROUP",
                        help="run only these groups or benchmarks, e.g. split_mnist regression "
                             "(groups: " + ", ".join(planning.groups(planning.course_plan())) + ")")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(planning.DEFAULT_SEEDS),
                        help="seeds of every run")
    parser.add_argument("--methods", nargs="+", metavar="METHOD",
                        help="run only these methods (" + ", ".join(METHODS) + ")")
    parser.add_argument("--scenarios", nargs="+", type=int, choices=(1, 2, 3),
                        help="run only these scenarios")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads of each run (torch.set_num_threads); default: "
                             "torch's choice, with --jobs N the cores divided among the N jobs")
    parser.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                        help="train at most N runs at once, each in its own process, the longest "
                             "first (default 1: one after the other, in this process); with "
                             "--executor: at most N jobs submitted at once (default: all)")
    parser.add_argument("--executor", choices=cluster.EXECUTORS, default=None,
                        help="submit the runs as submitit jobs: 'slurm' (a Slurm cluster; needs "
                             "--time-limit) or 'local' (submitit's local executor, this machine); "
                             "default: none (the --jobs processes)")
    parser.add_argument("--partition", default=None, help="Slurm partition (--executor slurm)")
    parser.add_argument("--time-limit", type=positive_int, default=None, metavar="MIN",
                        help="time limit of each job in minutes (--executor; a job reaching it is "
                             "requeued and resumes; local default: a week)")
    parser.add_argument("--gpus", type=positive_int, default=None, metavar="G",
                        help="GPUs of each job (--executor)")
    parser.add_argument("--worker", metavar="RUN", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="auto",
                        help="'auto' (CUDA when available, else CPU), 'cpu', 'cuda', 'cuda:N', 'mps'")
    parser.add_argument("--results-dir", default=None,
                        help="folder of the results files (default: results/, in fast mode a new "
                             "temporary folder)")
    parser.add_argument("--measure", action="store_true",
                        help="first measure the step time of every planned benchmark/method that "
                             "has none (a few seconds each) into results/step_times.json")
    parser.add_argument("--no-progress", action="store_true", help="hide the per-run progress bars")
    parser.add_argument("--no-tables", action="store_true", help="do not regenerate the tables")
    return parser


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def check_parallel_options(parser: argparse.ArgumentParser, args) -> None:
    """Refuse (parser error) --jobs/--executor options that do not go together, before any run."""
    if args.executor is None:
        for option, value in (("--partition", args.partition), ("--time-limit", args.time_limit),
                              ("--gpus", args.gpus)):
            if value is not None:
                parser.error(f"{option} is an option of --executor slurm or local; without "
                             "--executor the runs are processes of this machine (--jobs)")
    elif args.executor != "slurm" and args.partition is not None:
        parser.error("--partition names a Slurm partition: it needs --executor slurm")
    elif args.executor == "slurm" and args.time_limit is None:
        parser.error("--executor slurm needs --time-limit MIN (Slurm's default is 5 minutes; the "
                     "plan's estimated time of each run is in --dry-run)")
    if args.executor is not None and not args.dry_run:
        check_executor_available(parser, args.executor)


def check_executor_available(parser: argparse.ArgumentParser, executor: str) -> None:
    """submitit is installed, and for Slurm ``sbatch`` is here (parser error otherwise)."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        parser.error("--executor needs submitit (pip install -r requirements.txt)")
    missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
    if executor == "slurm" and missing:
        parser.error(f"--executor slurm: {' and '.join(missing)} not on this machine's PATH; "
                     "submit from a Slurm login node (or use --executor local)")


def describe_plan(runs, folder: Path, fast: bool, step_times,
                  device: str | None = None) -> tuple[list[str], dict]:
    """One line per run (index, name, status, estimate) and the summary numbers."""
    lines, todo_s, unknown, done = [], 0.0, 0, 0
    width = max((len(r.name) for r in runs), default=10)
    for i, run in enumerate(runs, 1):
        status = planning.run_status(run, folder, fast)
        if status == "done":
            done += 1
            estimate = "-"
        else:
            seconds, note = planning.estimate_seconds(run, step_times, fast, device)
            if seconds is None:
                unknown += 1
            else:
                todo_s += seconds
            estimate = f"{planning.format_duration(seconds)} ({note})"
        shown = status if status in ("done", "missing") else "rerun: " + status
        note = planning.interrupted_note(run, folder, fast)
        if note:
            resumable = planning.resume_path(run, folder).is_file()
            shown += f" ({note}; {'resumes there' if resumable else 'restarts from task 1'})"
        lines.append(f"{i:4d}/{len(runs)}  {run.name:<{width}}  {shown:<8}  {estimate}")
    summary = {"runs": len(runs), "done": done, "to_run": len(runs) - done,
               "estimated_s": todo_s, "without_estimate": unknown}
    return lines, summary


def summary_line(summary: dict, fast: bool) -> str:
    text = (f"{summary['runs']} runs: {summary['done']} done, {summary['to_run']} to run; "
            f"estimated time of the runs to run: {planning.format_duration(summary['estimated_s'])}")
    if summary["without_estimate"]:
        text += f" + {summary['without_estimate']} run(s) without a measured step time"
    if fast:
        text += " (fast mode: fast steps timed as full ones; each fast run takes seconds)"
    return text


def load_make_tables():
    """``scripts/make_tables.py`` as a module, run in this process so that it uses this
    checkout's package and ``results/`` (a subprocess could import another installed copy)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_tables", MAKE_TABLES)
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    return tables


def regenerate_tables(folder: Path, fast: bool) -> None:
    """Rewrite the tables of results/README.md (real runs in results/), or print the runs table
    of ``folder`` (fast mode, other folders)."""
    tables = load_make_tables()
    if folder.resolve() == planning.RESULTS_DIR.resolve() and not fast:
        tables.main([])
        return
    runs = tables.load_runs(folder)
    if runs:
        print(f"runs table of {folder} (results/README.md is left alone):")
        print(tables.runs_table(runs))


def measure_missing(runs, folder: Path) -> None:
    """Measure the step time of each planned benchmark/method without one; add to step_times.json."""
    known = planning.load_step_times(folder)
    path = folder / planning.STEP_TIMES_FILE
    table = json.loads(path.read_text()) if path.is_file() else {
        "what": "milliseconds per training step (mean of two short tasks, regulariser/penalty "
                "active on the second), written by python -m hnet_utils.reproduce --measure",
        "ms_per_step": {}}
    from hnet_utils.continual.training import describe_device, resolve_device

    for run in runs:
        key = planning.step_key(run.config(), run.tag)
        if key in known:
            continue
        print(f"measuring the step time of {key} ...", flush=True)
        entry = {}
        try:
            ms = planning.measure_step_ms(run)
        except FileNotFoundError as err:
            proxy = planning.PROXY_BENCHMARKS.get(run.benchmark)
            if proxy is None:
                print(f"  not measured: {err}")
                continue
            # the step time depends on the networks, not on the images: same preset, other data
            print(f"  its data are not here; measuring the same networks on {proxy} instead")
            ms = planning.measure_step_ms(planning.dataclasses.replace(run, benchmark=proxy))
            entry["measured_with"] = f"{proxy} (same networks; {run.benchmark} data not available)"
        known[key] = table["ms_per_step"][key] = {
            "ms_per_step": ms, "device": describe_device(resolve_device(run.config().device)),
            **entry}
        print(f"  {ms:.1f} ms per step")
        write_json_atomically(table, path)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        fast = settings.fast_mode()
    except ValueError as err:
        parser.error(str(err))
    problem = (positive_int_problem("--threads", args.threads) if args.executor == "slurm"
               else threads_problem(args.threads))  # a Slurm node has cores of its own
    if problem:
        parser.error(problem)
    if any(not 0 <= s <= MAX_SEED for s in args.seeds):
        parser.error(f"--seeds must be integers in [0, 2**63 - 1] (torch's seed range), got {args.seeds}")
    check_parallel_options(parser, args)
    if args.worker is not None:
        return run_worker(parser, args, fast)
    try:
        runs = planning.select(planning.course_plan(args.seeds), args.only, args.methods,
                               args.scenarios)
    except ValueError as err:
        parser.error(str(err))
    folder = results_folder(parser, args, fast)
    device = None if args.device == "auto" else args.device

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from hnet_utils.continual.training import describe_device, resolve_device

    if args.executor == "slurm":
        where = f"the Slurm nodes of partition {args.partition or '(default)'}"
    else:
        try:
            where = describe_device(resolve_device(device))
        except (ValueError, RuntimeError) as err:
            parser.error(str(err))
    if args.measure:
        measure_missing(runs, planning.RESULTS_DIR if not fast else folder)

    step_times = planning.load_step_times(planning.RESULTS_DIR)
    several = args.executor is not None or (args.jobs or 1) > 1
    if several:
        runs = order_for_workers(runs, folder, fast, step_times)
    print(f"plan: {len(runs)} runs into {folder}{' (fast mode)' if fast else ''}; device: {where}")
    lines, summary = describe_plan(runs, folder, fast, step_times, where)
    print("\n".join(lines))
    print(summary_line(summary, fast), flush=True)
    if several and summary["to_run"]:
        print(wall_time_line(runs, folder, fast, step_times, args), flush=True)
    if args.dry_run:
        return 0
    try:
        check_results_folder(folder)
    except OutputPathError as err:
        parser.error(str(err))
    try:
        if several:
            return run_several(runs, folder, fast, device, step_times, summary, args)
        return run_plan(runs, folder, fast, device, step_times, summary, args)
    except KeyboardInterrupt:
        print(f"\ninterrupted: every finished run's results file is in {folder}; a run stopped "
              f"half-way keeps its state after its last finished task in "
              f"{folder / planning.PROGRESS_DIR} (replay methods restart): the same command "
              "resumes", file=sys.stderr)
        return 130


def positive_int_problem(option: str, value: int | None) -> str | None:
    """Why ``value`` cannot be given to ``option`` (None: it can, or it was not given)."""
    if value is not None and value < 1:
        return f"{option} must be a positive integer, got {value}"
    return None


def results_folder(parser: argparse.ArgumentParser, args, fast: bool) -> Path:
    """The folder of the results files: --results-dir, else results/ (fast mode: a new
    temporary folder; fast mode never writes into results/)."""
    if args.results_dir is not None:
        if not args.results_dir.strip():
            parser.error("--results-dir is empty; give a folder")
        folder = Path(args.results_dir)
        if fast and folder.resolve() == planning.RESULTS_DIR.resolve():
            parser.error("fast mode (HNET_FAST=1) never writes into results/: its numbers mean nothing")
        return folder
    if args.worker is not None:
        parser.error("--worker needs --results-dir")
    if fast:
        return Path(tempfile.mkdtemp(prefix="hnet-reproduce-fast-"))
    return planning.RESULTS_DIR


def check_results_folder(folder: Path) -> None:
    """Before the first run: ``folder`` is (or can be made) a writable folder with room for the
    results files and the resume states (:class:`OutputPathError` otherwise)."""
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"--results-dir {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputPathError(f"--results-dir {folder} cannot be created ({err.strerror})") from None
    check_output_path(folder / "probe.json", "results folder", overwrite=True,
                      size_bytes=RESULTS_FOLDER_BYTES)


#: Free space the results folder needs before a plan starts: results files and resume states.
RESULTS_FOLDER_BYTES = 64 << 20


def train_planned_run(run, folder: Path, fast: bool, device, on_event=None, progress: bool = True,
                      callback_every: int = 10**9):
    """Train one planned run as the plan does; returns ``(result, path of its results file)``.

    The results file is reserved while the run trains (``files.Reservation``): a second
    ``reproduce`` that reaches the same run meanwhile is refused (it reports the run as failed
    and goes on with its next run), so no run is trained twice and no results file replaced.

    After each task a note of the finished tasks is written (:func:`planning.progress_path`)
    and the run's state is kept (:func:`planning.resume_path`, all methods but replay), so an
    interrupted run resumes there; the results file is written atomically, then both are
    removed. ``on_event(state)`` sees every training callback (``train_continual``)."""
    from hnet_utils.continual.training import train_continual
    from hnet_utils.experiments.results import ContinualResult

    cfg = run.config(fast)
    if device is not None:
        cfg = cfg.replace(device=device)
    progress_file = planning.progress_path(run, folder)

    def callback(state):
        if state.event == "task_end":  # a note for the plan; the state to resume is in resume_file
            write_json_atomically({"config": state.config.to_dict(),
                                   "tasks_done": state.task + 1, "num_tasks": cfg.num_tasks,
                                   "matrix_so_far": state.matrix}, progress_file)
        if on_event is not None:
            on_event(state)

    resume_file = planning.resume_path(run, folder) if can_resume_method(run.method) else None
    target = folder / run.filename
    with Reservation(target, "results file"):  # another reproduce training this run is refused
        if planning.run_status(run, folder, fast) == "done":  # it finished while we waited
            return ContinualResult.load(target), target
        result = train_continual(cfg, callback=callback, callback_every=callback_every,
                                 progress=progress, resume_file=resume_file)
        path = write_json_atomically(result.to_dict(), target)
    progress_file.unlink(missing_ok=True)
    if resume_file is not None:
        resume_file.unlink(missing_ok=True)  # the results are safe: nothing left to resume
    try:
        progress_file.parent.rmdir()  # only when no other run left a note
    except OSError:
        pass
    return result, path


def run_plan(runs, folder: Path, fast: bool, device, step_times, summary: dict, args) -> int:
    """Train the runs of the plan that are not done, one after the other (see the module's doc)."""
    todo = [r for r in runs if planning.run_status(r, folder, fast) != "done"]
    start, failed = time.perf_counter(), []
    for i, run in enumerate(todo, 1):
        seconds, _ = planning.estimate_seconds(run, step_times, fast)
        print(f"\n[run {i} of {len(todo)}] {run.name} (estimated "
              f"{planning.format_duration(seconds)})", flush=True)

        def report(state, i=i):
            if state.event == "task_end":
                row = [v for v in state.matrix[state.task] if v is not None]
                print(f"  [run {i}/{len(todo)}] task {state.task + 1}/{state.config.num_tasks} "
                      f"done, mean over seen tasks {sum(row) / len(row):.4g}", flush=True)

        try:
            result, path = train_planned_run(run, folder, fast, device, on_event=report,
                                             progress=not args.no_progress)
        except Exception as err:  # e.g. data not available: report it, go on with the next run
            failed.append(run.name)
            print(f"  [run {i}/{len(todo)}] {run.name} FAILED: {type(err).__name__}: {err}",
                  flush=True)
            continue
        print(f"  {result.metric} {result.average_final:.4g} in {result.wall_time_s:.1f} s "
              f"-> {path}", flush=True)
    print(f"\n{len(todo) - len(failed)} run(s) trained in "
          f"{planning.format_duration(time.perf_counter() - start)}; {summary['done']} were already done")
    if not args.no_tables:
        regenerate_tables(folder, fast)
    if failed:
        print(f"{len(failed)} run(s) failed (rerun the command to retry them): {', '.join(failed)}")
        return 1
    return 0


# --------------------------------------------------------------------- several runs at once


def runs_to_run(runs, folder: Path, fast: bool) -> list:
    """The runs of ``runs`` that are not done."""
    return [r for r in runs if planning.run_status(r, folder, fast) != "done"]


def order_for_workers(runs, folder: Path, fast: bool, step_times) -> list:
    """The runs to run in the order several workers start them (``parallel.longest_first``:
    runs without an estimate first, then the longest), then the runs already done."""
    todo = runs_to_run(runs, folder, fast)
    done = [r for r in runs if r not in todo]
    return parallel.longest_first(
        todo, lambda run: planning.estimate_seconds(run, step_times, fast)[0]) + done


def at_once(args, n_runs: int) -> int:
    """How many runs train at the same time: --jobs (an executor without it: all)."""
    return max(1, min(args.jobs or n_runs, n_runs))


def threads_per_run(args, n_runs: int) -> int | None:
    """--threads, else the cores divided among the runs at once (at least 1); on Slurm None:
    each run takes the cores of its node (torch's choice)."""
    if args.threads is not None:
        return args.threads
    if args.executor == "slurm":
        return None
    return max(1, available_cores() // at_once(args, n_runs))


def wall_time_line(runs, folder: Path, fast: bool, step_times, args) -> str:
    """The estimated wall time of the runs to run with --jobs N (or the executor's jobs)."""
    todo = runs_to_run(runs, folder, fast)
    seconds = [planning.estimate_seconds(r, step_times, fast)[0] for r in todo]
    n, threads = at_once(args, len(todo)), threads_per_run(args, len(todo))
    each = (f"{threads} thread{'s' if threads > 1 else ''} each" if threads
            else "each with the cores of its node")
    text = (f"with {n} run(s) at once ({each}), longest first: estimated wall time "
            f"{planning.format_duration(parallel.wall_time(seconds, n))}")
    unknown = sum(s is None for s in seconds)
    if unknown:
        text += f" + {unknown} run(s) without an estimate (started first)"
    if args.executor != "slurm" and threads and n * threads > available_cores():
        text += (f"; {n * threads} threads on {available_cores()} cores: the runs slow each "
                 "other down")
    return text


def worker_command(run, folder: Path, fast: bool, device, threads: int | None,
                   estimate_s: float | None) -> parallel.WorkerCommand:
    """The command of a worker that trains ``run`` into ``folder`` (see :func:`run_worker`)."""
    argv = [sys.executable, "-m", "hnet_utils.reproduce", "--worker", run.name,
            "--seeds", str(run.seed), "--results-dir", str(Path(folder).resolve())]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if device is not None:
        argv += ["--device", device]
    shown = ("HNET_FAST=1 " if fast else "") + shlex.join(argv)
    return parallel.WorkerCommand(run.name, tuple(argv), estimate_s, shown)


def run_several(runs, folder: Path, fast: bool, device, step_times, summary: dict, args) -> int:
    """Train the runs that are not done in worker processes: --jobs N of this machine, or jobs
    of --executor. A failed run is reported with its command; the others go on."""
    todo = runs_to_run(runs, folder, fast)
    threads = threads_per_run(args, len(todo))
    commands = [worker_command(r, folder, fast, device, threads,
                               planning.estimate_seconds(r, step_times, fast)[0]) for r in todo]
    display, start = parallel.Display(len(commands)), time.perf_counter()
    if args.executor is None:
        outcome = parallel.run_workers(commands, args.jobs, display)
    else:
        parameters = cluster.executor_parameters(args.executor, args.time_limit, args.gpus,
                                                 args.partition, threads)
        executor = cluster.make_executor(args.executor, folder / cluster.LOG_FOLDER, parameters)
        outcome = cluster.run_jobs(commands, executor, args.executor, args.jobs, display)
    print(f"\n{len(outcome.finished)} run(s) trained in "
          f"{planning.format_duration(time.perf_counter() - start)}, {at_once(args, len(todo))} "
          f"at once; {summary['done']} were already done")
    if not args.no_tables:
        regenerate_tables(folder, fast)
    if outcome.failed:
        print(f"{len(outcome.failed)} run(s) failed (rerun the command to retry them):")
        for failure in outcome.failed:
            print(f"  {failure.name}: {failure.reason}\n    command: {failure.command}")
        return 1
    return 0


# --------------------------------------------------------------------- the worker


def run_worker(parser: argparse.ArgumentParser, args, fast: bool) -> int:
    """``--worker RUN`` (what --jobs and --executor start): train the planned run named RUN
    into --results-dir, reporting events on stdout (``parallel.event_line``). Exit status 0
    when its results file is written (or was already there), 1 when it failed, 130 when it
    was stopped (SIGINT or SIGTERM: it keeps its state after its last finished task)."""
    matches = [r for r in planning.course_plan(args.seeds) if r.name == args.worker]
    if not matches:
        parser.error(f"--worker {args.worker!r} is no run of the plan with seeds {args.seeds}")
    run, folder = matches[0], results_folder(parser, args, fast)
    device = None if args.device == "auto" else args.device

    def emit(**event):
        print(parallel.event_line(event), flush=True)

    handlers = {sig: signal.signal(sig, stop_once) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return train_as_worker(run, folder, fast, device, args.threads, emit)
    except KeyboardInterrupt:
        emit(event="interrupted", note=stopped_note(run, folder))
        return 130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def stop_once(signum, frame) -> None:
    """A worker's SIGINT / SIGTERM: stop as Ctrl-C does; a second signal meanwhile is ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def train_as_worker(run, folder: Path, fast: bool, device, threads: int | None, emit) -> int:
    """The worker's run: skipped when done, else trained (:func:`train_planned_run`, which
    reserves its results file: a second worker of the same run is refused)."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    if planning.run_status(run, folder, fast) == "done":
        emit(event="done", summary=f"already done -> {folder / run.filename}")
        return 0
    emit(event="start", run=run.name, resuming=resume_point(run, folder))
    try:
        events = WorkerEvents(run.config(fast), emit)
        check_results_folder(folder)
        result, path = train_planned_run(run, folder, fast, device, on_event=events,
                                         progress=False, callback_every=events.every)
    except Exception as err:  # e.g. data not available: the parent reports it
        emit(event="failed", error=f"{type(err).__name__}: {err}")
        return 1
    emit(event="done", summary=f"{result.metric} {result.average_final:.4g} in "
                               f"{result.wall_time_s:.1f} s -> {path}")
    return 0


def resume_point(run, folder: Path) -> str | None:
    """Where an interrupted attempt of ``run`` resumes (``"after task 2 of 5"``), or None when
    there is nothing to resume from."""
    if not can_resume_method(run.method) or not planning.resume_path(run, folder).is_file():
        return None
    try:
        note = json.loads(planning.progress_path(run, folder).read_text())
        return f"after task {note['tasks_done']} of {note['num_tasks']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "after its last finished task"


def stopped_note(run, folder: Path) -> str:
    """What a stopped worker kept, for the parent's display."""
    if not can_resume_method(run.method):
        return "a replay method keeps no state between tasks: it restarts from task 1"
    point = resume_point(run, folder)
    if point is None:
        return "before its first task ended: it restarts from task 1"
    return f"{point}; it resumes there"


class WorkerEvents:
    """A worker's training callbacks as events: a ``step`` about 20 times per task and every
    ``task_end``, each with the time left estimated from this process's speed so far."""

    def __init__(self, cfg, emit) -> None:
        self.cfg, self.emit, self.start = cfg, emit, time.perf_counter()
        try:  # training steps done at the end of each task
            self.ends = [planning.total_steps(dataclasses.replace(cfg, num_tasks=k))
                         for k in range(1, cfg.num_tasks + 1)]
        except KeyError:  # a benchmark whose task sizes the plan does not know
            self.ends = None
        self.every = max(1, self.ends[0] // 20) if self.ends else 100

    def __call__(self, state) -> None:
        t, K = state.task, self.cfg.num_tasks
        steps = left = None
        if self.ends is not None:
            before = self.ends[t - 1] if t else 0
            steps = self.ends[t] - before
            if state.global_step:  # steps of this process (after a resume: since the resume)
                rate = (time.perf_counter() - self.start) / state.global_step
                left = max(0.0, rate * (self.ends[-1] - before - state.step))
        if state.event == "step":
            self.emit(event="step", task=t + 1, tasks=K, step=state.step, steps=steps, left_s=left)
        elif state.event == "task_end":
            row = [v for v in state.matrix[t] if v is not None]
            self.emit(event="task_end", task=t + 1, tasks=K, left_s=left,
                      summary=f"mean over seen tasks {sum(row) / len(row):.4g}")


if __name__ == "__main__":
    from hnet_utils.run import stop_on_sigterm

    stop_on_sigterm()  # kill / a batch system's time limit end a run like Ctrl-C: resumable
    sys.exit(main())
