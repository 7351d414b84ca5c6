"""Why does PermutedMNIST CL3 HNET+R forget tasks 3-9 at once (issue 28 §3)?

Trains HNET+R (or DGR) at teaching size on a few PermutedMNIST tasks and, after each task,
asks three questions of every earlier task j:

- real: the classifier's accuracy on task j's real test images (the run's number);
- fake->task: on the generator's samples of task j, the share the classifier puts into task
  j's block of classes (does it still know which task a replayed sample belongs to?);
- fake agree: on those samples, the share where the classifier's class equals the class
  the teacher (the classifier before this task) gave them (does distillation hold?).

    python investigations/permuted_mnist_replay/diagnose.py --tasks 4 --iterations 500

Last printed line: one JSON object with the three numbers per task after the last task.
"""

from __future__ import annotations

import argparse
import json

import torch

from hnet_utils.continual.training import train_continual
from hnet_utils.experiments.configs import preset_config


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--method", default="hnet_r", choices=("hnet_r", "dgr"))
    parser.add_argument("--scenario", type=int, default=3, choices=(2, 3))
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replay-beta", type=float, default=None,
                        help="override the generator's regulariser strength (preset: 0.1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = preset_config("permuted_mnist", "teaching", method=args.method, scenario=args.scenario,
                        num_tasks=args.tasks, iterations=args.iterations, seed=args.seed,
                        test_subset=2000,
                        **({} if args.replay_beta is None else {"replay_beta": args.replay_beta}))
    report = {}

    def after_task(state):
        if state.event != "task_end" or state.task == 0:
            return
        learner, t = state.learner, state.task
        C = learner.classes
        rows = {}
        with torch.no_grad():
            for j in range(t + 1):  # j == t: the current task's samples, just learned
                fake = learner.generator.sample([j], args.samples)[0]              # (n, D)
                logits = learner._logits(fake, t + 1)
                pred = logits.argmax(-1)
                in_block = ((pred // C) == j).float().mean().item() if args.scenario == 3 else None
                teacher = learner.teacher(fake)[:, :t * C] if args.scenario == 3 else learner.teacher(fake)
                agree = (pred == teacher.argmax(-1)).float().mean().item() if j < t else float("nan")
                real = state.benchmark.tasks[j].batch("test", torch.arange(args.samples))[0]
                similar = [torch.nn.functional.cosine_similarity(
                    fake.mean(0), state.benchmark.tasks[k].batch("test", torch.arange(args.samples))[0].mean(0),
                    dim=0).item() for k in range(t + 1)]
                rows[j + 1] = {"real": round(state.matrix[t][j], 1),
                               "mean image most like task": 1 + max(range(t + 1), key=similar.__getitem__),
                               "fake->task": None if in_block is None else round(100 * in_block, 1),
                               "fake agree": round(100 * agree, 1)}
        print(f"after task {t + 1}: " + "; ".join(
            f"task {j}: real {r['real']}, fake->task {r['fake->task']}, agree {r['fake agree']}, "
            f"looks like task {r['mean image most like task']}"
            for j, r in rows.items()), flush=True)
        report[t + 1] = rows

    train_continual(cfg, callback=after_task, callback_every=10**9, progress=False)
    print(json.dumps({"config": {"method": args.method, "scenario": args.scenario,
                                 "tasks": args.tasks, "iterations": args.iterations},
                      "after_last_task": report.get(args.tasks)}))
    return report


if __name__ == "__main__":
    main()
