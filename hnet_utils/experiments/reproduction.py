"""The paper's Table 1 beside ours, built from the results files (notebook 06).

Everything here reads ``results/*.json`` (written by ``python -m hnet_utils.reproduce``
or ``python -m hnet_utils.run``); no number is typed in. The published values, each with its
source and whether it was verified from a primary source or recalled, come from
:data:`hnet_utils.experiments.published.PUBLISHED_TABLE1` (docs/method.md §5).

* :func:`load_results` reads a folder of results files;
* :func:`seed_groups` gathers the seeds of each planned configuration;
* :func:`table1` is the comparison (mean ± std over seeds, seeds, device, wall
  time, command), :func:`style_table1` colours it;
* :func:`compression_rows`, :func:`step_time_rows` feed the compression study
  and the regulariser's cost;
* :func:`results_of` and :func:`mean_std_text` read the seeds of one variant (e.g. the
  runs behind "what does not reproduce") and print their mean ± std;
* :func:`configuration_label` says how a run's configuration differs from the paper preset
  ("paper preset", "paper preset, but 500 steps per task (the paper's: 2,000), ...");
* :func:`target_lines` says, row by row of :func:`table1`, whether our mean reaches the
  paper's value;
* :func:`configuration_table` groups results files by configuration, each labelled
  (notebook 04's table of the replay runs).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hnet_utils.experiments import plan as planning
from hnet_utils.experiments.configs import ExperimentConfig, preset_config
from hnet_utils.experiments.published import method_label, published_for, published_text
from hnet_utils.experiments.results import ContinualResult


# --------------------------------------------------------------------- reading results


def load_results(folder: str | Path = planning.RESULTS_DIR) -> dict[str, ContinualResult]:
    """``{file name: ContinualResult}`` for every results JSON of ``folder`` (others skipped)."""
    out = {}
    for path in sorted(Path(folder).glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "matrix" in data:
            out[path.name] = ContinualResult.load(path)
    return out


def results_of(stem: str, folder: str | Path = planning.RESULTS_DIR) -> dict[int, ContinualResult]:
    """``{seed: result}`` of the files ``<stem>.json`` and ``<stem>_seed<N>.json`` of ``folder``
    (the seeds of one variant, as the results files are named), in seed order; empty when there
    are none. ``results_of("split_mnist_hnet_cl3_xavier")`` does not pick up
    ``split_mnist_hnet_cl3_xavier_per_task_heads.json``."""
    name = re.compile(re.escape(stem) + r"(_seed\d+)?\.json")
    found = [ContinualResult.load(path) for path in sorted(Path(folder).glob(f"{stem}*.json"))
             if name.fullmatch(path.name)]
    return {r.config["seed"]: r for r in sorted(found, key=lambda r: r.config["seed"])}


def mean_std_text(values: Sequence[float], places: int = 2, unit: str = " %") -> str:
    """``"67.23 ± 0.93 % over 3 seeds"``; one value: ``"84.97 % (1 seed)"``; none: ``"no runs"``."""
    if not values:
        return "no runs"
    mean, std = _mean_std(values)
    if std is None:
        return f"{mean:.{places}f}{unit} (1 seed)"
    return f"{mean:.{places}f} ± {std:.{places}f}{unit} over {len(values)} seeds"


@dataclass
class SeedGroup:
    """The finished seeds of one planned configuration (benchmark, method, scenario, tag)."""

    runs: list[planning.PlannedRun]        # the planned runs (one per seed)
    results: dict[int, ContinualResult]     # seed -> result, only runs that are done
    files: dict[int, str]                   # seed -> results file name

    @property
    def first(self) -> planning.PlannedRun:
        return self.runs[0]

    @property
    def values(self) -> list[float]:
        return [r.average_final for r in self.results.values()]

    @property
    def mean_std(self) -> tuple[float | None, float | None]:
        """Mean and standard deviation of :attr:`values` (None without results / one seed)."""
        return _mean_std(self.values)


def seed_groups(folder: str | Path = planning.RESULTS_DIR,
                seeds: Sequence[int] = tuple(range(10)),
                plan: Sequence[planning.PlannedRun] | None = None) -> list[SeedGroup]:
    """The plan's configurations with the results found for each seed, in plan order.

    A result counts only when its file holds exactly the planned configuration
    (:func:`~hnet_utils.experiments.plan.run_status` is ``"done"``); runs with
    other settings (e.g. the mosaic-outlier runs) are not part of Table 1.
    """
    folder = Path(folder)
    plan = planning.course_plan(seeds) if plan is None else plan
    groups: dict[tuple, SeedGroup] = {}
    for run in plan:
        key = (run.group, run.benchmark, run.method, run.scenario, run.tag)
        group = groups.setdefault(key, SeedGroup([], {}, {}))
        group.runs.append(run)
        if planning.run_status(run, folder) == "done":
            group.results[run.seed] = ContinualResult.load(folder / run.filename)
            group.files[run.seed] = run.filename
    return list(groups.values())


def command_for(result: ContinualResult, filename: str) -> str:
    """The command that reproduces one results file (``python -m hnet_utils.run ...``)."""
    from hnet_utils.run import config_to_argv

    return "python -m hnet_utils.run " + " ".join(
        config_to_argv(result.experiment_config) + ["--out", f"results/{filename}"])


def reproduce_command(run: planning.PlannedRun, seeds: Sequence[int]) -> str:
    """The ``python -m hnet_utils.reproduce`` command that (re)makes a group's runs."""
    return (f"python -m hnet_utils.reproduce --only {run.group} --methods {run.method} "
            f"--scenarios {run.scenario} --seeds {' '.join(str(s) for s in seeds)}")


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


