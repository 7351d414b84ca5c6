"""Time of one training step of the hypernetwork learner in the real training loop.

For the PermutedMNIST-10 and SplitMNIST paper configurations (CL1, method
"hnet", exact regulariser with the Adam lookahead) the learner is built with
the engine's own pieces (``hnet_utils.continual.training``: benchmark, learner, batch
sampler, batch building) and three steps are timed, interleaved in one run
(one of each per round, in a new random order every round, so that all see the
same machine load):

  plain        a step of task 1: no regulariser
  regularised  a step of task 1 + ``--old-tasks``: exact regulariser + lookahead
  isolated     the same regulariser and lookahead on a standalone hypernetwork
               and target with a fixed random batch (as ``regularizer_scaling.py``)

Also timed: the evaluation of one task on its test set (``evaluate_task``),
used for the estimate of a full paper run (all training steps plus the
evaluation of every learned task after each task).

Without the MNIST mirror or cache the engine falls back to the shipped subset;
step times do not depend on the data, evaluation times are scaled to the full
test set. The last line printed is one JSON object.

    python scripts/speed/train_step.py                      # 1 thread, 20 timed rounds
    python scripts/speed/train_step.py --rounds 5 --warmup 2 --benchmarks split_mnist
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from hnet_utils.continual import learners, training
from hnet_utils.continual.regularizer import OutputRegularizer, adam_lookahead
from hnet_utils.experiments.configs import preset_config
from hnet_utils.networks.targets import forward_with_weights
from timing import interleaved_ms

#: test images per task of the full datasets (for the evaluation estimate)
FULL_TEST_SIZE = {"permuted_mnist": 10_000, "split_mnist": 2_000}


class EngineSetup:
    """A learner of ``cfg`` built as ``train_continual`` builds it, at task ``task``."""

    def __init__(self, cfg, benchmark, task: int):
        self.cfg, self.task = cfg, task
        self.device = torch.device("cpu")
        self.tasks = benchmark.tasks[:cfg.num_tasks]
        gen = torch.Generator().manual_seed(cfg.seed)
        self.train_idx = [training.subset_indices(t.num_samples("train"), cfg.train_subset, i)
                          for i, t in enumerate(self.tasks)]
        self.learner = training.make_learner(cfg, benchmark, self.device, gen, self.train_idx)
        self.sampler = training.BatchSampler(self.train_idx[task], cfg.batch_size, gen)
        for t in range(task + 1):                 # earlier tasks: embedding + snapshot only
            if t:
                self.learner.end_task(t - 1)
            self.learner.start_task(t)

    def step(self) -> None:
        x, y = self.tasks[self.task].batch("train", self.sampler.next())
        self.learner.step([(self.task, x.to(self.device), y.to(self.device))], self.task + 1)


class IsolatedSetup:
    """The regularised step on a standalone hypernetwork and target, random batch."""

    def __init__(self, cfg, benchmark, old_tasks: int, like: torch.optim.Optimizer):
        self.target = learners.build_target(cfg, tuple(benchmark.input_shape),
                                            benchmark.classes_per_task)
        self.h = learners.build_hnet(cfg, self.target)
        for _ in range(old_tasks + 1):
            self.h.add_task()
        self.current = old_tasks
        self.head = old_tasks if getattr(cfg, "hnet_heads", "shared") == "per_task" else None
        self.reg = OutputRegularizer(self.h, cfg.beta, method=cfg.regularizer)
        self.reg.snapshot(tasks=range(old_tasks))
        params = self.h.theta_parameters() + [self.h.task_embedding(self.current)]
        options = {k: like.defaults[k] for k in ("fused", "foreach") if k in like.defaults}
        self.opt = torch.optim.Adam(params, lr=cfg.lr, **options)
        gen = torch.Generator().manual_seed(0)
        self.x = torch.rand(cfg.batch_size, *benchmark.input_shape, generator=gen)
        self.y = torch.randint(0, benchmark.classes_per_task, (cfg.batch_size,), generator=gen)
        # reuse the lookahead's tensors where this version of adam_lookahead can
        self.buffers = {} if "buffers" in inspect.signature(adam_lookahead).parameters else None

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        weights = self.h(task_id=self.current)
        F.cross_entropy(forward_with_weights(self.target, weights, self.x, self.head), self.y).backward()
        theta = self.h.theta_parameters()
        delta = (adam_lookahead(self.opt, theta) if self.buffers is None
                 else adam_lookahead(self.opt, theta, self.buffers))
        self.reg(delta).backward()
        self.opt.step()


def eval_ms(setup: EngineSetup, benchmark, repeats: int) -> tuple[float, int]:
    """Median time of ``evaluate_task`` on task 1's whole test set, and its size."""
    learner, cfg = setup.learner, setup.cfg
    test_idx = torch.arange(benchmark.tasks[0].num_samples("test"))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        training.evaluate_task(learner, benchmark, 0, setup.task + 1, test_idx, cfg.scenario,
                               cfg.eval_batch_size, setup.device)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), len(test_idx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmarks", nargs="+", default=["permuted_mnist", "split_mnist"])
    parser.add_argument("--old-tasks", type=int, default=1,
                        help="old tasks protected in the regularised step (exact: cost flat)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--hnet-heads", default=None, choices=["shared", "per_task"],
                        help="override the preset's output heads (default: the paper preset's; "
                             "'shared' compares with code from before the field existed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")

    setups, benches, cfgs = {}, {}, {}
    for name in args.benchmarks:
        heads = {} if args.hnet_heads is None else {"hnet_heads": args.hnet_heads}
        cfg = preset_config(name, "paper", method="hnet", scenario=1, **heads).replace(device="cpu")
        benches[name] = bench = training.make_benchmark_for(cfg)
        cfgs[name] = cfg
        print(f"# {name}: data {bench.source!r} ({bench.tasks[0].num_samples('train')} training "
              f"images per task)")
        reg = EngineSetup(cfg, bench, task=args.old_tasks)
        setups[name, "plain"] = EngineSetup(cfg, bench, task=0)
        setups[name, "regularised"] = reg
        setups[name, "isolated"] = IsolatedSetup(cfg, bench, args.old_tasks, reg.learner.optimizer)

    medians = interleaved_ms({key: setup.step for key, setup in setups.items()}, args.warmup, args.rounds)
    step_ms = {name: {kind: round(medians[name, kind], 2) for kind in ("plain", "regularised", "isolated")}
               for name in args.benchmarks}

    estimate = {}
    print(f"\n{'benchmark':<16}{'plain':>8}{'reg.':>8}{'isol.':>8}{'reg/plain':>11}{'reg/isol':>10}"
          f"{'eval s':>8}{'run min':>9}")
    for name in args.benchmarks:
        cfg, ms = cfgs[name], step_ms[name]
        eval_task_ms, n_test = eval_ms(setups[name, "regularised"], benches[name], repeats=3)
        eval_task_s = eval_task_ms / 1000 * FULL_TEST_SIZE[name] / n_test
        K = cfg.num_tasks
        train_s = cfg.iterations * (ms["plain"] + (K - 1) * ms["regularised"]) / 1000
        evals = K * (K + 1) // 2                  # after task t: tasks 1..t
        estimate[name] = {"train_s": round(train_s, 1), "eval_s": round(evals * eval_task_s, 1),
                          "total_min": round((train_s + evals * eval_task_s) / 60, 2)}
        print(f"{name:<16}{ms['plain']:>8.2f}{ms['regularised']:>8.2f}{ms['isolated']:>8.2f}"
              f"{ms['regularised'] / ms['plain']:>11.2f}{ms['regularised'] / ms['isolated']:>10.2f}"
              f"{eval_task_s:>8.2f}{estimate[name]['total_min']:>9.1f}")
    print(json.dumps({"step_ms": step_ms, "threads": torch.get_num_threads(),
                      "estimated_paper_run": estimate,
                      "config": {"old_tasks": args.old_tasks, "warmup": args.warmup,
                                 "rounds": args.rounds,
                                 "hnet_heads": getattr(cfgs[args.benchmarks[0]], "hnet_heads", "shared"),
                                 "load_average": os.getloadavg()[0]}}))


if __name__ == "__main__":
    main()
