"""Write the tables of results/README.md from the JSON files in results/.

Every measured number in those tables comes from a results JSON written by
``python -m hnet_utils.run --out ...``; nothing is typed by hand. The published
column comes from the project's one table of the paper's numbers,
``hnet_utils.experiments.published`` (recalled values marked). The command
shown for each run is rebuilt from the configuration stored in its JSON
(``hnet_utils.run.config_to_argv``), so it reproduces that run.

    python scripts/make_tables.py           # rewrite the tables in results/README.md
    python scripts/make_tables.py --check   # exit 1 if the README is out of date

The tables sit between ``<!-- BEGIN name -->`` and ``<!-- END name -->``
markers in the README; text outside the markers is left alone.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from hnet_utils import settings
from hnet_utils.experiments.configs import fields_in_use, preset_config
from hnet_utils.experiments.results import ContinualResult
from hnet_utils.experiments.published import published_text
from hnet_utils.run import config_to_argv

RESULTS_DIR = settings.REPO_ROOT / "results"
README = RESULTS_DIR / "README.md"
METHOD_LABELS = {"finetune": "fine-tuning", "scratch": "from scratch", "multitask": "multitask",
                 "ewc": "EWC", "online_ewc": "online EWC", "si": "SI",
                 "hnet_tir": "HNET+TIR", "hnet_r": "HNET+R", "dgr": "DGR+distill"}
METHOD_ORDER = ["hnet", "hnet_tir", "hnet_r", "dgr", "finetune", "scratch", "multitask", "ewc",
                "online_ewc", "si"]


def load_runs(folder: Path = RESULTS_DIR) -> dict[str, ContinualResult]:
    """``{file name: result}`` for every results JSON in ``folder`` (other JSON files are skipped)."""
    runs = {}
    for path in sorted(folder.glob("*.json")):
        if "matrix" in json.loads(path.read_text()):
            runs[path.name] = ContinualResult.load(path)
    return runs


def method_label(result: ContinualResult) -> str:
    """'HNET' (task id given), 'HNET+ENT' (task inferred) or the baseline's name."""
    cfg = result.config
    if cfg["method"] == "hnet":
        return "HNET" if cfg["scenario"] == 1 else "HNET+ENT"
    return METHOD_LABELS[cfg["method"]]


#: The preset a benchmark's runs are described against (default "paper"): the CIFAR substitute's
#: runs are teaching runs (notebook 05), so their table cells list changes from that preset.
REFERENCE_PRESET = {"split_cifar10_substitute": "teaching"}


def reference_preset(result: ContinualResult) -> str:
    return REFERENCE_PRESET.get(result.config["benchmark"], "paper")


def changes_from_paper(result: ContinualResult) -> list[str]:
    """``["field=value", ...]`` for the fields where the run left its reference preset (seed aside)."""
    cfg = result.experiment_config
    reference = preset_config(cfg.benchmark, reference_preset(result), method=cfg.method,
                              scenario=cfg.scenario, seed=cfg.seed)
    wanted = reference.to_dict()
    return [f"{k}={v}" for k, v in fields_in_use(cfg.to_dict()).items() if v != wanted[k]]


def is_paper_config(result: ContinualResult) -> bool:
    """True if the run used the paper preset unchanged (any seed)."""
    return reference_preset(result) == "paper" and not changes_from_paper(result)


def configuration(result: ContinualResult) -> str:
    """'paper' (or 'teaching') or the changes from that preset, for a table cell."""
    changes = changes_from_paper(result)
    name = reference_preset(result)
    return name if not changes else f"{name}, but " + ", ".join(changes)


def cifar_table(runs: dict[str, ContinualResult]) -> str:
    """The CIFAR substitute (notebook 05): per method, accuracy right after learning each task
    ("during") and after the last task ("final"), the loss on task 1 and the forward transfer."""
    chosen = {n: r for n, r in runs.items() if r.config["benchmark"] == "split_cifar10_substitute"}
    lines = ["| method | seed | during: task 1 … 6 (%) | final: task 1 … 6 (%) | task 1 lost "
             "(points) | during, mean of tasks 2–6 (%) | wall time | data |", "|" + "---|" * 8]
    for name, r in sorted(chosen.items(), key=sort_key):
        changes = changes_from_paper(r)
        label = method_label(r) + (f" ({', '.join(changes)})" if changes else "")
        during = " / ".join(f"{v:.1f}" for v in r.during)
        final = " / ".join(f"{v:.1f}" for v in r.final)
        later = statistics.mean(r.during[1:]) if len(r.during) > 1 else float("nan")
        lines.append(f"| {label} | {r.config['seed']} | {during} | {final} | "
                     f"{r.during[0] - r.final[0]:.1f} | {later:.1f} | {wall_time(r.wall_time_s)} | "
                     f"{r.data['label']} |")
    return "\n".join(lines)


