"""Measure the training-step time of a configuration and estimate a full run's wall time.

Trains the first two tasks of a preset for a few steps each (the regulariser
or penalty is active on task 2), times the steps with the training callback,
and writes the measurement and the extrapolation to a JSON file:

    python scripts/speed/measure_step_time.py --benchmark permuted_mnist --method hnet \
        --steps 200 --threads 1 --out results/permuted_mnist_hnet_step_time.json

The estimate is ``steps_task1 * t1 + (K - 1) * steps_per_task * t2`` and leaves
out data loading and evaluation. With the exact regulariser, t2 does not grow
with the number of old tasks (method.md section 2), so task 2 stands for all
later ones.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hnet_utils.experiments.configs import preset_config
from hnet_utils.experiments.results import software_versions
from hnet_utils.continual.training import describe_device, get_device, train_continual


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--method", default="hnet")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per task (2 tasks)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args()
    if args.steps < 20:
        parser.error("--steps must be at least 20")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    full = preset_config(args.benchmark, args.preset, method=args.method)
    if full.iterations is None:
        parser.error("only presets that train for a number of iterations are supported")
    short = full.replace(num_tasks=2, iterations=args.steps, epochs=None, test_subset=200)
    marks: list[tuple[int, float]] = []

    def callback(state) -> None:
        if state.event == "step":
            marks.append((state.task, time.perf_counter()))

    start = time.perf_counter()
    train_continual(short, callback=callback, callback_every=10, progress=False)
    ms = []
    for task in (0, 1):  # skip the first 10 steps of each task (warm-up)
        times = [t for k, t in marks if k == task]
        ms.append(1000 * (times[-1] - times[0]) / (10 * (len(times) - 1)))
    steps = full.iterations
    estimate_s = (steps * ms[0] + (full.num_tasks - 1) * steps * ms[1]) / 1000
    report = {
        "what": "per-step training time and extrapolated full-run time (training steps only)",
        "full_config": full.to_dict(),
        "measured_config": short.to_dict(),
        "ms_per_step": {"task 1": ms[0], "task 2 (regulariser/penalty active)": ms[1]},
        "estimated_full_training_s": estimate_s,
        "measurement_wall_time_s": time.perf_counter() - start,
        "device": describe_device(get_device(short.device)),
        "versions": software_versions(),
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("ms_per_step", "estimated_full_training_s", "device")},
                     indent=2))


if __name__ == "__main__":
    main()
