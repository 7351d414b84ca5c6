"""A training step of the hypernetwork-generated CIFAR network against the plain network.

For ResNet-32 (and the Zenke net) in the paper's Split CIFAR configuration
(``--preset paper`` / ``paper_zenke`` of ``split_cifar10_substitute``: the same
networks and batch size as Split CIFAR-10/100), the learners are built with
the engine (``training.make_learner``) and three steps are timed, interleaved
in one run (one of each per round, in a new random order every round, so that
all see the same machine load), on the same augmented training batch:

  plain        fine-tuning: an Adam step of the ``nn.Module`` itself
  hnet         HNET, task 1: generate the weights with the chunked hypernetwork,
               forward/backward through ``functional_call``, Adam on the hypernetwork
  regularised  HNET, task 2: the same plus the exact output regulariser and lookahead

Also timed: evaluating all seen tasks (6) of HNET on 500 test images each, with
per-task batch-norm statistics (one weight generation per task, no network
rebuilt per batch). Without the CIFAR-10 mirror or cache the shipped subset is
used; step times do not depend on the data. The last line printed is one JSON
object.

    python scripts/speed/cifar_step.py                    # 1 thread, ResNet-32 and Zenke
    python scripts/speed/cifar_step.py --targets resnet32 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from hnet_utils.continual import training
from hnet_utils.data.augment import random_crop_flip
from hnet_utils.experiments.configs import preset_config
from timing import interleaved_ms

PRESETS = {"resnet32": "paper", "zenke": "paper_zenke"}


class Setup:
    """A learner of ``method`` built as ``train_continual`` builds it, at task ``task``."""

    def __init__(self, cfg, benchmark, task: int, x: torch.Tensor, y: torch.Tensor):
        self.task, self.x, self.y = task, x, y
        gen = torch.Generator().manual_seed(0)
        idx = [torch.arange(t.num_samples("train")) for t in benchmark.tasks[:cfg.num_tasks]]
        self.learner = training.make_learner(cfg, benchmark, torch.device("cpu"), gen, idx)
        for t in range(task + 1):
            if t:
                self.learner.end_task(t - 1)
            self.learner.start_task(t)

    def step(self) -> None:
        self.learner.step([(self.task, self.x, self.y)], self.task + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", nargs="+", default=["resnet32", "zenke"], choices=list(PRESETS))
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds")
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    bench = training.make_benchmark_for(preset_config("split_cifar10_substitute", "paper"))
    print(f"# data: {bench.data_label} ({bench.source})")

    setups, cfgs = {}, {}
    for target in args.targets:
        cfg = preset_config("split_cifar10_substitute", PRESETS[target], device="cpu")
        cfgs[target] = cfg
        x, y = bench.tasks[0].batch("train", torch.arange(cfg.batch_size))
        x = random_crop_flip(x)
        x1, y1 = bench.tasks[1].batch("train", torch.arange(cfg.batch_size))
        setups[target, "plain"] = Setup(cfg.replace(method="finetune"), bench, 0, x, y)
        setups[target, "hnet"] = Setup(cfg, bench, 0, x, y)
        setups[target, "regularised"] = Setup(cfg, bench, 1, random_crop_flip(x1), y1)

    medians = interleaved_ms({key: setup.step for key, setup in setups.items()}, args.warmup, args.rounds)
    step_ms = {t: {kind: round(medians[t, kind], 1) for kind in ("plain", "hnet", "regularised")}
               for t in args.targets}

    eval_ms = {}
    for target in args.targets:   # all 6 tasks' embeddings, 500 test images each
        cfg = cfgs[target]
        learner = Setup(cfg, bench, 5, None, None).learner
        learner.end_task(5)
        start = time.perf_counter()
        for task in range(6):
            idx = torch.arange(min(500, bench.tasks[task].num_samples("test")))
            training.evaluate_task(learner, bench, task, 6, idx, 1, cfg.eval_batch_size, torch.device("cpu"))
        eval_ms[target] = round(1000 * (time.perf_counter() - start), 1)

    print(f"\n{'target':<10}{'plain ms':>10}{'hnet ms':>10}{'reg. ms':>10}{'hnet/plain':>12}"
          f"{'reg/plain':>11}{'eval 6x500 s':>14}")
    for t in args.targets:
        ms = step_ms[t]
        print(f"{t:<10}{ms['plain']:>10.1f}{ms['hnet']:>10.1f}{ms['regularised']:>10.1f}"
              f"{ms['hnet'] / ms['plain']:>12.2f}{ms['regularised'] / ms['plain']:>11.2f}"
              f"{eval_ms[t] / 1000:>14.2f}")
    print(json.dumps({"step_ms": step_ms,
                      "hnet_over_plain": {t: round(step_ms[t]["hnet"] / step_ms[t]["plain"], 3)
                                          for t in args.targets},
                      "eval_6_tasks_ms": eval_ms, "threads": torch.get_num_threads(),
                      "batch_size": {t: cfgs[t].batch_size for t in args.targets},
                      "config": {"warmup": args.warmup, "rounds": args.rounds,
                                 "load_average": os.getloadavg()[0]}}))


if __name__ == "__main__":
    main()
