"""How much a task's test MSE moves from step to step on the regression toy.

Issue #16 asks that every task's final MSE be at most twice its MSE "right after
learning it". That single "during" value is the MSE of the last iterate of Adam
(lr 0.01, batches of 32). This script trains the toy with a preset (``paper`` by
default) and, every ``--every`` steps and at the end of each task, evaluates every
task learned so far on its test points (``continual/trace.py``), so that one sees how
far a task's MSE moves within the last steps of its own training (the noise of
"during") and while the later tasks are learned.

For each seed and each task it prints: "during" (the last iterate, as the results
files have it), the minimum / median / maximum over the last ``--window`` steps of
the task's own training, the largest MSE while the later tasks are learned, and the
final MSE. The last printed line is one JSON object with the same numbers; ``--out``
writes that object to a file as well.

    python scripts/toy_mse_trace.py --seeds 0 1 2 3 4 5 6 7 8 9 --out results/regression_hnet_mse_trace.json
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from hnet_utils.continual.trace import MetricTrace
from hnet_utils.continual.training import train_continual
from hnet_utils.experiments.configs import preset_config
from hnet_utils.files import OutputPathError, atomic_write_text, check_output_path


def trace_seed(preset: str, seed: int, every: int, iterations: int | None):
    """Train the toy's hypernetwork with ``preset`` and ``seed``, recording every task's test
    MSE every ``every`` steps; returns ``(config, MetricTrace, ContinualResult)``."""
    overrides = {} if iterations is None else {"iterations": iterations}
    cfg = preset_config("regression", preset, method="hnet", scenario=1, seed=seed, **overrides)
    trace = MetricTrace()
    result = train_continual(cfg, callback=trace, callback_every=every, progress=False)
    return cfg, trace, result


def summarise(cfg, trace: MetricTrace, result, window: int) -> list[dict]:
    """Per task: during, min / median / max over the last ``window`` steps of its own training,
    the largest MSE while later tasks are learned (``later_max``; None for the last task), final."""
    rows = []
    for j in range(cfg.num_tasks):
        steps, values = trace.series(j, during=j)
        own = [v for g, v in zip(steps, values) if g - trace.task_starts[j] > cfg.iterations - window]
        later = [v for t in range(j + 1, cfg.num_tasks) for v in trace.series(j, during=t)[1]]
        rows.append({"task": j + 1, "during": result.during[j], "min": min(own),
                     "median": statistics.median(own), "max": max(own),
                     "later_max": max(later) if later else None, "final": result.final[j]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--iterations", type=int, default=None, help="steps per task (default: the preset's)")
    parser.add_argument("--every", type=int, default=10, help="evaluate every this many steps")
    parser.add_argument("--window", type=int, default=500,
                        help="the last this many steps of a task's own training")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="also write the summary (the last printed line) to this JSON file")
    args = parser.parse_args()
    if args.every < 1 or args.window < args.every or args.threads < 1:
        parser.error("--every and --threads must be >= 1 and --window >= --every")
    if args.out:
        try:
            check_output_path(args.out, "summary file", overwrite=args.overwrite)
        except OutputPathError as err:
            parser.error(str(err))
    try:                                            # bad --preset / --iterations: before any training
        preset_config("regression", args.preset, method="hnet",
                      **({} if args.iterations is None else {"iterations": args.iterations}))
    except ValueError as err:
        parser.error(str(err))
    torch.set_num_threads(args.threads)
    summary = {}
    print("seed task   during      min   median      max  later max    final   final/during  final/median")
    for seed in args.seeds:
        summary[seed] = summarise(*trace_seed(args.preset, seed, args.every, args.iterations), args.window)
        for r in summary[seed]:
            later = "-" if r["later_max"] is None else f"{r['later_max']:.4f}"
            print(f"{seed:4d} {r['task']:4d} {r['during']:8.4f} {r['min']:8.4f} {r['median']:8.4f} "
                  f"{r['max']:8.4f} {later:>10} {r['final']:8.4f} {r['final'] / r['during']:14.2f} "
                  f"{r['final'] / r['median']:13.2f}")
    line = json.dumps({"preset": args.preset, "iterations": args.iterations, "window": args.window,
                       "every": args.every, "summary": summary})
    if args.out:
        atomic_write_text(args.out, line + "\n")
    print(line)


if __name__ == "__main__":
    main()
