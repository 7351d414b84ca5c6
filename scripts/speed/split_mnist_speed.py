"""Time-to-accuracy of our SplitMNIST CL1 teaching configuration (notebook 03, section 3).

Ours: ``preset_config("split_mnist", "teaching")`` (``experiments/configs.py``): target MLP
784-100-100-2, chunked hypernetwork (task and chunk embeddings 32, hidden
32,32, chunk size 4,000), beta 0.01 with the Adam lookahead, 200 steps of 128
images per task, Adam lr 1e-3, five tasks. The time is ``train_continual``'s
wall time: training plus testing every learned task after each task (data
loading is timed separately). The target: >= 99 % average final test accuracy
in <= 30 s on a 2-core CPU.

Beside it, optionally, the SplitMNIST example of the authors' library
``hypnettorch`` (its ``examples/hypercl/run.py`` with its default arguments),
run as a subprocess with the same number of threads. It is not part of this
project and not in its requirements: install it into a scratch environment
and give its interpreter and the example script (see scripts/speed/README.md).
Its time is read from its own log: from "Training on task 1" to its last test
(seconds resolution), and its total including data loading.

The last line printed is one JSON object with all numbers.

    python scripts/speed/split_mnist_speed.py                       # ours, seed 0
    python scripts/speed/split_mnist_speed.py --seeds 0 1 2
    python scripts/speed/split_mnist_speed.py --hypnettorch-python /tmp/hnt-venv/bin/python \\
        --hypnettorch-example /tmp/hnt-example/run.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

from hnet_utils.data.benchmarks import make_benchmark
from hnet_utils.experiments.configs import describe_config, preset_config
from hnet_utils.continual.training import train_continual

TARGET_S, TARGET_ACC = 30.0, 99.0
_STAMP = r"(\d\d/\d\d/\d{4} \d\d:\d\d:\d\d [AP]M)"


def run_ours(seeds: list[int]) -> dict:
    """Train the teaching configuration once per seed; accuracies and wall times."""
    cfg = preset_config("split_mnist", "teaching")
    start = time.perf_counter()
    bench = make_benchmark("split_mnist", num_tasks=cfg.num_tasks, seed=cfg.seed)
    load_s = time.perf_counter() - start
    runs = []
    for seed in seeds:
        result = train_continual(cfg.replace(seed=seed), benchmark=bench, progress=False)
        runs.append({"seed": seed, "average_final": round(result.average_final, 3),
                     "final": [round(a, 2) for a in result.final],
                     "train_and_test_s": round(result.wall_time_s, 2)})
        print(f"ours, seed {seed}: {result.average_final:.2f}% in {result.wall_time_s:.1f} s "
              f"on {result.device}", flush=True)
    times = [r["train_and_test_s"] for r in runs]
    accs = [r["average_final"] for r in runs]
    return {"settings": describe_config(cfg), "data": bench.data_label, "data_source": bench.source,
            "data_load_s": round(load_s, 2), "runs": runs,
            "median_train_and_test_s": round(statistics.median(times), 2),
            "min_average_final": min(accs),
            "target_met": all(a >= TARGET_ACC for a in accs) and statistics.median(times) <= TARGET_S}


def run_hypnettorch(python: str, example: str, threads: int) -> dict:
    """Run the hypnettorch example with its defaults; parse accuracy and times from its log."""
    script = Path(example).resolve()
    if not script.is_file():
        raise FileNotFoundError(f"--hypnettorch-example: no file at {script}")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.run([python, str(script), "--no_cuda"], cwd=script.parent, env=env,
                          capture_output=True, text=True)
    wall_s = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"the hypnettorch example failed (exit {proc.returncode}):\n{log[-3000:]}")
    accs = re.findall(r"Average accuracy on all trained tasks: ([\d.]+)%", log)
    first = re.search(_STAMP + r" - INFO - ### Training on task 1 ###", log)
    last = list(re.finditer(_STAMP + r" - INFO - Average accuracy on all trained tasks", log))
    total = re.search(r"Program finished successfully in ([\d.]+) sec", log)
    if not (accs and first and last and total):
        raise RuntimeError(f"could not read accuracy and times from the example's log:\n{log[-3000:]}")
    stamp = lambda s: datetime.strptime(s, "%m/%d/%Y %I:%M:%S %p")
    train_s = (stamp(last[-1].group(1)) - stamp(first.group(1))).total_seconds()
    print(f"hypnettorch example: {float(accs[-1]):.2f}% in {train_s:.0f} s of training and testing "
          f"({float(total.group(1)):.1f} s with data loading)", flush=True)
    return {"script": str(script), "arguments": "defaults (SplitMNIST, MLP 100,100, chunked hnet, "
            "1001 iterations per task, batch 32, lr 1e-4, beta 0.01)",
            "average_final": float(accs[-1]), "train_and_test_s": train_s,
            "total_with_data_loading_s": round(float(total.group(1)), 2),
            "process_wall_s": round(wall_s, 2)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of our runs (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both (default 1)")
    parser.add_argument("--hypnettorch-python", default=None,
                        help="python interpreter of a scratch environment with hypnettorch installed")
    parser.add_argument("--hypnettorch-example", default=None,
                        help="path of hypnettorch's examples/hypercl/run.py (with ./datasets/MNIST beside it)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if any(s < 0 for s in args.seeds):
        parser.error(f"--seeds must be >= 0, got {args.seeds}")
    if (args.hypnettorch_python is None) != (args.hypnettorch_example is None):
        parser.error("give both --hypnettorch-python and --hypnettorch-example, or neither")
    torch.set_num_threads(args.threads)

    ours = run_ours(args.seeds)
    theirs = None
    if args.hypnettorch_python:
        theirs = run_hypnettorch(args.hypnettorch_python, args.hypnettorch_example, args.threads)
    print(f"ours: median {ours['median_train_and_test_s']:.1f} s, lowest accuracy "
          f"{ours['min_average_final']:.2f}% (target >= {TARGET_ACC:.0f}% in <= {TARGET_S:.0f} s: "
          f"{'met' if ours['target_met'] else 'NOT met'})")
    print(json.dumps({
        "benchmark": "split_mnist_speed",
        "ours": ours,
        "hypnettorch_example": theirs,
        "target": {"average_final_min": TARGET_ACC, "train_and_test_s_max": TARGET_S},
        "threads": args.threads,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_avg_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__},
    }))


if __name__ == "__main__":
    main()