#: Fields whose change is written as a number of steps or epochs per task.
_PER_TASK = {"iterations": "steps", "epochs": "epochs"}


def configuration_label(cfg: ExperimentConfig | Mapping[str, Any]) -> str:
    """How ``cfg`` differs from the ``paper`` preset of its benchmark, method and scenario:
    ``"paper preset"``, or ``"paper preset, but 500 steps per task (the paper's: 2,000),
    replay_weight=None"`` (fields the method does not read, and the device, are ignored)."""
    cfg = cfg if isinstance(cfg, ExperimentConfig) else ExperimentConfig.from_dict(dict(cfg))
    paper = preset_config(cfg.benchmark, "paper", method=cfg.method, scenario=cfg.scenario,
                          seed=cfg.seed)
    ours, theirs = planning.comparable(cfg.to_dict()), planning.comparable(paper.to_dict())
    parts = []
    for key, value in ours.items():
        if value == theirs.get(key):
            continue
        if key in _PER_TASK and isinstance(value, int) and isinstance(theirs.get(key), int):
            parts.append(f"{value:,} {_PER_TASK[key]} per task (the paper's: {theirs[key]:,})")
        else:
            parts.append(f"{key}={value}")
    return "paper preset" + (", but " + ", ".join(parts) if parts else "")


def table1(folder: str | Path = planning.RESULTS_DIR, benchmarks: Sequence[str] | None = None,
           include_missing: bool = True) -> pd.DataFrame:
    """Our average final accuracy per (benchmark, scenario, method) beside the paper's.

    One row per planned classification configuration of the plan's groups
    ``permuted_mnist`` and ``split_mnist`` (Table 1's benchmarks) unless
    ``benchmarks`` names other groups. Columns: ``benchmark``, ``scenario``,
    ``method``, ``ours mean`` and ``ours std`` (%, over seeds; std needs 2),
    ``seeds`` (which seeds are done), ``n``, ``published`` (float),
    ``published text``, ``status`` (verified/recalled), ``source``,
    ``reaches`` (ours mean >= published; None without both, and for a configuration other
    than the paper preset, where the paper's number is a yardstick, not a target), ``device``,
    ``wall time (min, mean)``, ``command`` (reproduce command for the group,
    then the single-run command of its first seed) and ``configuration``
    (:func:`configuration_label` of the planned run: ``"paper preset"`` for Table 1's rows).
    """
    benchmarks = ("permuted_mnist", "split_mnist") if benchmarks is None else benchmarks
    rows = []
    for group in seed_groups(folder):
        run = group.first
        if run.group not in benchmarks:
            continue
        if not group.results and not include_missing:
            continue
        mean, std = _mean_std(group.values)
        pub = published_for(run.benchmark, run.scenario, run.method)
        label = configuration_label(run.config())
        seeds = sorted(group.results)
        first = seeds[0] if seeds else None
        devices = sorted({r.device for r in group.results.values()})
        wall = [r.wall_time_s for r in group.results.values()]
        cmd = reproduce_command(run, sorted(set(planning.DEFAULT_SEEDS) | set(seeds)))
        if first is not None:
            cmd += "  |  " + command_for(group.results[first], group.files[first])
        rows.append({
            "benchmark": run.benchmark, "scenario": f"CL{run.scenario}",
            "method": method_label(run.method, run.scenario),
            "ours mean": mean, "ours std": std,
            "seeds": ", ".join(str(s) for s in seeds) or "none yet", "n": len(seeds),
            "published": None if pub is None else pub.value,
            "published text": "—" if pub is None else str(pub),
            "status": "—" if pub is None else pub.status,
            "source": "—" if pub is None else pub.source,
            "reaches": (None if pub is None or mean is None or label != "paper preset"
                        else bool(mean >= pub.value)),
            "device": "; ".join(devices) or "—",
            "wall time (min, mean)": (statistics.mean(wall) / 60) if wall else None,
            "command": cmd,
            "configuration": label,
        })
    return pd.DataFrame(rows)


