"""Studies: families of runs that answer one question, returned as plain data.

Each function runs several experiments with the engine
(:func:`hnet_utils.continual.training.train_continual`) or times one component,
and returns *plain data* (lists of dicts, ``pandas`` tables) that notebooks
print and plot (figures: :mod:`hnet_utils.viz.figures`). Nothing here trains
anything by itself.

* runs of several methods: :func:`compare_methods`, :func:`run_scenarios`;
* compression: :func:`compression_sweep` (accuracy against compression ratio);
* long task sequences: :func:`time_regularizer` (reference vs exact);
* stability/plasticity: :func:`beta_sweep`;
* published numbers beside ours: :func:`results_table` (the paper's numbers come from
  :mod:`hnet_utils.experiments.published`), :func:`load_result_if_present`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from hnet_utils import settings
from hnet_utils.continual.learners import build_hnet, build_target
from hnet_utils.continual.regularizer import OutputRegularizer
from hnet_utils.continual.training import train_continual
from hnet_utils.experiments.configs import ExperimentConfig, preset_config
from hnet_utils.experiments.plan import find_result
from hnet_utils.experiments.published import published_text
from hnet_utils.experiments.results import ContinualResult
from hnet_utils.networks.hypernet import count_parameters

def train_or_load(cfg: ExperimentConfig, benchmark=None, progress: bool = True,
                  recorded: Path | None = None) -> ContinualResult:
    """The run of ``cfg``: loaded from the folder ``recorded`` when a results file there holds
    exactly ``cfg`` (``plan.find_result``; made by ``python -m hnet_utils.reproduce``), else
    trained now. Says which, with the file. Loaded results carry no models."""
    if recorded is not None:
        path = find_result(cfg, recorded)
        if path is not None:
            result = ContinualResult.load(path)
            print(f"loaded {path.relative_to(settings.REPO_ROOT) if path.is_relative_to(settings.REPO_ROOT) else path} "
                  f"({result.wall_time_s / 60:.1f} min on {result.device}), not trained now")
            return result
        print(f"no recorded run of this configuration in {recorded}: training it now")
    return train_continual(cfg, benchmark=benchmark, progress=progress)


def compare_methods(base: ExperimentConfig, methods: Mapping[str, Mapping[str, Any]],
                    benchmark=None, progress: bool = True,
                    recorded: Path | None = None) -> dict[str, ContinualResult]:
    """Train one configuration per method on the same benchmark.

    Args:
        base: the shared configuration.
        methods: ``{label: overrides}``, e.g. ``{"HNET": {}, "EWC": {"method": "ewc"}}``.
        benchmark: a ready benchmark (built once from ``base`` when ``None``).
        recorded: a folder of recorded runs to load instead of training (:func:`train_or_load`).

    Returns:
        ``{label: ContinualResult}`` in the order of ``methods``.
    """
    if not methods:
        raise ValueError("methods must name at least one run, got an empty mapping")
    results = {}
    for label, overrides in methods.items():
        cfg = base.replace(**overrides)
        results[label] = train_or_load(cfg, benchmark, progress, recorded)
    return results


def run_scenarios(benchmark_name: str, preset: str, methods: Mapping[str, str],
                  scenarios: Sequence[int] = (1, 2, 3), fast: bool = False, benchmark=None,
                  progress: bool = True, **overrides: Any) -> dict[tuple[str, int], ContinualResult]:
    """Train every method of ``methods`` in every scenario, from one preset.

    Each run's configuration is ``preset_config(benchmark_name, preset, fast=fast,
    method=..., scenario=..., **overrides)``, so the preset's scenario-dependent
    EWC/SI strengths are used.

    Args:
        benchmark_name, preset: e.g. ``"split_mnist"``, ``"teaching"``.
        methods: ``{label: method}``, e.g. ``{"HNET": "hnet", "EWC": "ewc"}``.
        scenarios: scenarios to run (1, 2, 3).
        benchmark: a ready benchmark (built per run when ``None``).

    Returns:
        ``{(label, scenario): ContinualResult}`` (the input of :func:`results_table`).
    """
    if not methods:
        raise ValueError("methods must name at least one method, got an empty mapping")
    if not scenarios or any(s not in (1, 2, 3) for s in scenarios):
        raise ValueError(f"scenarios must be a non-empty subset of (1, 2, 3), got {tuple(scenarios)!r}")
    results = {}
    for s in scenarios:
        for label, method in methods.items():
            cfg = preset_config(benchmark_name, preset, fast=fast, method=method, scenario=s, **overrides)
            results[(label, s)] = train_continual(cfg, benchmark=benchmark, progress=progress)
    return results


# ---------------------------------------------------------------------------
# Compression
# ---------------------------------------------------------------------------


def target_num_weights(cfg: ExperimentConfig, input_shape: Sequence[int], classes_per_task: int) -> int:
    """Number of weights of the target network of ``cfg`` (as the engine builds it)."""
    net = build_target(cfg, tuple(input_shape), classes_per_task)
    return sum(p.numel() for p in net.parameters())


def hypernetwork_size(cfg: ExperimentConfig, input_shape: Sequence[int], classes_per_task: int) -> tuple[int, int]:
    """``(hypernetwork parameters with all cfg.num_tasks embeddings, target weights)`` of ``cfg``,
    from freshly built (untrained) models: only their sizes matter."""
    target = build_target(cfg, tuple(input_shape), classes_per_task)
    h = build_hnet(cfg, target)
    for _ in range(cfg.num_tasks):
        h.add_task()
    return count_parameters(h)["total"], sum(p.numel() for p in target.parameters())


def compression_sweep(base: ExperimentConfig, variants: Sequence[Mapping[str, Any]], benchmark=None,
                      progress: bool = True, recorded: Path | None = None) -> list[dict[str, Any]]:
    """Train the hypernetwork of ``base`` with several sizes; accuracy against compression.

    Args:
        base: an ``hnet`` configuration.
        variants: overrides per run, e.g. ``{"chunk_size": 2000, "hnet_hidden": (16, 16)}``.
        benchmark: a ready benchmark (built once from ``base`` when ``None``).

    Returns:
        One dict per variant: its overrides, ``hnet_params`` (trainable, with
        all task embeddings), ``target_params``, ``ratio`` (compression
        ratio), ``average_final`` (%), ``final`` and ``wall_time_s``.
    """
    if base.method != "hnet":
        raise ValueError(f"base.method must be 'hnet' for a compression sweep, got {base.method!r}")
    if not variants:
        raise ValueError("variants must contain at least one set of overrides, got none")
    rows = []
    for overrides in variants:
        cfg = base.replace(**overrides)
        result = train_or_load(cfg, benchmark, progress, recorded)
        hnet_params, target_params = hypernetwork_size(cfg, result.data["input_shape"],
                                                       result.data["classes_per_task"])
        rows.append({**dict(overrides), "hnet_params": hnet_params, "target_params": target_params,
                     "ratio": hnet_params / target_params, "average_final": result.average_final,
                     "final": result.final, "wall_time_s": result.wall_time_s})
    return rows


# ---------------------------------------------------------------------------
# Long task sequences: cost of the regulariser
# ---------------------------------------------------------------------------


def time_regularizer(cfg: ExperimentConfig, input_shape: Sequence[int], classes_per_task: int,
                     num_old_tasks: Sequence[int], methods: Sequence[str] = ("reference", "exact"),
                     repeats: int = 3, progress: bool = True) -> list[dict[str, Any]]:
    """Time one regulariser evaluation plus its backward pass against the number of old tasks.

    The hypernetwork of ``cfg`` is built for its target network (``input_shape``,
    ``classes_per_task``), given ``T + 1`` task embeddings, and the
    regulariser protects the first ``T``; this is what every training step of
    task ``T + 1`` pays on top of the task loss. Each point is the median of
    ``repeats`` timings after one warm-up call.

    Returns:
        One dict per (T, method): ``num_old_tasks``, ``method``, ``ms`` (median
        milliseconds), ``value`` (the regulariser, for checking both methods
        agree) and ``stored_mib`` (memory the regulariser keeps).
    """
    if cfg.method != "hnet":
        raise ValueError(f"cfg.method must be 'hnet', got {cfg.method!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if not num_old_tasks or any(not isinstance(t, int) or t < 1 for t in num_old_tasks):
        raise ValueError(f"num_old_tasks must be positive integers, got {list(num_old_tasks)!r}")
    rows = []
    torch.manual_seed(cfg.seed)
    target = build_target(cfg, tuple(input_shape), classes_per_task)
    for num_old in tqdm(list(num_old_tasks), desc="old tasks", disable=not progress):
        h = build_hnet(cfg, target)
        for _ in range(num_old + 1):
            h.add_task()
        regs = {}
        for method in methods:
            regs[method] = OutputRegularizer(h, beta=1.0, method=method)
            regs[method].snapshot(tasks=range(num_old))
        with torch.no_grad():  # move θ away from θ* so that the value is not zero
            for p in h.theta_parameters():
                p.add_(1e-3 * torch.randn_like(p))
        for method, reg in regs.items():
            times, value = [], None
            for i in range(repeats + 1):
                h.zero_grad(set_to_none=True)
                start = time.perf_counter()
                loss = reg()
                loss.backward()
                elapsed = time.perf_counter() - start
                if i > 0:
                    times.append(elapsed)
                value = float(loss.detach()) * num_old  # undo the 1/T average
            rows.append({"num_old_tasks": num_old, "method": method,
                         "ms": 1000 * float(np.median(times)), "value": value,
                         "stored_mib": reg.stored_bytes()["total"] / 2**20})
    return rows


# ---------------------------------------------------------------------------
# Stability / plasticity
# ---------------------------------------------------------------------------


def beta_sweep(base: ExperimentConfig, betas: Sequence[float], benchmark=None,
               progress: bool = True, recorded: Path | None = None) -> list[dict[str, Any]]:
    """Train the hypernetwork of ``base`` once per β.

    Returns:
        One dict per β: ``beta``, ``during`` (accuracy on each task right after
        learning it: plasticity), ``final`` (after all tasks: stability),
        ``average_during``, ``average_final`` and ``wall_time_s``.
    """
    if base.method != "hnet":
        raise ValueError(f"base.method must be 'hnet' for a β sweep, got {base.method!r}")
    if not betas:
        raise ValueError("betas must contain at least one value, got none")
    rows = []
    for beta in betas:
        result = train_or_load(base.replace(beta=float(beta)), benchmark, progress, recorded)
        rows.append({"beta": float(beta), "during": result.during, "final": result.final,
                     "average_during": float(np.mean(result.during)),
                     "average_final": result.average_final, "wall_time_s": result.wall_time_s})
    return rows


# ---------------------------------------------------------------------------
# Published numbers beside ours
# ---------------------------------------------------------------------------


def results_table(results: Mapping[tuple[str, int], ContinualResult], benchmark: str) -> pd.DataFrame:
    """Our average final accuracy beside the published one.

    Args:
        results: ``{(method label, scenario): ContinualResult}``; the label is
            shown, the method is read from the result's configuration.
        benchmark: whose published numbers to show
            (:data:`hnet_utils.experiments.published.PUBLISHED_TABLE1`).

    Returns:
        A table with one row per method label and, per scenario present,
        the columns ``"CL<s> ours"`` (%, our run) and ``"CL<s> paper"``
        (the paper's Table 1, recalled values marked "(recalled)"; "—" when
        the paper gives none, e.g. for fine-tuning).
    """
    if not results:
        raise ValueError("results must contain at least one run, got an empty mapping")
    scenarios = sorted({s for _, s in results})
    labels = list(dict.fromkeys(label for label, _ in results))
    table = {}
    for label in labels:
        row = {}
        for s in scenarios:
            result = results.get((label, s))
            row[f"CL{s} ours"] = round(result.average_final, 2) if result is not None else np.nan
            row[f"CL{s} paper"] = ("—" if result is None else
                                   published_text(benchmark, s, result.config["method"]))
        table[label] = row
    out = pd.DataFrame.from_dict(table, orient="index")
    out.index.name = "method"
    return out


def load_result_if_present(path: str | Path) -> ContinualResult | None:
    """The results file at ``path`` (relative to the repository root), or ``None`` if absent.

    A file that exists but is not a valid results file raises (it is never
    silently ignored).
    """
    path = Path(path)
    if not path.is_absolute():
        path = settings.REPO_ROOT / path
    return ContinualResult.load(path) if path.is_file() else None


