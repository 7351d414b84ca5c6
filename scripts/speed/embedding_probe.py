"""How fast the embedding-space probe of notebooks 01 and 03 reacts.

Two settings, as in the notebooks:

  regression   target MLP 1-10-10-1 (sigmoid), full hypernetwork (2-D task
               embeddings, hidden 10,10), three tasks with their 50 test
               points each; the function is drawn at 200 x values
  split_mnist  the ``teaching_plane`` preset: target MLP 784-20-2, chunked
               hypernetwork (2-D task embeddings), five tasks with a fixed
               subset of ``--mnist-samples`` test images each

Measured, with ``widgets.EmbeddingProbe`` (its heatmaps are computed once,
before timing):

  probe       one probe update, what moving a slider does: generate the
              weights at the point (one hypernetwork call), evaluate every
              task, redraw the figure and render it to PNG (at the widget's dpi, ``figures.DISPLAY_DPI``).
              Targets: <= 100 ms (regression), <= 300 ms (split_mnist).
  path        evaluating a path of ``--path-points`` (50) embeddings, a
              straight line between two task embeddings, in one batched
              hypernetwork call (``embedding_space.evaluate_path``).
  path step   showing one precomputed step of the path (what ``play`` does
              every tick): redraw + PNG, nothing is recomputed.

The hypernetworks are untrained (the cost does not depend on their weights).
Timings are medians over ``--repeats`` after ``--warmup`` untimed ones, in
this process, with ``--threads`` torch threads (the notebooks use 1).

The last line printed is one JSON object with all numbers.

    python scripts/speed/embedding_probe.py
    python scripts/speed/embedding_probe.py --repeats 50 --mnist-samples 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np
import torch

from hnet_utils.continual.learners import build_hnet, build_target
from hnet_utils.data.benchmarks import make_benchmark
from hnet_utils.experiments.configs import preset_config
from hnet_utils.viz.embedding_space import benchmark_tasks_data, evaluate_path, probe
from hnet_utils.viz.figures import DISPLAY_DPI
from hnet_utils.viz.widgets import EmbeddingProbe

TARGET_PROBE_MS = {"regression": 100.0, "split_mnist": 300.0}


def build(setting: str, mnist_samples: int):
    """(hnet, target, tasks_data, metric, label_names) of an untrained model for ``setting``."""
    if setting == "regression":
        cfg = preset_config("regression", "paper", method="hnet")
        bench = make_benchmark("regression", num_tasks=3, seed=0)
        data, metric, labels = benchmark_tasks_data(bench, "test"), "mse", None
    else:
        cfg = preset_config("split_mnist", "teaching_plane")
        bench = make_benchmark("split_mnist", num_tasks=5, seed=0)
        data = benchmark_tasks_data(bench, "test", max_samples=mnist_samples)
        metric, labels = "accuracy", [[str(c) for c in t.classes] for t in bench.tasks]
    target = build_target(cfg, tuple(bench.input_shape), bench.classes_per_task,
                          regression=setting == "regression")
    hnet = build_hnet(cfg, target)
    for _ in range(bench.num_tasks):
        hnet.add_task()
    with torch.no_grad():  # spread the embeddings as training would
        for t in range(bench.num_tasks):
            hnet.task_embedding(t).copy_(torch.randn(hnet.embedding_dim))
    return hnet, target, data, metric, labels


def measure(setting: str, args) -> dict:
    hnet, target, data, metric, labels = build(setting, args.mnist_samples)
    widget = EmbeddingProbe(hnet, target, data, metric=metric, label_names=labels,
                            resolution=args.resolution, path_points=args.path_points)
    rng = np.random.default_rng(0)
    lo = np.array([widget.x.min, widget.y.min])
    hi = np.array([widget.x.max, widget.y.max])
    moves, computes = [], []
    for i in range(args.warmup + args.repeats):
        x, y = lo + (hi - lo) * rng.random(2)
        start = time.perf_counter()
        widget.move_to(float(x), float(y))
        moves.append(time.perf_counter() - start)
        start = time.perf_counter()
        probe(hnet, target, data, widget.last.point, metric=metric, inputs=widget.curve_x)
        computes.append(time.perf_counter() - start)
    points = widget.path_points_for("line:0:1")
    paths, steps = [], []
    widget.path.value = "line:0:1"
    for i in range(args.warmup + args.repeats):
        start = time.perf_counter()
        evaluate_path(hnet, target, data, points, metric=metric, inputs=widget.curve_x)
        paths.append(time.perf_counter() - start)
        start = time.perf_counter()
        widget.show_path_step(i % args.path_points)
        steps.append(time.perf_counter() - start)
    skip = args.warmup
    ms = lambda values: round(1000 * statistics.median(values[skip:]), 1)
    return {"probe": ms(moves), "probe_max": round(1000 * max(moves[skip:]), 1),
            "probe_compute": ms(computes), "path": ms(paths), "path_step": ms(steps),
            "grid_s": round(widget.grid_seconds, 3), "tasks": len(data),
            "samples_per_task": len(data[0][1]), "png_bytes": len(bytes(widget.image.value))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed repeats (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed repeats first (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the notebooks)")
    parser.add_argument("--resolution", type=int, default=32, help="heatmap grid points per axis (default 32)")
    parser.add_argument("--path-points", type=int, default=50, help="points per path (default 50)")
    parser.add_argument("--mnist-samples", type=int, default=100,
                        help="fixed test images per SplitMNIST task (default 100)")
    args = parser.parse_args(argv)
    for name in ("repeats", "threads", "resolution", "mnist_samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0 or args.path_points < 2:
        parser.error("--warmup must be >= 0 and --path-points >= 2")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    results = {setting: measure(setting, args) for setting in ("regression", "split_mnist")}
    print(f"{args.threads} torch thread(s), medians over {args.repeats} repeats after {args.warmup} warm-up; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'setting':12s} {'probe ms':>9s} {'(max)':>7s} {'compute':>8s} {'target':>7s} {'met':>4s} "
          f"{'path ms':>8s} {'step ms':>8s}")
    met = {}
    for setting, r in results.items():
        met[setting] = r["probe"] <= TARGET_PROBE_MS[setting]
        print(f"{setting:12s} {r['probe']:9.1f} {r['probe_max']:7.1f} {r['probe_compute']:8.1f} "
              f"{TARGET_PROBE_MS[setting]:7.0f} {'yes' if met[setting] else 'NO':>4s} "
              f"{r['path']:8.1f} {r['path_step']:8.1f}")
    print(json.dumps({
        "benchmark": "embedding_probe",
        "probe_ms": {s: r["probe"] for s, r in results.items()},
        "probe_max_ms": {s: r["probe_max"] for s, r in results.items()},
        "probe_compute_ms": {s: r["probe_compute"] for s, r in results.items()},
        "path_ms": {s: r["path"] for s, r in results.items()},
        "path_step_ms": {s: r["path_step"] for s, r in results.items()},
        "target_probe_ms": TARGET_PROBE_MS,
        "targets_met": all(met.values()),
        "threads": args.threads,
        "config": {"repeats": args.repeats, "warmup": args.warmup, "path_points": args.path_points,
                   "resolution": args.resolution, "dpi": DISPLAY_DPI,
                   "samples_per_task": {s: r["samples_per_task"] for s, r in results.items()},
                   "heatmap_grid_s": {s: r["grid_s"] for s, r in results.items()}},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_avg_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__},
    }))


if __name__ == "__main__":
    main()
