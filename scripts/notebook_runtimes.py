"""Execute notebooks in full mode and record each one's wall and CPU time with the machine's load.

Each notebook runs in a fresh kernel (``jupyter nbconvert --execute``, in a temporary folder;
the notebook in ``notebooks/`` is not changed), with ``HNET_FAST`` removed from the
environment, so that it runs its full configuration, as a learner's ``make lab`` would. CPU
time is that of the kernel and everything it started (``getrusage(RUSAGE_CHILDREN)``). The
1-minute load average is read before and after each notebook; a notebook that started on a
machine with a load above ``--max-load`` is marked ``"idle": false`` (its wall time says more
about the machine than about the notebook).

    python scripts/notebook_runtimes.py                          # every notebook
    python scripts/notebook_runtimes.py --notebooks 01 05        # some of them
    python scripts/notebook_runtimes.py --out results/notebook_runtimes.json

The record (``--out``, default ``results/notebook_runtimes.json``) is written atomically
and merged with an existing one (notebooks run again replace their entries). The last printed
line is one JSON object: the entries of this call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hnet_utils.files import atomic_write_text  # noqa: E402

NOTEBOOKS = REPO / "notebooks"
DEFAULT_OUT = REPO / "results" / "notebook_runtimes.json"


def cpu_model() -> str:
    """The processor's name (Linux: /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """What the times were measured on."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "system": platform.platform()}


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def execute(notebook: Path, timeout_s: int) -> dict:
    """Run ``notebook`` top to bottom in full mode; its wall and CPU seconds and the load."""
    env = {k: v for k, v in os.environ.items() if k != "HNET_FAST"}
    with tempfile.TemporaryDirectory(prefix="hnet-runtime-") as out:
        command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                   f"--ExecutePreprocessor.timeout={timeout_s}", "--output-dir", out, str(notebook)]
        load_before, cpu_before, start = os.getloadavg()[0], children_cpu_s(), time.perf_counter()
        proc = subprocess.run(command, cwd=notebook.parent, env=env, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - start, children_cpu_s() - cpu_before
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{notebook.name} failed in full mode:\n{tail}")
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2)}


def select(names: list[str] | None) -> list[Path]:
    """The notebooks whose file name starts with one of ``names`` (all when None)."""
    every = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return every
    chosen = [p for p in every if any(p.name.startswith(n) for n in names)]
    unknown = [n for n in names if not any(p.name.startswith(n) for p in every)]
    if unknown:
        raise SystemExit(f"error: no notebook starts with {', '.join(unknown)}; there are "
                         + ", ".join(p.name for p in every))
    return chosen


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="+", metavar="NN", help="e.g. 01 05 (default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the record (JSON)")
    parser.add_argument("--max-load", type=float, default=0.5,
                        help="load average above which a notebook's start is not idle")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell at most")
    args = parser.parse_args(argv)
    if args.max_load < 0 or args.timeout < 1:
        parser.error("--max-load must be >= 0 and --timeout >= 1")
    notebooks = select(args.notebooks)
    record = json.loads(args.out.read_text()) if args.out.is_file() else {"notebooks": {}}
    measured = {}
    for notebook in notebooks:
        print(f"{notebook.name} ...", flush=True)
        entry = execute(notebook, args.timeout)
        entry["idle"] = entry["load_before"] <= args.max_load
        entry["measured"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        entry["machine"] = machine()
        measured[notebook.stem] = entry
        print(f"  {entry['wall_s'] / 60:.1f} min wall, {entry['cpu_s'] / 60:.1f} CPU-min, load "
              f"{entry['load_before']} -> {entry['load_after']}", flush=True)
        record["notebooks"][notebook.stem] = entry
        record["what"] = ("full-mode runtime of each notebook (wall and CPU seconds, load), "
                          "written by scripts/notebook_runtimes.py")
        atomic_write_text(args.out, json.dumps(record, indent=2) + "\n")
    print(json.dumps(measured))
    return measured


if __name__ == "__main__":
    main()
