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

Fast mode (``HNET_FAST=1``) trains every planned run with its preset's fast
variant and writes into a temporary folder, never into ``results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from hnet_utils import settings
from hnet_utils.experiments import plan as planning
from hnet_utils.experiments.configs import METHODS, REPLAY_METHODS
from hnet_utils.files import OutputPathError, atomic_write_text, check_output_path
from hnet_utils.run import threads_problem

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
                        help="torch CPU threads (torch.set_num_threads); default: torch's choice")
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
    problem = threads_problem(args.threads)
    if problem:
        parser.error(problem)
    if any(s < 0 for s in args.seeds):
        parser.error(f"--seeds must be non-negative integers, got {args.seeds}")
    try:
        runs = planning.select(planning.course_plan(args.seeds), args.only, args.methods,
                               args.scenarios)
    except ValueError as err:
        parser.error(str(err))
    if args.results_dir is not None:
        folder = Path(args.results_dir)
        if fast and folder.resolve() == planning.RESULTS_DIR.resolve():
            parser.error("fast mode (HNET_FAST=1) never writes into results/: its numbers mean nothing")
    elif fast:
        folder = Path(tempfile.mkdtemp(prefix="hnet-reproduce-fast-"))
    else:
        folder = planning.RESULTS_DIR
    device = None if args.device == "auto" else args.device

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from hnet_utils.continual.training import describe_device, resolve_device

    try:
        where = describe_device(resolve_device(device))
    except (ValueError, RuntimeError) as err:
        parser.error(str(err))
    if args.measure:
        measure_missing(runs, planning.RESULTS_DIR if not fast else folder)

    step_times = planning.load_step_times(planning.RESULTS_DIR)
    print(f"plan: {len(runs)} runs into {folder}{' (fast mode)' if fast else ''}; device: {where}")
    lines, summary = describe_plan(runs, folder, fast, step_times, where)
    print("\n".join(lines))
    print(summary_line(summary, fast), flush=True)
    if args.dry_run:
        return 0
    try:
        check_results_folder(folder)
    except OutputPathError as err:
        parser.error(str(err))
    try:
        return run_plan(runs, folder, fast, device, step_times, summary, args)
    except KeyboardInterrupt:
        print(f"\ninterrupted: every finished run's results file is in {folder}; a run stopped "
              f"half-way keeps its state after its last finished task in "
              f"{folder / planning.PROGRESS_DIR} (replay methods restart): the same command "
              "resumes", file=sys.stderr)
        return 130


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


def run_plan(runs, folder: Path, fast: bool, device, step_times, summary: dict, args) -> int:
    """Train the runs of the plan that are not done, one after the other (see the module's doc)."""
    from hnet_utils.continual.training import train_continual

    todo = [r for r in runs if planning.run_status(r, folder, fast) != "done"]
    start, failed = time.perf_counter(), []
    for i, run in enumerate(todo, 1):
        cfg = run.config(fast)
        if device is not None:
            cfg = cfg.replace(device=device)
        seconds, _ = planning.estimate_seconds(run, step_times, fast)
        print(f"\n[run {i} of {len(todo)}] {run.name} (estimated "
              f"{planning.format_duration(seconds)})", flush=True)

        progress_file = planning.progress_path(run, folder)

        def report(state, K=cfg.num_tasks, progress_file=progress_file, i=i):
            if state.event == "task_end":
                row = [v for v in state.matrix[state.task] if v is not None]
                print(f"  [run {i}/{len(todo)}] task {state.task + 1}/{K} done, mean over seen "
                      f"tasks {sum(row) / len(row):.4g}", flush=True)
                # a note for the plan; the state to resume from is in resume_file
                write_json_atomically({"config": state.config.to_dict(),
                                       "tasks_done": state.task + 1, "num_tasks": K,
                                       "matrix_so_far": state.matrix}, progress_file)

        resume_file = planning.resume_path(run, folder) if run.method not in REPLAY_METHODS else None
        try:
            result = train_continual(cfg, callback=report, callback_every=10**9,
                                     progress=not args.no_progress, resume_file=resume_file)
        except Exception as err:  # e.g. data not available: report it, go on with the next run
            failed.append(run.name)
            print(f"  [run {i}/{len(todo)}] {run.name} FAILED: {type(err).__name__}: {err}",
                  flush=True)
            continue
        path = write_json_atomically(result.to_dict(), folder / run.filename)
        progress_file.unlink(missing_ok=True)
        if resume_file is not None:
            resume_file.unlink(missing_ok=True)  # the results are safe: nothing left to resume
        try:
            progress_file.parent.rmdir()  # only when no other run left a note
        except OSError:
            pass
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


if __name__ == "__main__":
    sys.exit(main())