def target_lines(table: pd.DataFrame) -> list[str]:
    """One line per row of :func:`table1` with runs and a published value: our mean ± std
    beside the paper's value and whether the target (our mean >= the paper's) is met, then
    one line that counts them. Rows of another configuration than the paper preset say so."""
    lines, met, missed = [], [], []
    for _, row in table.iterrows():
        if row["n"] == 0 or row["reaches"] is None or pd.isna(row["reaches"]):
            continue
        name = f"{row['benchmark']} {row['scenario']} {row['method']}"
        std = row["ours std"]
        ours = f"{row['ours mean']:.2f}" + ("" if std is None or pd.isna(std) else f" ± {std:.2f}")
        gap = row["ours mean"] - row["published"]
        (met if row["reaches"] else missed).append(name)
        config = row.get("configuration", "paper preset")
        where = "" if config == "paper preset" else f" [{config}: not the paper's configuration]"
        lines.append(f"{name}: ours {ours} % ({row['n']} seed{'s' if row['n'] != 1 else ''}), "
                     f"the paper's {row['published text']}: target "
                     f"{'met' if row['reaches'] else 'not met'} ({gap:+.2f} points){where}")
    not_run = int(((table["n"] == 0) & table["published"].notna()).sum())
    lines.append(f"targets met: {len(met)} of {len(met) + len(missed)} rows with runs; "
                 f"{not_run} row{'s' if not_run != 1 else ''} with a published value not run yet")
    return lines


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The columns of :func:`table1` a reader needs, with 'ours' as one text ``mean ± std``."""
    def ours(row) -> str:
        if row["ours mean"] is None or pd.isna(row["ours mean"]):
            return "not run"
        std = row["ours std"]
        return f"{row['ours mean']:.2f}" + ("" if std is None or pd.isna(std) else f" ± {std:.2f}")

    out = table[["benchmark", "scenario", "method"]].copy()
    out["ours (%), mean ± std"] = table.apply(ours, axis=1)
    out["n seeds"] = table["n"]
    out["published (%)"] = table["published text"]
    out["device"] = table["device"]
    out["wall time (min)"] = table["wall time (min, mean)"].map(
        lambda v: "—" if v is None or pd.isna(v) else f"{v:.1f}")
    out["reaches published"] = table["reaches"]
    if "configuration" in table:
        out["configuration"] = table["configuration"]
    return out


#: Cell colours: ours reaches the published value / does not / nothing to compare.
COLOURS = {True: "background-color: #c8e6c9", False: "background-color: #ffcdd2",
           None: "color: #777777"}


def style_table1(table: pd.DataFrame):
    """:func:`display_table` as a pandas ``Styler``: the 'ours' cell green when our mean reaches
    the published value, red when it does not, grey when there is nothing to compare."""
    shown = display_table(table)

    def colour(column: pd.Series) -> list[str]:
        return [COLOURS[None if pd.isna(r) else bool(r)] for r in table["reaches"]]

    return (shown.style.apply(colour, subset=["ours (%), mean ± std"])
            .hide(axis="index").hide(subset=["reaches published"], axis="columns"))


def configuration_table(pattern: str, methods: Sequence[str], folder: str | Path = planning.RESULTS_DIR,
                        exclude: Sequence[str] = ("outlier_weight",)) -> pd.DataFrame:
    """The results files of ``folder`` matching ``pattern`` (e.g. ``"split_mnist_*_cl[23]*.json"``)
    whose method is one of ``methods``, one row per (scenario, method, configuration): mean ±
    std of the average final accuracy over its seeds, the paper's value, the configuration
    (:func:`configuration_label`), whether the target is met (paper-preset rows only; other
    configurations get ``"—"``: the paper's number is a yardstick there) and the command of its
    first seed. Files that are no results file, and runs with a true value of a field in
    ``exclude`` (an addition of ours such as mosaic outliers), are skipped. Rows: by scenario,
    method (in the order of ``methods``), paper preset first."""
    groups: dict[tuple, list[tuple[str, ContinualResult]]] = {}
    for path in sorted(Path(folder).glob(pattern)):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "matrix" not in data or "config" not in data:
            continue
        r = ContinualResult.load(path)
        c = r.config
        if c.get("method") not in methods or any(c.get(k) for k in exclude):
            continue
        key = (c["benchmark"], c["scenario"], c["method"], configuration_label(c))
        groups.setdefault(key, []).append((path.name, r))

    def order(key):
        return (key[1], list(methods).index(key[2]), key[3] != "paper preset", key[3])

    rows = []
    for key in sorted(groups, key=order):
        benchmark, scenario, method, label = key
        items = sorted(groups[key], key=lambda item: item[1].config["seed"])
        mean, std = _mean_std([r.average_final for _, r in items])
        pub = published_for(benchmark, scenario, method)
        met = "—" if pub is None or label != "paper preset" else ("yes" if mean >= pub.value else "no")
        name, first = items[0]
        rows.append({"scenario": f"CL{scenario}", "method": method_label(method, scenario),
                     "ours (%)": f"{mean:.2f}" + ("" if std is None else f" ± {std:.2f}"),
                     "seeds": ", ".join(str(r.config["seed"]) for _, r in items),
                     "paper (%)": published_text(benchmark, scenario, method),
                     "configuration": label, "target met": met,
                     "command (first seed)": command_for(first, name)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------- compression, step times


def compression_rows(results: Mapping[str, ContinualResult]) -> list[dict[str, Any]]:
    """For every HNET result: the compression ratio of its hypernetwork (all parameters with
    the task embeddings, over the target's weights) and its average final accuracy.

    The models are rebuilt from the stored configuration (untrained: only their sizes matter).
    """
    from hnet_utils.experiments.studies import hypernetwork_size

    rows, seen = [], {}
    for name, r in results.items():
        cfg = r.experiment_config
        if cfg.method != "hnet" or r.metric != "accuracy" or r.data is None:
            continue
        arch = json.dumps({k: v for k, v in r.config.items() if k in (
            "benchmark", "num_tasks", "target_hidden", "target", "hnet_type", "embedding_dim",
            "chunk_embedding_dim", "chunk_size", "hnet_hidden")}, sort_keys=True)
        if arch not in seen:
            seen[arch] = hypernetwork_size(cfg, r.data["input_shape"], r.data["classes_per_task"])
        total, n = seen[arch]
        rows.append({"file": name, "benchmark": cfg.benchmark, "scenario": cfg.scenario,
                     "num_tasks": cfg.num_tasks, "hnet_params": total, "target_params": n,
                     "ratio": total / n, "average_final": r.average_final})
    return rows


def step_time_rows(folder: str | Path = planning.RESULTS_DIR) -> list[dict[str, Any]]:
    """Measured ms per step from the ``*step_time*.json`` files of
    ``scripts/speed/measure_step_time.py``: task 1 (no regulariser) against task 2
    (regulariser or penalty active), so their difference is the regulariser's cost."""
    rows = []
    for path in sorted(Path(folder).glob("*step_time*.json")):
        data = json.loads(path.read_text())
        if "full_config" not in data:
            continue
        t1, t2 = list(data["ms_per_step"].values())[:2]
        cfg = data["full_config"]
        rows.append({"file": path.name, "benchmark": cfg["benchmark"], "method": cfg["method"],
                     "device": data["device"], "ms task 1": t1, "ms task 2 (regulariser on)": t2,
                     "regulariser share (%)": 100 * (t2 - t1) / t2})
    return rows
