"""How long one refresh of the live task-embedding view takes.

Setting: the regression experiment of notebook 01 (method.md §4): target MLP
1-10-10-1 (sigmoid), full hypernetwork (2-D task embeddings, hidden 10,10,
sigmoid), three tasks with their 50 test points each. One refresh is what
``EmbeddingSpaceMonitor`` + ``EmbeddingSpaceView`` do every N training steps:

  grid   evaluate every task's test MSE at each point of an R x R grid of the
         embedding plane: one hypernetwork call for the whole grid, one
         vmapped target-network call per task (``evaluate_embedding_grid``)
  draw   update the heatmap figure in place and render it to PNG (100 dpi),
         as the notebook's Image widget shows it
  total  grid + draw (the target: <= 0.5 s for a 50 x 50 grid)

The hypernetwork is untrained (the cost does not depend on its weights).
Timings are medians over ``--repeats`` refreshes after ``--warmup`` ones, in
this process, with ``--threads`` torch threads (the notebooks use 1).

The last line printed is one JSON object with all numbers.

    python scripts/speed/embedding_grid_refresh.py                  # 50 x 50, 20 repeats
    python scripts/speed/embedding_grid_refresh.py --resolution 100 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch

from hnet_utils.data.benchmarks import make_benchmark
from hnet_utils.viz.embedding_space import EmbeddingSpaceMonitor, benchmark_tasks_data
from hnet_utils.continual.learners import build_hnet, build_target
from hnet_utils.experiments.configs import preset_config
from hnet_utils.viz.widgets import EmbeddingSpaceView

TARGET_S = 0.5


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=50, help="grid points per axis (default 50)")
    parser.add_argument("--repeats", type=int, default=20, help="timed refreshes (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed refreshes first (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the notebooks)")
    args = parser.parse_args(argv)
    for name in ("resolution", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    cfg = preset_config("regression", "paper", method="hnet")
    bench = make_benchmark("regression", num_tasks=3, seed=0)
    target = build_target(cfg, tuple(bench.input_shape), bench.classes_per_task, regression=True)
    hnet = build_hnet(cfg, target)
    for _ in range(bench.num_tasks):
        hnet.add_task()

    view = EmbeddingSpaceView(bench.num_tasks)
    monitor = EmbeddingSpaceMonitor(benchmark_tasks_data(bench), resolution=args.resolution,
                                    on_refresh=view)
    totals = []
    for i in range(args.warmup + args.repeats):
        start = time.perf_counter()
        monitor.refresh(hnet, target, task=2, step=i)
        totals.append(time.perf_counter() - start)
    skip = args.warmup
    grid_ms = 1000 * statistics.median(monitor.refresh_seconds[skip:])
    draw_ms = 1000 * statistics.median(view.draw_seconds[skip:])
    total_ms = 1000 * statistics.median(totals[skip:])
    worst_ms = 1000 * max(totals[skip:])

    r = args.resolution
    print(f"{r} x {r} grid = {r * r} embeddings, {bench.num_tasks} tasks x 50 test points, "
          f"{args.threads} torch thread(s), {args.repeats} refreshes after {args.warmup} warm-up")
    print(f"grid evaluation (median): {grid_ms:8.1f} ms")
    print(f"draw + PNG      (median): {draw_ms:8.1f} ms")
    print(f"whole refresh   (median): {total_ms:8.1f} ms   (slowest {worst_ms:.1f} ms; "
          f"target <= {1000 * TARGET_S:.0f} ms: {'met' if total_ms <= 1000 * TARGET_S else 'NOT met'})")
    print(json.dumps({
        "benchmark": "embedding_grid_refresh",
        "median_ms": {"grid": round(grid_ms, 1), "draw": round(draw_ms, 1), "total": round(total_ms, 1)},
        "max_total_ms": round(worst_ms, 1),
        "target_total_ms": 1000 * TARGET_S,
        "target_met": total_ms <= 1000 * TARGET_S,
        "config": {"resolution": r, "grid_points": r * r, "tasks": bench.num_tasks,
                   "test_points_per_task": 50, "repeats": args.repeats, "warmup": args.warmup,
                   "threads": args.threads, "hnet": "full, emb 2, hidden (10, 10) sigmoid",
                   "target": "MLP 1-10-10-1 sigmoid"},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_avg_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__},
    }))


if __name__ == "__main__":
    main()
