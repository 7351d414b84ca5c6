"""Where the time of a training step goes: torch.profiler over the real training loop.

Builds the hypernetwork learner of a paper configuration with the engine's own pieces (as
``train_step.py`` does) and profiles ``--steps`` steps of task 1 (plain: no regulariser) and of
task 2 (regularised: exact regulariser + Adam lookahead). Prints, per kind of step, the
operations that take the most time (self CPU time per step, ms) and, as its last line, one JSON
object with the same numbers.

    python scripts/speed/profile_step.py                          # PermutedMNIST-10, 1 thread
    python scripts/speed/profile_step.py --benchmark split_mnist --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from hnet_utils.continual import training
from hnet_utils.experiments.configs import preset_config
from train_step import EngineSetup


def profile_steps(setup: EngineSetup, steps: int) -> dict[str, float]:
    """Self CPU milliseconds per step of every operation over ``steps`` steps of ``setup``."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            setup.step()
    per_op: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        per_op[event.key] += event.self_cpu_time_total / 1000 / steps
    return dict(per_op)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", default="permuted_mnist", choices=["permuted_mnist", "split_mnist"])
    parser.add_argument("--steps", type=int, default=10, help="profiled steps of each kind")
    parser.add_argument("--warmup", type=int, default=5, help="unprofiled steps of each kind first")
    parser.add_argument("--top", type=int, default=12, help="operations printed per kind of step")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--hnet-heads", default=None, choices=["shared", "per_task"],
                        help="override the preset's output heads (see train_step.py)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    heads = {} if args.hnet_heads is None else {"hnet_heads": args.hnet_heads}
    cfg = preset_config(args.benchmark, "paper", method="hnet", scenario=1, **heads).replace(device="cpu")
    bench = training.make_benchmark_for(cfg)
    setups = {"plain": EngineSetup(cfg, bench, task=0), "regularised": EngineSetup(cfg, bench, task=1)}
    for setup in setups.values():
        for _ in range(args.warmup):
            setup.step()
    report = {}
    for kind, setup in setups.items():
        per_op = profile_steps(setup, args.steps)
        total = sum(per_op.values())
        top = dict(sorted(per_op.items(), key=lambda item: -item[1])[:args.top])
        report[kind] = {"total_ms": round(total, 2), "top_ms": {k: round(v, 2) for k, v in top.items()}}
        print(f"\n{kind}: {total:.1f} ms of self CPU time per step (profiled, {args.steps} steps)")
        for name, ms in top.items():
            print(f"  {ms:7.2f} ms  {100 * ms / total:5.1f} %  {name}")
    print(json.dumps({"benchmark": args.benchmark, "profile": report, "threads": torch.get_num_threads(),
                      "load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
