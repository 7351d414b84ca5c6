"""How the cost of the output regulariser grows with the number of tasks.

Times one training step -- generate the current task's weights, target
forward/backward on a batch of 128, regulariser forward/backward, Adam step --
for the PermutedMNIST-10 configuration of the paper (method.md §4): target MLP
1024-1000-1000-10, chunked hypernetwork (task embedding 24, chunk embedding 8,
hidden 25,25 ELU, chunk size 78,000), beta 0.1, Adam lr 1e-4. With T tasks,
T-1 old tasks are regularised while the last one is learnt. The batch is
random (inputs and labels): the cost of a step does not depend on the data.

Methods, interleaved step by step in one run so they see the same machine load:
  exact       hnet_utils OutputRegularizer(method="exact")
  reference   hnet_utils OutputRegularizer(method="reference")
  hypnettorch calc_fix_target_reg of the authors' library on the same
              configuration, when ``hypnettorch`` is importable.

Memory: ``held_mb`` is what each regulariser stores for the old tasks (our
``stored_bytes()``; for hypnettorch the bytes of its target list);
``peak_mb`` is the peak resident memory (VmHWM) of a fresh process that builds
the configuration, takes the snapshot and runs two steps (one per method/size).

The last line printed is one JSON object with all numbers.

    python scripts/speed/regularizer_scaling.py            # full run (a few minutes on 2 cores)
    python scripts/speed/regularizer_scaling.py --tasks 2,10 --steps 2 --warmup 1   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hnet_utils.networks.hypernet import ChunkedHyperNetwork
from hnet_utils.continual.regularizer import OutputRegularizer, adam_lookahead
from hnet_utils.networks.targets import MLP, forward_with_weights, num_params, weight_init_std

BATCH, BETA, LR = 128, 0.1, 1e-4
METHODS = ("exact", "reference", "hypnettorch")


def build_target() -> MLP:
    """Target MLP of PermutedMNIST-10 (one head; the hypernetwork gives one per task)."""
    return MLP(1024, (1000, 1000), 10, activation="relu")


class OursSetup:
    """A hypernetwork with ``num_tasks`` embeddings, its regulariser and optimiser."""

    def __init__(self, net, num_tasks: int, method: str):
        self.net, self.current = net, num_tasks - 1
        n = num_params(net)
        self.h = ChunkedHyperNetwork(n, 24, 8, 78_000, (25, 25), "elu",
                                     init_std=weight_init_std(net))
        for _ in range(num_tasks):
            self.h.add_task()
        self.reg = OutputRegularizer(self.h, BETA, method=method)
        self.reg.snapshot(tasks=range(num_tasks - 1))
        params = self.h.theta_parameters() + [self.h.task_embedding(self.current)]
        self.opt = torch.optim.Adam(params, lr=LR)

    def held_bytes(self) -> int:
        return self.reg.stored_bytes()["total"]

    def step(self, x, y, lookahead: bool) -> None:
        self.opt.zero_grad()
        weights = self.h(task_id=self.current)
        loss = F.cross_entropy(forward_with_weights(self.net, weights, x), y)
        if lookahead:
            loss.backward()
            delta = adam_lookahead(self.opt, self.h.theta_parameters())
            self.reg(delta).backward()
        else:
            (loss + self.reg()).backward()
        self.opt.step()


class HypnettorchSetup:
    """The same configuration with hypnettorch's ChunkedHMLP and calc_fix_target_reg."""

    def __init__(self, net, num_tasks: int):
        from hypnettorch.hnets import ChunkedHMLP
        from hypnettorch.utils import hnet_regularizer

        self.hreg, self.net, self.current = hnet_regularizer, net, num_tasks - 1
        shapes = [list(s) for s in (p.shape for p in net.parameters())]
        self.h = ChunkedHMLP(shapes, chunk_size=78_000, chunk_emb_size=8, layers=[25, 25],
                             activation_fn=torch.nn.ELU(), cond_in_size=24,
                             num_cond_embs=num_tasks, verbose=False)
        self.targets = hnet_regularizer.get_current_targets(self.current, self.h)
        params = list(self.h.unconditional_params) + [self.h.conditional_params[self.current]]
        self.opt = torch.optim.Adam(params, lr=LR)

    def held_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for task in self.targets for t in task)

    def step(self, x, y, lookahead: bool) -> None:
        self.opt.zero_grad()
        weights = self.h.forward(cond_id=self.current, ret_format="flattened")[0]
        loss = F.cross_entropy(forward_with_weights(self.net, weights, x), y)
        delta = None
        if lookahead:
            loss.backward(retain_graph=False)
            delta = adam_lookahead(self.opt, list(self.h.unconditional_params))
            loss = 0.0
        reg = self.hreg.calc_fix_target_reg(self.h, self.current, targets=self.targets,
                                            dTheta=delta) if self.current > 0 else 0.0
        (loss + BETA * reg).backward()
        self.opt.step()


