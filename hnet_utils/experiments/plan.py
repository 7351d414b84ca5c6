"""The course's results as data: every planned run, whether it is done, how long it takes.

A :class:`PlannedRun` is one run of the course's results (benchmark, method,
scenario, seed, preset, overrides): it knows its
:class:`~hnet_utils.experiments.configs.ExperimentConfig` and the results file
it writes (named like the files already in ``results/``:
``split_mnist_hnet_cl3_seed1.json``; seed 0 has no suffix). :func:`course_plan`
lists them all; :func:`run_status` says whether one is done (its JSON exists
and holds the same configuration) and :func:`estimate_seconds` how long it
should take on this machine, from measured step times.

``python -m hnet_utils.reproduce`` runs the plan (see that module).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hnet_utils import settings
from hnet_utils.experiments.configs import (METHODS, REPLAY_METHODS, ExperimentConfig, fields_in_use,
                                            preset_config)

#: Where the course's results live (``results/*.json``).
RESULTS_DIR = settings.REPO_ROOT / "results"
#: Measured milliseconds per training step, per benchmark and method (see :func:`measure_step_ms`).
STEP_TIMES_FILE = "step_times.json"
#: Seeds of every planned run unless asked otherwise (the issue asks for at least 3).
DEFAULT_SEEDS = (0, 1, 2)

#: Methods compared on the MNIST benchmarks, in the order of the paper's Table 1.
#: Replay methods join the plan as soon as the package defines them.
MNIST_METHODS = ("hnet", "finetune", "ewc", "online_ewc", "si", "hnet_tir", "hnet_r", "dgr")
#: The regression toy problem: the paper's comparison (docs/method.md §4).
REGRESSION_METHODS = ("hnet", "finetune", "scratch", "multitask")
#: Split CIFAR-10/100: HNET against fine-tuning and training each task from scratch.
CIFAR_METHODS = ("hnet", "finetune", "scratch")
#: The hypernetwork without its regulariser, beside them on the CIFAR substitute (notebook 05).
NO_REGULARISER = dict(beta=0.0)

#: Where the runs that notebooks load instead of training live (a sub-folder of results/):
#: notebook 02's full mode would take half an hour on a laptop CPU if it trained them all.
NOTEBOOK_FOLDER = "notebooks"
#: Notebook 02: the baselines beside its HNET run (preset ``teaching``) ...
NOTEBOOK02_BASELINES = ("finetune", "ewc", "si")
#: ... the hypernetwork sizes of its compression sweep (preset ``teaching_sweep``) ...
NOTEBOOK02_COMPRESSION = (dict(chunk_size=1000, hnet_hidden=(8, 8)), dict(chunk_size=2000, hnet_hidden=(16, 16)),
                          dict(chunk_size=4000, hnet_hidden=(24, 24)), dict(chunk_size=8000, hnet_hidden=(32, 32)),
                          dict(chunk_size=8000, hnet_hidden=(64, 64)))
#: ... and the β values of its stability/plasticity sweep (preset ``teaching_sweep``).
NOTEBOOK02_BETAS = (0.0, 0.003, 0.03, 0.3, 3.0)

#: PermutedMNIST-100, the long-sequence result (docs/method.md §4).
PERMUTED_100 = dict(num_tasks=100, embedding_dim=128, chunk_embedding_dim=12,
                    hnet_hidden=(200, 250, 350), hnet_activation="relu", chunk_size=7500,
                    beta=0.01)
#: Its reduced version, which a CPU trains in minutes: notebook 02's long-sequence configuration
#: (preset ``teaching_long``: target MLP 100,100, chunked hypernetwork hidden 32,32, chunk 4,000,
#: 500 steps of lr 1e-3 per task, 2,000 test images per task) on all 100 tasks.
PERMUTED_100_REDUCED = dict(num_tasks=100)
#: The authors' Zenke configuration on the CIFAR substitute, shortened to 20 epochs per task
#: (of 80) so that a CPU thread trains it in under an hour; the same cut made on the authors'
#: code for docs/split_cifar_vs_authors.md. A shortened run, labelled as such.
ZENKE_20_EPOCHS = dict(epochs=20)
#: The replay methods on SplitMNIST at a quarter of the paper's training (500 steps per task,
#: current and replayed data weighted alike), as first run on a CPU: kept, labelled, beside
#: the paper-preset runs (files ``*_500steps*.json``).
SPLIT_MNIST_REPLAY_500 = dict(iterations=500, replay_weight=None)


@dataclass(frozen=True)
class PlannedRun:
    """One run of the plan: what to train and where its results go.

    ``group`` is what ``--only`` selects (``regression``, ``permuted_mnist``,
    ``permuted_mnist_replay_teaching``, ``permuted_mnist_100``, ``permuted_mnist_100_reduced``,
    ``split_mnist``,
    ``split_cifar10_substitute``, ``split_cifar10_100``, ``split_cifar10_100_zenke``); ``tag``
    distinguishes runs of the same benchmark, method and scenario with other settings (part of
    the file name).
    """

    group: str
    benchmark: str
    method: str
    scenario: int
    seed: int
    preset: str = "paper"
    tag: str = ""
    overrides: Mapping[str, Any] = field(default_factory=dict)
    subfolder: str = ""  # e.g. NOTEBOOK_FOLDER: a sub-folder of the results folder

    def config(self, fast: bool = False) -> ExperimentConfig:
        """The run's configuration (``fast``: the preset's fast variant, for smoke tests)."""
        overrides = dict(self.overrides)
        if fast:  # a fast run must stay short: drop overrides that make it long
            overrides = {k: v for k, v in overrides.items() if k not in ("num_tasks", "epochs")}
        return preset_config(self.benchmark, self.preset, fast=fast, method=self.method,
                             scenario=self.scenario, seed=self.seed, **overrides)

    @property
    def filename(self) -> str:
        """``[<subfolder>/]<benchmark>_<method>_cl<s>[_<tag>][_seed<N>].json``, as the files in ``results/``."""
        parts = [self.benchmark, self.method, f"cl{self.scenario}"]
        if self.tag:
            parts.append(self.tag)
        if self.seed:
            parts.append(f"seed{self.seed}")
        name = "_".join(parts) + ".json"
        return f"{self.subfolder}/{name}" if self.subfolder else name

    @property
    def name(self) -> str:
        """The file name without ``.json``: how the plan prints the run."""
        return self.filename[:-len(".json")]


def available_methods(wanted: Iterable[str]) -> list[str]:
    """The methods of ``wanted`` that the package implements (``configs.METHODS``), in order."""
    return [m for m in wanted if m in METHODS]


def course_plan(seeds: Sequence[int] = DEFAULT_SEEDS) -> list[PlannedRun]:
    """Every run behind the course's results, cheapest benchmarks first.

    - the regression toy (CL1): HNET, fine-tuning, from scratch, multitask;
    - PermutedMNIST-10 and SplitMNIST in CL1, CL2 and CL3: HNET (HNET+ENT in
      CL2/CL3), fine-tuning, EWC, online EWC, SI, and the replay methods
      (HNET+TIR, HNET+R, DGR) when the package has them;
    - the replay methods on PermutedMNIST-10 (CL2, CL3) at teaching size, which a CPU
      trains in minutes (preset ``teaching``; the paper-size runs are listed above);
    - PermutedMNIST-100 (the long sequence), HNET in CL1, and its reduced version
      (:data:`PERMUTED_100_REDUCED`), which a CPU trains in minutes;
    - the offline substitute of Split CIFAR-10/100 in the teaching configuration
      of notebook 05 (CL1): HNET, HNET with beta = 0, fine-tuning, from scratch;
    - Split CIFAR-10/100 (CL1) with ResNet-32 and with the Zenke conv net:
      HNET, fine-tuning, from scratch.
    """
    if not seeds:
        raise ValueError("seeds must name at least one seed, got none")
    runs: list[PlannedRun] = []

    def add(group, benchmark, methods, scenarios, preset="paper", tag="", **overrides):
        for scenario in scenarios:
            for method in available_methods(methods):
                if method in REPLAY_METHODS and scenario == 1:
                    continue  # replay answers CL2/CL3; in CL1 it is the plain hypernetwork
                for seed in seeds:
                    runs.append(PlannedRun(group, benchmark, method, scenario, seed, preset, tag,
                                           overrides))

    add("regression", "regression", REGRESSION_METHODS, (1,))
    add("split_mnist", "split_mnist", MNIST_METHODS, (1, 2, 3))
    add("split_mnist_replay_500steps", "split_mnist", REPLAY_METHODS, (2, 3), tag="500steps",
        **SPLIT_MNIST_REPLAY_500)
    add("permuted_mnist", "permuted_mnist", MNIST_METHODS, (1, 2, 3))
    add("permuted_mnist_replay_teaching", "permuted_mnist", REPLAY_METHODS, (2, 3),
        preset="teaching", tag="teaching")
    add("permuted_mnist_100", "permuted_mnist", ("hnet",), (1,), tag="100tasks", **PERMUTED_100)
    add("permuted_mnist_100_reduced", "permuted_mnist", ("hnet",), (1,), preset="teaching_long",
        tag="100tasks_reduced", **PERMUTED_100_REDUCED)
    runs.extend(notebook02_runs())
    add("split_cifar10_substitute", "split_cifar10_substitute", CIFAR_METHODS, (1,), preset="teaching")
    add("split_cifar10_substitute", "split_cifar10_substitute", ("hnet",), (1,), preset="teaching",
        tag="beta0", **NO_REGULARISER)
    add("split_cifar10_substitute_zenke", "split_cifar10_substitute", ("hnet", "finetune"), (1,),
        preset="paper_zenke", tag="zenke_20epochs", **ZENKE_20_EPOCHS)
    add("split_cifar10_substitute_zenke_80epochs", "split_cifar10_substitute", ("hnet",), (1,),
        preset="paper_zenke", tag="zenke")
    add("split_cifar10_100", "split_cifar10_100", CIFAR_METHODS, (1,))
    add("split_cifar10_100_zenke", "split_cifar10_100", CIFAR_METHODS, (1,), preset="paper_zenke",
        tag="zenke")
    return runs


def notebook02_runs() -> list[PlannedRun]:
    """The runs notebook 02 loads in full mode (seed 0; group ``notebook02``): its baselines,
    compression sweep, β sweep and 30-task run. A run whose configuration equals an earlier
    one (the β of the sweep's base is a compression variant) is listed once."""
    runs = [PlannedRun("notebook02", "permuted_mnist", m, 1, 0, "teaching", "", {}, NOTEBOOK_FOLDER)
            for m in NOTEBOOK02_BASELINES]
    for v in NOTEBOOK02_COMPRESSION:
        tag = f"chunk{v['chunk_size']}_hidden{v['hnet_hidden'][0]}"
        runs.append(PlannedRun("notebook02", "permuted_mnist", "hnet", 1, 0, "teaching_sweep", tag, v,
                               NOTEBOOK_FOLDER))
    for beta in NOTEBOOK02_BETAS:
        runs.append(PlannedRun("notebook02", "permuted_mnist", "hnet", 1, 0, "teaching_sweep",
                               f"beta{beta:g}", {"beta": beta}, NOTEBOOK_FOLDER))
    runs.append(PlannedRun("notebook02", "permuted_mnist", "hnet", 1, 0, "teaching_long", "long", {},
                           NOTEBOOK_FOLDER))
    unique, seen = [], set()
    for run in runs:
        key = json.dumps(run.config().to_dict(), sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(run)
    return unique


def find_result(cfg: ExperimentConfig, folder: Path) -> Path | None:
    """The results file in ``folder`` that holds ``cfg`` (device aside), or None."""
    wanted = comparable(cfg.to_dict())
    for path in sorted(Path(folder).glob("*.json")):
        try:
            stored = json.loads(path.read_text())["config"]
        except (ValueError, KeyError, TypeError):
            continue
        if comparable(stored) == wanted:
            return path
    return None


def groups(plan: Sequence[PlannedRun]) -> list[str]:
    """The group names of ``plan`` in order (what ``--only`` accepts)."""
    return list(dict.fromkeys(r.group for r in plan))


def select(plan: Sequence[PlannedRun], only: Sequence[str] | None = None,
           methods: Sequence[str] | None = None,
           scenarios: Sequence[int] | None = None) -> list[PlannedRun]:
    """The runs of ``plan`` in the groups ``only``, of ``methods`` and ``scenarios`` (``None``:
    all). A name of ``only`` is a group (``permuted_mnist`` is PermutedMNIST-10 only), or a
    benchmark that is no group's name (``split_cifar10_100``... is a group, so it is not
    widened). Unknown names raise ``ValueError``."""
    group_names = set(groups(plan))
    known = group_names | {r.benchmark for r in plan}
    for name in only or ():
        if name not in known:
            raise ValueError(f"--only {name!r} is not a group of the plan; allowed: {sorted(known)}")
    only = [n for n in only or ()]
    by_benchmark = {n for n in only if n not in group_names}
    for method in methods or ():
        if method not in METHODS:
            raise ValueError(f"--methods {method!r} is not a method; allowed: {list(METHODS)}")
    return [r for r in plan
            if (not only or r.group in only or r.benchmark in by_benchmark)
            and (not methods or r.method in methods)
            and (not scenarios or r.scenario in scenarios)]


# --------------------------------------------------------------------- done or not


#: Fields that say *where* a run happened, not *what* it is; ignored when comparing.
IGNORED_FIELDS = ("device",)


def comparable(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` completed with the defaults of fields it lacks (files written before a field
    existed), as JSON values, without :data:`IGNORED_FIELDS` and without the fields its method
    does not read (``configs.fields_in_use``)."""
    full = fields_in_use(ExperimentConfig.from_dict(dict(config)).to_dict())
    return {k: v for k, v in full.items() if k not in IGNORED_FIELDS}


def run_status(run: PlannedRun, folder: Path = RESULTS_DIR, fast: bool = False) -> str:
    """``"done"`` (the results file exists with the planned configuration), ``"missing"``,
    or ``"differs: field=stored (planned ...)"`` / ``"unreadable: ..."`` (it will be rerun)."""
    path = Path(folder) / run.filename
    if not path.is_file():
        return "missing"
    try:
        stored = comparable(json.loads(path.read_text())["config"])
    except (ValueError, KeyError, TypeError) as err:  # json.JSONDecodeError is a ValueError
        return f"unreadable: {type(err).__name__}: {err}"
    planned = comparable(run.config(fast).to_dict())
    diffs = [f"{k}={stored[k]!r} (planned {planned[k]!r})" for k in planned if stored[k] != planned[k]]
    return "done" if not diffs else "differs: " + ", ".join(diffs)


#: Sub-folder of the results folder where a running run notes its finished tasks.
PROGRESS_DIR = ".progress"


def progress_path(run: PlannedRun, folder: Path = RESULTS_DIR) -> Path:
    """Where a run in progress notes how many tasks it finished (deleted when it ends)."""
    return Path(folder) / PROGRESS_DIR / run.filename


def resume_path(run: PlannedRun, folder: Path = RESULTS_DIR) -> Path:
    """Where a run in progress keeps its state after each finished task (``continual/resume.py``;
    deleted when its results file is written)."""
    return Path(folder) / PROGRESS_DIR / (run.name + ".resume.pt")


def interrupted_note(run: PlannedRun, folder: Path = RESULTS_DIR, fast: bool = False) -> str | None:
    """``"unfinished after task k of K ..."`` when an attempt of ``run`` (same configuration)
    noted k finished tasks and wrote no results file: it was interrupted, or is running in
    another process. Else None. An interrupted run resumes after its last finished task when
    its method can (:func:`resume_path`), else it restarts from its first task."""
    path = progress_path(run, folder)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        same = comparable(data["config"]) == comparable(run.config(fast).to_dict())
    except (ValueError, KeyError, TypeError):
        return None
    if not same:
        return None
    return (f"unfinished after task {data['tasks_done']} of {data['num_tasks']}: interrupted, "
            "or running now")


# --------------------------------------------------------------------- time estimates


#: Training samples per task after the validation split (a tenth, at most 5,000) when a
#: preset trains for epochs: first task, later tasks.
TRAIN_SAMPLES = {"split_cifar10_100": (45_000, 4_500), "split_cifar10": (9_000, 9_000),
                 "split_cifar10_substitute": (22_500, 2_250)}


#: Benchmarks whose step time can be measured on another one with the same networks when
#: their data are missing (Split CIFAR-10/100 needs CIFAR-100; its CIFAR-10 substitute does not).
PROXY_BENCHMARKS = {"split_cifar10_100": "split_cifar10_substitute"}


def total_steps(cfg: ExperimentConfig) -> int:
    """Training steps of the whole run (all tasks)."""
    if cfg.iterations is not None:
        return cfg.iterations * cfg.num_tasks
    first, later = TRAIN_SAMPLES[cfg.benchmark]
    sizes = [first] + [later] * (cfg.num_tasks - 1)
    if cfg.train_subset is not None:
        sizes = [min(n, cfg.train_subset) for n in sizes]
    return sum(cfg.epochs * math.ceil(n / cfg.batch_size) for n in sizes)


def step_key(cfg: ExperimentConfig, tag: str = "", scenario: bool = False) -> str:
    """Key of the step-time table: ``benchmark/method[/tag][/cl<s>]``. The architecture
    changes the step time (hence the tag); the scenario a little (output layer, EWC Fisher,
    task inference in the evaluation): finished runs are also keyed by it."""
    parts = [cfg.benchmark, cfg.method] + ([tag] if tag else [])
    return "/".join(parts + ([f"cl{cfg.scenario}"] if scenario else []))


def load_step_times(folder: Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    """Measured step times: ``{key: {"ms_per_step": float, "device": str, "source": str}}``.

    From, in order of preference (later sources do not replace earlier ones):
    1. finished results files of full runs (no ``train_subset``): wall time /
       training steps, so evaluation, the EWC Fisher and the machine's load of
       that run are included; the best predictor of a run with the same settings;
    2. the ``*step_time*.json`` files of ``scripts/speed/measure_step_time.py``
       (the mean over the run of task 1 and later tasks);
    3. ``results/step_times.json`` (written by :func:`measure_step_ms` via
       ``python -m hnet_utils.reproduce --measure``): two short tasks, training
       steps only. It underestimates methods whose step cost grows with the
       number of tasks (EWC keeps one penalty term per old task) and leaves
       out evaluation.
    """
    folder = Path(folder)
    table: dict[str, dict[str, Any]] = {}
    for run in course_plan(tuple(range(10))):  # finished planned runs, any of the first 10 seeds
        if run.config().train_subset is not None or run_status(run, folder) != "done":
            continue
        data = json.loads((folder / run.filename).read_text())
        cfg = run.config()
        entry = {"ms_per_step": 1000 * data["wall_time_s"] / total_steps(cfg),
                 "device": data.get("device", "?"), "source": run.filename}
        table.setdefault(step_key(cfg, run.tag, scenario=True), entry)
        table.setdefault(step_key(cfg, run.tag), entry)
    for path in sorted(folder.glob("*step_time*.json")):
        if path.name == STEP_TIMES_FILE:
            continue
        data = json.loads(path.read_text())
        if "ms_per_step" not in data or "full_config" not in data:
            continue
        cfg = ExperimentConfig.from_dict(data["full_config"])
        t1, t2 = list(data["ms_per_step"].values())[:2]
        ms = (t1 + (cfg.num_tasks - 1) * t2) / cfg.num_tasks
        table.setdefault(step_key(cfg), {"ms_per_step": ms, "device": data.get("device", "?"),
                                         "source": path.name})
    path = folder / STEP_TIMES_FILE
    if path.is_file():
        for key, entry in json.loads(path.read_text()).get("ms_per_step", {}).items():
            table.setdefault(key, {**entry, "source": STEP_TIMES_FILE})
    return table


def estimate_seconds(run: PlannedRun, step_times: Mapping[str, Mapping[str, Any]],
                     fast: bool = False, device: str | None = None) -> tuple[float | None, str]:
    """``(seconds, note)``: the run's estimated wall time from measured step times.

    ``seconds`` is None when nothing was measured for its benchmark and method
    (``note`` says so); else ``note`` names the measurement's device and source,
    and warns when ``device`` (where the run will happen, e.g. ``"cuda (H200)"``)
    is another kind of device than the measurement's.
    """
    cfg = run.config(fast)
    key = step_key(cfg, run.tag)
    entry = step_times.get(step_key(cfg, run.tag, scenario=True), step_times.get(key))
    if entry is None:
        return None, f"no step time measured for {key}"
    note = f"{entry['device']}, {entry['source']}"
    if entry.get("measured_with"):
        note += f", measured with {entry['measured_with']}"
    if device is not None and device.split()[0] != str(entry["device"]).split()[0]:
        note += f"; measured on another device than this {device.split()[0]}: indicative only"
    return total_steps(cfg) * entry["ms_per_step"] / 1000, note


def measure_step_ms(run: PlannedRun, steps: int = 30) -> float:
    """Milliseconds per training step of ``run``'s configuration: two short tasks (the
    regulariser or penalty is active on the second), the first 10 steps of each skipped."""
    import time

    from hnet_utils.continual.training import train_continual

    cfg = run.config().replace(num_tasks=min(2, run.config().num_tasks), iterations=steps,
                               epochs=None, test_subset=100)
    marks: list[tuple[int, float]] = []

    def callback(state) -> None:
        if state.event == "step":
            marks.append((state.task, time.perf_counter()))

    train_continual(cfg, callback=callback, callback_every=10, progress=False)
    per_task = []
    for task in range(cfg.num_tasks):
        times = [t for k, t in marks if k == task]
        per_task.append(1000 * (times[-1] - times[0]) / (10 * (len(times) - 1)))
    return sum(per_task) / len(per_task)


def format_duration(seconds: float | None) -> str:
    """``"12 s"``, ``"4.5 min"``, ``"1.7 h"``; ``"?"`` for None."""
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