def command(result: ContinualResult, name: str) -> str:
    """The command line that reproduces ``result`` (written to results/``name``)."""
    argv = config_to_argv(result.experiment_config)
    threads = re.search(r"\((\d+) threads?\)", result.device)
    if threads:
        argv += ["--threads", threads.group(1)]
    return "python -m hnet_utils.run " + " ".join(argv + ["--no-progress", "--out", f"results/{name}"])


def wall_time(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def sort_key(item: tuple[str, ContinualResult]):
    name, r = item
    c = r.config
    return (c["benchmark"], c["scenario"], METHOD_ORDER.index(c["method"]), not is_paper_config(r),
            c["seed"], name)


def places(result: ContinualResult, accuracy_places: int) -> int:
    """Decimal places for ``result``'s metric: MSEs of the regression toy need 4."""
    return 4 if result.metric == "mse" else accuracy_places


def runs_table(runs: dict[str, ContinualResult]) -> str:
    """One row per run: accuracies, backward transfer, task inference, time, command."""
    lines = ["| benchmark | scenario | method | seed | configuration | ours: average final "
             "accuracy (%) or MSE | published (paper's Table 1) | ours: final accuracy per task (%) or MSE | "
             "backward transfer | task inferred right (%) | wall time | device | command |",
             "|" + "---|" * 13]
    for name, r in sorted(runs.items(), key=sort_key):
        c = r.config
        paper = is_paper_config(r)
        published = published_text(c["benchmark"], c["scenario"], c["method"]) if paper else ""
        inferred = ("—" if r.task_inference_accuracy is None
                    else f"{r.average_task_inference_accuracy:.2f}")
        k = places(r, 2)
        per_task = " / ".join(f"{v:.{places(r, 1)}f}" for v in r.final)
        lines.append(
            f"| {c['benchmark']} | CL{c['scenario']} | {method_label(r)} | {c['seed']} | "
            f"{configuration(r)} | **{r.average_final:.{k}f}** | {published} | {per_task} | "
            f"{r.backward_transfer:+.{k}f} | {inferred} | {wall_time(r.wall_time_s)} | {r.device} | "
            f"`{command(r, name)}` |")
    return "\n".join(lines)


def seeds_table(runs: dict[str, ContinualResult]) -> str:
    """Mean ± standard deviation over seeds for every configuration run with several seeds."""
    groups: dict[str, list[ContinualResult]] = {}
    for _, r in sorted(runs.items(), key=sort_key):
        # the configuration completed with the defaults of fields added after older files
        # were written (e.g. outlier_weight), so that those files group with newer seeds
        full = r.experiment_config.to_dict()
        key = json.dumps({k: v for k, v in full.items() if k != "seed"}, sort_keys=True)
        groups.setdefault(key, []).append(r)
    lines = ["| benchmark | scenario | method | configuration | seeds | ours: average final "
             "accuracy (%) or MSE, mean ± std | published (paper's Table 1) | task inferred right (%), "
             "mean ± std |", "|" + "---|" * 8]
    for group in groups.values():
        if len(group) < 2:
            continue
        r, c = group[0], group[0].config
        paper = is_paper_config(r)
        published = published_text(c["benchmark"], c["scenario"], c["method"]) if paper else ""
        acc, k = [g.average_final for g in group], places(r, 2)
        inferred = "—"
        if r.task_inference_accuracy is not None:
            ti = [g.average_task_inference_accuracy for g in group]
            inferred = f"{statistics.mean(ti):.2f} ± {statistics.stdev(ti):.2f}"
        seeds = ", ".join(str(g.config["seed"]) for g in group)
        lines.append(f"| {c['benchmark']} | CL{c['scenario']} | {method_label(r)} | "
                     f"{configuration(r)} | {seeds} | "
                     f"**{statistics.mean(acc):.{k}f} ± {statistics.stdev(acc):.{k}f}** | {published} "
                     f"| {inferred} |")
    return "\n".join(lines)


def fill(text: str, name: str, table: str) -> str:
    """``text`` with the block between the ``name`` markers replaced by ``table``."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    if begin not in text or end not in text:
        raise ValueError(f"README has no '{begin}' ... '{end}' block")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}\n{end}{tail}"


def render(text: str, runs: dict[str, ContinualResult]) -> str:
    """The README ``text`` with both tables rebuilt from ``runs``."""
    text = fill(fill(text, "runs", runs_table(runs)), "seeds", seeds_table(runs))
    return fill(text, "cifar", cifar_table(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if results/README.md is out of date")
    args = parser.parse_args(argv)
    text = README.read_text()
    new = render(text, load_runs())
    if args.check:
        if new != text:
            print("results/README.md is out of date: run python scripts/make_tables.py")
            return 1
        print("results/README.md matches the JSON files")
        return 0
    README.write_text(new)
    print(f"wrote the tables of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