def hypnettorch_available() -> bool:
    try:
        import hypnettorch.hnets  # noqa: F401
        import hypnettorch.utils.hnet_regularizer  # noqa: F401
    except ImportError:
        return False
    return True


def make_setup(net, method: str, num_tasks: int):
    if method == "hypnettorch":
        return HypnettorchSetup(net, num_tasks)
    return OursSetup(net, num_tasks, method)


def memory_probe(method: str, num_tasks: int, lookahead: bool) -> None:
    """Run in a fresh process: build, snapshot, two steps; print peak RSS in MB."""
    torch.manual_seed(0)
    net = build_target()
    setup = make_setup(net, method, num_tasks)
    x, y = torch.randn(BATCH, 1024), torch.randint(0, 10, (BATCH,))
    for _ in range(2):
        setup.step(x, y, lookahead)
    print(peak_rss_mb())


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (VmHWM; ru_maxrss where /proc is missing).

    ru_maxrss alone is not used on Linux: it survives exec, so a child started
    by a large parent would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="2,10,30,100", help="comma-separated task counts")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per configuration")
    parser.add_argument("--steps", type=int, default=7, help="timed steps per configuration")
    parser.add_argument("--lookahead", action="store_true", help="use the Adam lookahead Δθ")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-RSS probes")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's default, one per core)")
    parser.add_argument("--probe", nargs=2, metavar=("METHOD", "TASKS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.probe:
        memory_probe(args.probe[0], int(args.probe[1]), args.lookahead)
        return

    task_counts = [int(t) for t in args.tasks.split(",")]
    if any(t < 2 for t in task_counts):
        raise ValueError(f"--tasks must all be >= 2 (one old task at least), got {args.tasks}")
    methods = [m for m in METHODS if m != "hypnettorch" or hypnettorch_available()]
    load_start = os.getloadavg()[0]
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs "
          f"({platform.machine()}), load average {load_start:.1f}; "
          f"methods: {', '.join(methods)}; lookahead={args.lookahead}")

    torch.manual_seed(0)
    net = build_target()
    x, y = torch.randn(BATCH, 1024), torch.randint(0, 10, (BATCH,))
    setups = {(m, t): make_setup(net, m, t) for t in task_counts for m in methods}
    times = {key: [] for key in setups}
    order = list(setups)
    shuffler = random.Random(0)
    for round_ in range(args.warmup + args.steps):
        shuffler.shuffle(order)                     # interleaved: one step of each per round,
        for key in order:                           # in a new random order every round
            start = time.perf_counter()
            setups[key].step(x, y, args.lookahead)
            if round_ >= args.warmup:
                times[key].append(1000 * (time.perf_counter() - start))
    load_end = os.getloadavg()[0]
    step_ms = {m: {str(t): round(statistics.median(times[m, t]), 1) for t in task_counts}
               for m in methods}
    held_mb = {m: {str(t): round(setups[m, t].held_bytes() / 2**20, 2) for t in task_counts}
               for m in methods}
    del setups

    peak_mb = None
    if not args.no_memory:
        peak_mb = {m: {} for m in methods}
        for m in methods:
            for t in task_counts:
                cmd = [sys.executable, __file__, "--probe", m, str(t)]
                cmd += ["--lookahead"] if args.lookahead else []
                cmd += ["--threads", str(args.threads)] if args.threads else []
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                peak_mb[m][str(t)] = round(float(out.split()[-1]), 0)

    print(f"\n{'method':<12}{'tasks':>6}{'step ms':>10}{'held MB':>10}{'peak RSS MB':>13}")
    for m in methods:
        for t in task_counts:
            peak = "-" if peak_mb is None else f"{peak_mb[m][str(t)]:.0f}"
            print(f"{m:<12}{t:>6}{step_ms[m][str(t)]:>10.1f}{held_mb[m][str(t)]:>10.2f}{peak:>13}")

    lo, hi = str(min(task_counts)), str(max(task_counts))
    exact, ref = step_ms["exact"], step_ms["reference"]
    print(f"\nexact {hi} tasks / exact {lo} tasks: {exact[hi] / exact[lo]:.2f} (target <= 1.5)")
    print(f"reference / exact at {hi} tasks: {ref[hi] / exact[hi]:.1f}x (target >= 15)")
    print(f"held memory exact / reference at {hi} tasks: "
          f"{100 * held_mb['exact'][hi] / held_mb['reference'][hi]:.1f}% (target <= 5%)")
    print(json.dumps({
        "step_ms": {"exact": exact, "reference": ref,
                    "hypnettorch": step_ms.get("hypnettorch")},
        "peak_mb": peak_mb, "held_mb": held_mb,
        "config": {"tasks": task_counts, "warmup": args.warmup, "steps": args.steps,
                   "lookahead": args.lookahead, "threads": torch.get_num_threads(),
                   "load_average": [round(load_start, 2), round(load_end, 2)]},
    }))


if __name__ == "__main__":
    main()
