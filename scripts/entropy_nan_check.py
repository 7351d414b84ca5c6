"""Does the authors' entropy formula change HNET+ENT's task inference on a saved run?

The authors' code (chrhenning/hypercl, ``mnist/train_splitMNIST.test``) computes the
entropy as ``-(p * log p).sum()`` with ``p = softmax(logits)`` and no epsilon. When a
head's logit gap exceeds about 104, float32 softmax gives an exact 0, ``0 * log 0``
is NaN, and ``argmin`` returns the first NaN task. Ours (``inference.predictive_entropy``)
uses ``log_softmax`` and never gives NaN. This script loads a CL2/CL3 HNET run saved with
``--checkpoint`` and, on every test image of every task, compares the two rules: the
largest logit gap, how many images get a NaN entropy, how many are assigned another
task, and the average accuracy under each rule. The last printed line is one JSON object.

    python -m hnet_utils.run --benchmark split_mnist --method hnet --scenario 3 --checkpoint run.pt
    python scripts/entropy_nan_check.py run.pt
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from hnet_utils.continual.inference import all_task_logits, infer_task, pick
from hnet_utils.continual.training import make_benchmark_for, task_indices
from hnet_utils.experiments.results import load_run


def authors_rule(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, N, C) logits -> the authors' entropies (T, N), NaN where p underflows, and their argmin (N,)."""
    p = F.softmax(logits, dim=-1)
    entropy = -(p * torch.log(p)).sum(dim=-1)
    # torch.argmin over a column with NaN returns the first NaN, as it does per image in their loop
    return entropy, torch.stack([torch.argmin(entropy[:, i]) for i in range(entropy.shape[1])])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a run saved with --checkpoint (method hnet, scenario 2 or 3)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    stored = load_run(args.checkpoint)
    cfg = stored["config"]
    if cfg.method != "hnet" or cfg.scenario not in (2, 3):
        parser.error(f"checkpoint must hold an hnet run of scenario 2 or 3, got method={cfg.method!r}, "
                     f"scenario={cfg.scenario}")
    bench = make_benchmark_for(cfg)
    test_idx = task_indices(cfg, bench.tasks, "test")
    classes = bench.classes_per_task
    report = {"max_logit_gap": [], "nan_images": [], "other_task": [], "accuracy": {"ours": [], "authors": []}}
    with torch.no_grad():
        for t, task in enumerate(bench.tasks[:stored["num_learned"]]):
            x, y = task.batch("test", test_idx[t])
            logits = all_task_logits(stored["hnet"], stored["target"], x)      # (T, N, C)
            entropy, theirs = authors_rule(logits)
            ours = infer_task(logits)
            for name, tasks in (("ours", ours), ("authors", theirs)):
                labels = pick(logits, tasks).argmax(-1)
                correct = labels == y if cfg.scenario == 2 else tasks * classes + labels == y + t * classes
                report["accuracy"][name].append(100 * float(correct.float().mean()))
            gap = logits.max(-1).values - logits.min(-1).values
            report["max_logit_gap"].append(float(gap.max()))
            report["nan_images"].append(int(torch.isnan(entropy).any(dim=0).sum()))
            report["other_task"].append(int((ours != theirs).sum()))
            print(f"task {t + 1}: largest logit gap {gap.max():.1f}, images with a NaN entropy "
                  f"{report['nan_images'][-1]} of {len(y)}, assigned another task {report['other_task'][-1]}")
    for name, values in report["accuracy"].items():
        print(f"{name}: average accuracy {sum(values) / len(values):.2f} %")
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
