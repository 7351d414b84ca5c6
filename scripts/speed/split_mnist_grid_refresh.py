"""How long one refresh of the SplitMNIST task-embedding maps takes (notebook 03, section 7).

Setting: the ``teaching_plane`` preset of SplitMNIST (notebook 03;
``experiments/configs.py``): target MLP 784-20-2, chunked hypernetwork with
2-D task embeddings (chunk embedding 16, hidden 32,32 ReLU, chunk size 4,000),
five SplitMNIST tasks with the first 50 test images each (as notebook 03). One refresh is what
``EmbeddingSpaceMonitor`` + ``EmbeddingSpaceView`` do every N training steps:

  grid   evaluate every task's test accuracy at each point of a 32 x 32 grid
         of the embedding plane: one hypernetwork call for all 1,024 points,
         one vmapped target-network call per task (``evaluate_embedding_grid``)
  draw   update the five heatmaps in place and render them to PNG (100 dpi)
  total  grid + draw (the target: <= 1 s on a 2-core CPU)

The hypernetwork is untrained (the cost does not depend on its weights).
Timings are medians over ``--repeats`` refreshes after ``--warmup`` ones, with
``--threads`` torch threads (the notebooks use 1). Data: the mirror named by
``HNET_DATA_MIRROR`` if set, else the cache, a download or the shipped subset
(the JSON says which).

The last line printed is one JSON object with all numbers.

    python scripts/speed/split_mnist_grid_refresh.py
    python scripts/speed/split_mnist_grid_refresh.py --threads 2 --repeats 5
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
from hnet_utils.experiments.configs import describe_config, preset_config
from hnet_utils.networks.targets import num_params
from hnet_utils.continual.learners import build_hnet, build_target
from hnet_utils.viz.widgets import EmbeddingSpaceView

TARGET_S = 1.0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=32, help="grid points per axis (default 32)")
    parser.add_argument("--samples", type=int, default=50, help="test images per task (default 50, as notebook 03)")
    parser.add_argument("--repeats", type=int, default=10, help="timed refreshes (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed refreshes first (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the notebooks)")
    args = parser.parse_args(argv)
    for name in ("resolution", "samples", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.resolution < 2:
        parser.error(f"--resolution must be >= 2, got {args.resolution}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    cfg = preset_config("split_mnist", "teaching_plane")
    bench = make_benchmark("split_mnist", num_tasks=cfg.num_tasks, seed=cfg.seed)
    target = build_target(cfg, tuple(bench.input_shape), bench.classes_per_task)
    hnet = build_hnet(cfg, target)
    for _ in range(bench.num_tasks):
        hnet.add_task()
    tasks_data = benchmark_tasks_data(bench, "test", max_samples=args.samples)

    view = EmbeddingSpaceView(bench.num_tasks, metric="accuracy", vmin=0.0, vmax=1.0, log=False,
                              cmap="magma")
    monitor = EmbeddingSpaceMonitor(tasks_data, resolution=args.resolution, on_refresh=view,
                                    metric="accuracy")
    totals = []
    for i in range(args.warmup + args.repeats):
        start = time.perf_counter()
        monitor.refresh(hnet, target, task=bench.num_tasks - 1, step=i)
        totals.append(time.perf_counter() - start)
    skip = args.warmup
    grid_ms = 1000 * statistics.median(monitor.refresh_seconds[skip:])
    draw_ms = 1000 * statistics.median(view.draw_seconds[skip:])
    total_ms = 1000 * statistics.median(totals[skip:])
    worst_ms = 1000 * max(totals[skip:])
    met = total_ms <= 1000 * TARGET_S

    r = args.resolution
    print(f"{r} x {r} grid = {r * r} embeddings, {bench.num_tasks} tasks x {args.samples} test images, "
          f"target {num_params(target):,} weights, {args.threads} torch thread(s), "
          f"data: {bench.data_label} ({bench.source})")
    print(f"grid evaluation (median): {grid_ms:8.1f} ms")
    print(f"draw + PNG      (median): {draw_ms:8.1f} ms")
    print(f"whole refresh   (median): {total_ms:8.1f} ms   (slowest {worst_ms:.1f} ms; "
          f"target <= {1000 * TARGET_S:.0f} ms: {'met' if met else 'NOT met'})")
    print(json.dumps({
        "benchmark": "split_mnist_grid_refresh",
        "median_ms": {"grid": round(grid_ms, 1), "draw": round(draw_ms, 1), "total": round(total_ms, 1)},
        "max_total_ms": round(worst_ms, 1),
        "target_total_ms": 1000 * TARGET_S,
        "target_met": met,
        "config": {"resolution": r, "grid_points": r * r, "tasks": bench.num_tasks,
                   "test_images_per_task": args.samples, "repeats": args.repeats,
                   "warmup": args.warmup, "threads": args.threads,
                   "target_weights": num_params(target), "preset": "split_mnist teaching_plane",
                   "settings": describe_config(cfg), "data": bench.data_label,
                   "data_source": bench.source},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_avg_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__},
    }))


if __name__ == "__main__":
    main()
