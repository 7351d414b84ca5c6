"""Record a run of the authors' Split-CIFAR code (chrhenning/hypercl) as a small JSON file.

Their ``cifar/train.py`` writes ``performance_summary.txt`` into its ``--out_dir``
(``acc_during``: test accuracy of each task right after learning it; ``acc_final``: after the
last task). This script reads it with the command, the commit and the wall time of the run and
writes ``investigations/split_cifar_vs_authors/<name>.json``, labelled as the authors' code run
on our machine and our data, so that notebook 05 and docs/split_cifar_vs_authors.md print their
numbers from a file instead of typing them. How the run was made: that document, §0.

    python investigations/split_cifar_vs_authors/record_authors_run.py \\
        --summary OUT_DIR/performance_summary.txt --log RUN.log \\
        --name authors_hnet_zenke_20epochs_seed0 --method hnet

Last printed line: the JSON written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from hnet_utils.files import atomic_write_text  # noqa: E402

HERE = Path(__file__).resolve().parent


def read_summary(path: Path) -> dict[str, list[float]]:
    """``acc_during`` and ``acc_final`` of a ``performance_summary.txt`` (the first of each)."""
    values: dict[str, list[float]] = {}
    for line in path.read_text().splitlines():
        key, *numbers = line.split()
        if key in ("acc_during", "acc_final") and key not in values:
            values[key] = [float(v) for v in numbers]
    if set(values) != {"acc_during", "acc_final"}:
        raise SystemExit(f"error: {path} has no acc_during / acc_final lines")
    return values


def read_log(path: Path) -> dict:
    """Command and wall time from the log written by the run's script (a scratch script outside the repository that prints ``COMMAND:`` and ``WALL_S``)."""
    text = path.read_text()
    command = re.search(r"^COMMAND: (.*)$", text, re.M)
    wall = re.search(r"WALL_S (\d+)", text)
    return {"command": command.group(1) if command else None,
            "wall_time_s": int(wall.group(1)) if wall else None}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--name", required=True, help="file name without .json")
    parser.add_argument("--method", required=True, choices=("hnet", "finetune"),
                        help="hnet: their README command; finetune: the same with --beta=0")
    parser.add_argument("--commit", default="e32567889f77")
    args = parser.parse_args(argv)
    summary, log = read_summary(args.summary), read_log(args.log)
    record = {
        "what": "the authors' code (chrhenning/hypercl cifar/train_zenke.py) run on our machine "
                "and our data: split_cifar10_substitute seed 0, exported to CIFAR pickles "
                "(docs/split_cifar_vs_authors.md §0); not our code, not the paper's numbers",
        "method": args.method, "commit": args.commit, **log,
        "epochs": 20, "seed": 0, "device": "cpu (1 thread)",
        "during": summary["acc_during"], "final": summary["acc_final"],
        "average_final": round(sum(summary["acc_final"]) / len(summary["acc_final"]), 2),
    }
    out = HERE / f"{args.name}.json"
    atomic_write_text(out, json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()
