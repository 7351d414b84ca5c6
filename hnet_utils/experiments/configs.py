"""Experiment configuration: one flat dataclass, named presets, validation.

Everything that defines a run lives in :class:`ExperimentConfig`, a flat,
JSON-serialisable dataclass. A *preset* is a dict of overrides of its defaults;
:func:`preset_config` applies a preset and then the caller's overrides, and
validates the result so that bad input fails before any training starts.

Presets
-------
``paper``
    The settings of von Oswald et al. (2020), from the paper's appendix and the
    authors' code defaults (chrhenning/hypercl, see docs/method.md section 4).
    EWC / online EWC / SI strengths are not in that paper (it quotes those
    baselines from van de Ven & Tolias 2019); we use the defaults of van de
    Ven's ``continual-learning`` repository (``param_values.py``) per benchmark
    and scenario. For the regression toy problem no published EWC/SI values
    exist; ours are marked as our own choice in :data:`PRESETS`.
``teaching``, ``teaching_sweep``, ``teaching_long``, ``teaching_plane``
    Our own smaller configurations, for the notebooks on a laptop CPU.
``fast`` (every preset, ``fast=True``; on the command line ``--preset fast``)
    The preset shrunk to train in seconds on a CPU: for smoke tests, CI
    and notebooks in fast mode. Its numbers mean nothing.
``paper_zenke`` (Split CIFAR only)
    The paper's second CIFAR target network (Zenke et al. 2017 conv net).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from hnet_utils.continual import regularizer
from hnet_utils.data.benchmarks import check_num_tasks
from hnet_utils.networks import hypernet, targets

BENCHMARKS = ("regression", "permuted_mnist", "split_mnist", "split_cifar10_100", "split_cifar10",
              "split_cifar10_substitute")
METHODS = ("hnet", "finetune", "scratch", "multitask", "ewc", "online_ewc", "si",
           "hnet_tir", "hnet_r", "dgr")
#: Methods that replay samples of a generative model (continual/replay.py, docs/method.md §6).
REPLAY_METHODS = ("hnet_tir", "hnet_r", "dgr")
#: Benchmarks the replay VAE can model: flat inputs with pixel values in [0, 1].
REPLAY_BENCHMARKS = ("split_mnist", "permuted_mnist")
SCENARIOS = (1, 2, 3)
TARGETS = ("mlp", "zenke", "resnet32")
HNET_TYPES = ("full", "chunked")
REGULARIZERS = regularizer.IMPLEMENTATIONS  # defined where they are implemented
ACTIVATIONS = tuple(targets.ACTIVATIONS)
HNET_INITS = hypernet.HNET_INITS  # defined where they are implemented
#: Output heads of a hypernetwork's target (``hnet_heads``): "shared" -- every embedding
#: generates the one C-unit output layer; "per_task" -- the target has one C-unit head per task
#: and embedding t's network uses head t (the authors' MNIST layout in CL1 and CL3, docs/method.md §3).
HNET_HEADS = ("shared", "per_task")
#: The largest seed torch's generators take (``torch.manual_seed``: a signed 64-bit range here).
MAX_SEED = 2**63 - 1

@dataclass
class ExperimentConfig:
    """Everything that defines one continual-learning run (flat, JSON-friendly).

    Tuples are used for layer sizes; ``None`` means "not used / automatic".
    See ``python -m hnet_utils.run --help`` for one line per field.
    """

    # what to run
    benchmark: str = "split_mnist"
    num_tasks: int = 5
    method: str = "hnet"
    scenario: int = 1
    # target network
    target: str = "mlp"
    target_hidden: tuple[int, ...] = (400, 400)
    target_activation: str = "relu"
    # hypernetwork
    hnet_type: str = "chunked"
    embedding_dim: int = 96
    chunk_embedding_dim: int | None = 96
    chunk_size: int | None = 42_000
    hnet_hidden: tuple[int, ...] = (10, 10)
    hnet_activation: str = "relu"
    hnet_init: str = "target_std"
    hnet_heads: str = "shared"
    # output regulariser
    beta: float = 0.01
    lookahead: bool = True
    regularizer: str = "exact"
    reg_subset: int | None = None
    # HNET+ENT aid, not in the paper (outliers.py): weight of the uniform-prediction loss on mosaics
    outlier_weight: float = 0.0
    # optimisation (Adam)
    lr: float = 1e-3
    # Adam's first-moment decay (the authors' Zenke-net CIFAR runs use 0.5)
    adam_beta1: float = 0.9
    iterations: int | None = 2000
    epochs: int | None = None
    batch_size: int = 128
    # random crop + horizontal flip of CIFAR training batches (data/augment.py)
    augment: bool = False
    seed: int = 0
    # baselines
    ewc_lambda: float = 1e5
    online_gamma: float = 1.0
    fisher_samples: int | None = 1000
    si_c: float = 10.0
    si_epsilon: float = 0.1
    # replay (hnet_tir, hnet_r, dgr; continual/replay.py, docs/method.md §6)
    latent_dim: int = 100
    encoder_hidden: tuple[int, ...] = (400, 400)
    decoder_hidden: tuple[int, ...] = (250, 350)
    replay_embedding_dim: int = 96
    replay_chunk_embedding_dim: int = 96
    replay_chunk_size: int = 50_000
    replay_hnet_hidden: tuple[int, ...] = (10, 10)
    replay_hnet_activation: str = "elu"
    replay_beta: float = 0.01
    replay_weight: float | None = 0.5
    distill_temperature: float = 2.0
    # data and evaluation
    train_subset: int | None = None
    # samples held out of each task's training data as a validation split (None: the benchmark's
    # default, a tenth of the task's training data, at most 5,000; 0: train on all of it, as the
    # authors' MNIST code does; regression: extra noise-free points, default 50). Training and
    # evaluation never read the validation split.
    val_size: int | None = None
    test_subset: int | None = None
    eval_batch_size: int = 1000
    device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples become lists), ready for JSON."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExperimentConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = sorted(set(data) - set(field_names()))
        if unknown:
            raise ValueError(f"unknown configuration field(s) {unknown}; allowed: {field_names()}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

    def replace(self, **changes: Any) -> "ExperimentConfig":
        """A copy with some fields changed, validated like :func:`preset_config` overrides.

        Change fields that depend on each other (``hnet_type`` and ``chunk_size``) in one call.
        """
        _check_field_names(changes)
        cfg = dataclasses.replace(self, **changes)
        validate_config(cfg)
        return cfg

    @property
    def uses_epochs(self) -> bool:
        """True when training length is given in epochs rather than iterations."""
        return self.epochs is not None


def field_names() -> list[str]:
    """Names of all :class:`ExperimentConfig` fields, in declaration order."""
    return [f.name for f in fields(ExperimentConfig)]


def describe_config(cfg: "ExperimentConfig | Mapping[str, Any]", fields: Sequence[str] | None = None,
                    width: int | None = None, indent: str = "") -> str:
    """One line naming the settings of a run, to print beside its numbers.

    ``cfg``: an :class:`ExperimentConfig` or its dict (e.g. ``result.config``).
    ``fields``: which fields to show; default the ones that matter for the
    method of ``cfg`` (benchmark, architecture, β or EWC/SI strength,
    optimisation). Returns ``"name=value, name=value, ..."``.
    ``width``: break into lines of at most ``width`` characters, between
    fields only (a notebook would otherwise wrap a long line mid-word);
    ``indent`` starts every line.
    """
    values = cfg.to_dict() if isinstance(cfg, ExperimentConfig) else dict(cfg)
    if fields is None:
        fields = ["benchmark", "num_tasks", "scenario", "method", "target_hidden",
                  "target_activation"]
        if values.get("method") == "hnet":
            fields += ["hnet_type", "embedding_dim", "chunk_embedding_dim", "chunk_size",
                       "hnet_hidden", "hnet_activation", "beta", "lookahead"]
            if values.get("outlier_weight"):
                fields += ["outlier_weight"]
        elif values.get("method") in ("ewc", "online_ewc"):
            fields += ["ewc_lambda"]
        elif values.get("method") == "si":
            fields += ["si_c"]
        if values.get("method") in REPLAY_METHODS:
            fields += REPLAY_FIELDS
        fields += ["lr"]
        if values.get("adam_beta1", ExperimentConfig.adam_beta1) != ExperimentConfig.adam_beta1:
            fields += ["adam_beta1"]
        fields += ["iterations" if values.get("iterations") is not None else "epochs", "batch_size"]
        if values.get("augment"):
            fields += ["augment"]
        if values.get("val_size") is not None:
            fields += ["val_size"]
        fields += ["train_subset", "seed"]
    unknown = [f for f in fields if f not in values]
    if unknown:
        raise ValueError(f"fields {unknown} are not configuration fields; allowed: {sorted(values)}")
    items = [f"{f}={values[f]}" for f in fields]
    if width is None:
        return indent + ", ".join(items)
    lines = [indent + items[0]]
    for item in items[1:]:
        if len(lines[-1]) + len(item) + 2 > width:
            lines[-1] += ","
            lines.append(indent + item)
        else:
            lines[-1] += ", " + item
    return "\n".join(lines)


#: Settings of the classifier's hypernetwork and its regulariser. The baselines that train the
#: target's own weights never read them, so two baseline runs that differ only here are the same.
HNET_FIELDS = ("hnet_type", "embedding_dim", "chunk_embedding_dim", "chunk_size", "hnet_hidden",
               "hnet_activation", "hnet_init", "hnet_heads", "beta", "lookahead", "regularizer",
               "reg_subset", "outlier_weight")
#: The methods that use none of :data:`HNET_FIELDS`.
TARGET_ONLY_METHODS = ("finetune", "scratch", "multitask", "ewc", "online_ewc", "si")


def fields_in_use(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` (a dict) without the fields its method never reads (:data:`HNET_FIELDS` for
    the baselines): what decides whether two runs are the same run."""
    unused = HNET_FIELDS if config.get("method") in TARGET_ONLY_METHODS else ()
    return {k: v for k, v in config.items() if k not in unused}


#: Fields that define the shapes of the trained models (compared when loading checkpoints).
ARCHITECTURE_FIELDS = (
    "benchmark", "num_tasks", "method", "scenario", "target", "target_hidden",
    "target_activation", "hnet_type", "embedding_dim", "chunk_embedding_dim",
    "chunk_size", "hnet_hidden", "hnet_activation", "hnet_heads",
)
# (the replay models' shapes are not listed: checkpoints written before they existed lack those
# fields; a replay checkpoint of other shapes fails in load_state_checked, naming each tensor)

#: The settings of the replay methods, shown by :func:`describe_config` for them.
REPLAY_FIELDS = ["latent_dim", "encoder_hidden", "decoder_hidden", "replay_embedding_dim",
                 "replay_chunk_embedding_dim", "replay_chunk_size", "replay_hnet_hidden",
                 "replay_hnet_activation", "replay_beta", "replay_weight", "distill_temperature"]

# --------------------------------------------------------------------------- presets

def _replay_only(**values: Any) -> dict[str, dict]:
    """Preset values that apply to :data:`REPLAY_METHODS` only, as dicts keyed by method.

    Every other method keeps the field's default (``"*"``), so its configuration -- and the
    results files written before the replay methods existed -- still match the preset.
    A value may itself be a dict keyed by replay method.
    """
    defaults = {f.name: f.default for f in fields(ExperimentConfig)}
    return {name: {**(value if isinstance(value, dict) else {m: value for m in REPLAY_METHODS}),
                   "*": defaults[name]}
            for name, value in values.items()}


_REGRESSION_PAPER = dict(
    benchmark="regression", num_tasks=3, target="mlp", target_hidden=(10, 10),
    target_activation="sigmoid", hnet_type="full", embedding_dim=2,
    chunk_embedding_dim=None, chunk_size=None, hnet_hidden=(10, 10),
    hnet_activation="sigmoid", beta=0.005, lookahead=True, lr=0.01,
    # the multitask reference is trained to convergence: with 4,001 (or the authors' 12,003)
    # steps its task-3 MSE stays at 0.02-0.03; 40,000 reach <= 0.002 (results/README.md)
    iterations={"multitask": 40_000, "*": 4001}, batch_size=32,
    # hypercl toy_example/train_utils._generate_networks: Xavier weights, zero biases
    hnet_init="xavier",
    # our own choice (no published value for this toy problem):
    ewc_lambda=10.0, si_c=1.0, fisher_samples=None,
)

#: The authors' MNIST code (chrhenning/hypercl mnist/train_utils.py, generate_classifier) builds
#: the classifier with one head per task in CL1 and CL3 and a shared head in CL2; embedding t's
#: network is trained and read through head t (docs/method.md §3). Our hnet learner does that
#: with hnet_heads="per_task"; the replay learners keep a shared head.
_AUTHORS_HEADS = {"hnet": {1: "per_task", 2: "shared", 3: "per_task"}, "*": "shared"}

_PERMUTED_PAPER = dict(
    benchmark="permuted_mnist", num_tasks=10, target="mlp", target_hidden=(1000, 1000),
    target_activation="relu", hnet_type="chunked", embedding_dim=24,
    chunk_embedding_dim=8, chunk_size=78_000, hnet_hidden=(25, 25),
    hnet_activation="elu", beta=0.1, lookahead=True, lr=1e-4, iterations=5000,
    batch_size=128,
    ewc_lambda={1: 100.0, 2: 100.0, 3: 100.0}, si_c={1: 10.0, 2: 10.0, 3: 5.0},
    hnet_heads=_AUTHORS_HEADS,
    # replay: chrhenning/hypercl mnist/train_args_default.py (docs/method.md §6), for the
    # replay methods only (the other methods keep the field defaults)
    **_replay_only(latent_dim=100, encoder_hidden=(1000, 1000),
                   decoder_hidden={"hnet_tir": (1000, 1000), "hnet_r": (400, 400), "dgr": (400, 400)},
                   replay_embedding_dim=24, replay_chunk_embedding_dim=8, replay_chunk_size=85_000,
                   replay_hnet_hidden=(25, 25), replay_hnet_activation="elu", replay_beta=0.1),
)

_SPLIT_MNIST_PAPER = dict(
    benchmark="split_mnist", num_tasks=5, target="mlp", target_hidden=(400, 400),
    target_activation="relu", hnet_type="chunked", embedding_dim=96,
    chunk_embedding_dim=96, chunk_size=42_000, hnet_hidden=(10, 10),
    hnet_activation="relu", beta=0.01, lookahead=True, lr=1e-3, iterations=2000,
    batch_size=128,
    ewc_lambda={1: 1e5, 2: 1e10, 3: 1e9}, si_c={1: 10.0, 2: 5e4, 3: 5e3},
    hnet_heads=_AUTHORS_HEADS,
    # replay: chrhenning/hypercl mnist/train_args_default.py (docs/method.md §6). A dict keyed
    # by method names is resolved for the chosen method (HNET+TIR has its own decoder and beta).
    latent_dim=100, encoder_hidden=(400, 400),
    decoder_hidden={"hnet_tir": (50, 150), "*": (250, 350)},
    replay_embedding_dim=96, replay_chunk_embedding_dim=96, replay_chunk_size=50_000,
    replay_hnet_hidden=(10, 10), replay_hnet_activation="elu",
    replay_beta=0.01, replay_weight=0.5, distill_temperature=2.0,
)

_CIFAR_RESNET = dict(
    target="resnet32", target_hidden=(), target_activation="relu",
    hnet_type="chunked", embedding_dim=32, chunk_embedding_dim=32, chunk_size=7000,
    hnet_hidden=(), hnet_activation="relu", beta=0.05, lookahead=True, lr=1e-3,
    iterations=None, epochs=200, batch_size=32, augment=True,
    hnet_init="xavier",  # --custom_network_init in the authors' commands (§7)
)

_CIFAR_ZENKE = dict(
    target="zenke", target_hidden=(), target_activation="relu",
    hnet_type="chunked", embedding_dim=48, chunk_embedding_dim=80, chunk_size=5500,
    hnet_hidden=(100, 150, 200), hnet_activation="relu", beta=0.01, lookahead=True,
    lr=1e-4, iterations=None, epochs=80, batch_size=256, augment=False,  # no augmentation (§7)
    adam_beta1=0.5,  # cifar/train_args.py, mode zenke_cifar (§7)
    hnet_init="xavier",  # --custom_network_init in the authors' commands (§7)
)

# Our teaching configuration of the CIFAR chapter (notebook 05): the Zenke net with a
# small chunked hypernetwork (compression ratio 0.14), beta 0.1 (§7.1), 20 epochs per task with
# batch 64, on the offline substitute of Split CIFAR-10/100. Its CPU runs take minutes
# per method in the background; the notebook loads them (docs/method.md, section 7).
_CIFAR_TEACHING = dict(
    _CIFAR_ZENKE, benchmark="split_cifar10_substitute", num_tasks=6, embedding_dim=32,
    chunk_embedding_dim=32, chunk_size=3000, hnet_hidden=(50,), beta=0.1, lr=1e-4, epochs=20,
    batch_size=64, eval_batch_size=500, augment=True, adam_beta1=0.9, hnet_init="target_std",
)

#: Fast mode of the replay models (ignored by the other methods).
_FAST_REPLAY = dict(latent_dim=8, encoder_hidden=(32,), decoder_hidden=(32,), replay_embedding_dim=8,
                    replay_chunk_embedding_dim=4, replay_chunk_size=2000, replay_hnet_hidden=(10,))
_FAST_COMMON = dict(_FAST_REPLAY, iterations=30, epochs=None, batch_size=32, fisher_samples=64,
                    train_subset=256, test_subset=128, eval_batch_size=256)
_FAST_CIFAR = dict({**_CIFAR_ZENKE, **_FAST_COMMON}, num_tasks=2, embedding_dim=8,
                   chunk_embedding_dim=4, chunk_size=4000, hnet_hidden=(10,), lr=1e-3)

# Our teaching configurations: small enough for a laptop CPU (2 cores) to train
# in minutes (PermutedMNIST) or seconds (SplitMNIST). Our own choices, not the
# paper's; their runtimes are measured in the notebooks.
_PERMUTED_TEACHING = dict(
    _PERMUTED_PAPER, target_hidden=(256, 256), chunk_size=8000, hnet_hidden=(32, 32),
    beta=0.03, lr=1e-3, iterations=1500, eval_batch_size=2000,
    hnet_heads="shared",  # the notebooks' generated networks have one output layer (method.md §3)
    # the replay methods at teaching size: a VAE of one hidden layer of 400 units instead of
    # 1000,1000, its decoder written in chunks of 20,000 by the paper's replay hypernetwork
    # shape; every task weighted the same in the replay loss (as _SPLIT_REPLAY_TEACHING)
    **_replay_only(latent_dim=50, encoder_hidden=(400,), decoder_hidden=(400,),
                   replay_embedding_dim=24, replay_chunk_embedding_dim=8, replay_chunk_size=20_000,
                   replay_hnet_hidden=(25, 25), replay_hnet_activation="elu", replay_beta=0.1,
                   replay_weight=None),
)
_SPLIT_TEACHING = dict(
    _SPLIT_MNIST_PAPER, target_hidden=(100, 100), embedding_dim=32, chunk_embedding_dim=32,
    chunk_size=4000, hnet_hidden=(32, 32), iterations=200, eval_batch_size=2000,
    hnet_heads="shared",  # the notebooks' generated networks have one output layer (method.md §3)
)
#: Fast mode of the MNIST teaching presets: few steps on a few hundred samples per task.
_FAST_DATA = dict(_FAST_REPLAY, train_subset=1000, test_subset=400, fisher_samples=64)
#: Our teaching configuration of the replay methods (notebook 04): the paper's SplitMNIST
#: networks made smaller, 300 steps per task, every task weighted the same in the replay loss
#: (replay_weight=None); our own choice, runtimes in the notebook.
_SPLIT_REPLAY_TEACHING = dict(
    _SPLIT_MNIST_PAPER, target_hidden=(100, 100), embedding_dim=32, chunk_embedding_dim=32,
    chunk_size=4000, hnet_hidden=(32, 32), iterations=300, eval_batch_size=2000,
    replay_weight=None, latent_dim=20, encoder_hidden=(200,), decoder_hidden=(200,), replay_embedding_dim=32,
    replay_chunk_embedding_dim=32, replay_chunk_size=8000, replay_hnet_hidden=(32, 32),
    replay_beta=0.01,
)


@dataclass(frozen=True)
class Preset:
    """A named configuration: overrides of the :class:`ExperimentConfig` defaults.

    ``fast`` holds what fast mode (CI, ``HNET_FAST=1`` in the notebooks)
    changes on top of ``values``: the same experiment, shrunk until it runs in
    seconds. Fast-mode numbers only show that the code runs.
    """

    values: Mapping[str, Any]
    fast: Mapping[str, Any]
    about: str


def _cifar_presets(benchmark: str, num_tasks: int, about: str) -> dict[str, "Preset"]:
    """The paper's two CIFAR configurations for ``benchmark``: ``paper`` (ResNet-32) and
    ``paper_zenke`` (the Zenke conv net), each with the common CIFAR fast mode."""
    fast = dict(_FAST_CIFAR, benchmark=benchmark)
    return {"paper": Preset(dict(_CIFAR_RESNET, benchmark=benchmark, num_tasks=num_tasks), fast,
                            f"{about}, ResNet-32"),
            "paper_zenke": Preset(dict(_CIFAR_ZENKE, benchmark=benchmark, num_tasks=num_tasks), fast,
                                  f"{about}, Zenke conv net")}


#: PRESETS[benchmark][name]. A value that is a dict keyed by scenario (1/2/3)
#: is resolved for the chosen scenario; one keyed by method names ("*" for the
#: others) for the chosen method, and then by scenario if it is again a dict.
PRESETS: dict[str, dict[str, Preset]] = {
    "regression": {
        "paper": Preset(_REGRESSION_PAPER, dict(iterations=200, eval_batch_size=256),
                        "the paper's 1-D polynomial toy problem"),
    },
    "permuted_mnist": {
        "paper": Preset(_PERMUTED_PAPER,
                        dict(_FAST_COMMON, num_tasks=3, target_hidden=(20,), embedding_dim=8,
                             chunk_embedding_dim=4, chunk_size=2000, hnet_hidden=(10,), lr=1e-3),
                        "PermutedMNIST-10 as in the paper"),
        "teaching": Preset(_PERMUTED_TEACHING,
                           dict(_FAST_DATA, num_tasks=3, target_hidden=(64, 64), chunk_size=4000,
                                hnet_hidden=(16, 16), iterations=60),
                           "PermutedMNIST-10, CL1, on a laptop CPU (notebook 02)"),
        "teaching_sweep": Preset(dict(_PERMUTED_TEACHING, num_tasks=3, iterations=600, test_subset=5000),
                                 dict(_FAST_DATA, num_tasks=2, target_hidden=(64, 64),
                                      chunk_size=4000, hnet_hidden=(16, 16), iterations=30),
                                 "3 shorter tasks: compression and β sweeps"),
        "teaching_long": Preset(dict(_PERMUTED_TEACHING, num_tasks=30, target_hidden=(100, 100),
                                     chunk_size=4000, iterations=500, test_subset=2000),
                                dict(_FAST_DATA, num_tasks=4, target_hidden=(32,), chunk_size=2000,
                                     hnet_hidden=(16, 16), iterations=30),
                                "a smaller net on a long sequence (30 tasks)"),
    },
    "split_mnist": {
        "paper": Preset(_SPLIT_MNIST_PAPER,
                        dict(_FAST_COMMON, target_hidden=(20,), embedding_dim=8,
                             chunk_embedding_dim=4, chunk_size=2000),
                        "SplitMNIST as in the paper"),
        "teaching": Preset(_SPLIT_TEACHING, dict(_FAST_DATA, iterations=40),
                           "SplitMNIST, all scenarios and baselines, in seconds (notebook 03)"),
        "teaching_replay": Preset(_SPLIT_REPLAY_TEACHING, dict(_FAST_DATA, iterations=40),
                                  "replay methods (HNET+TIR, HNET+R, DGR) on a laptop CPU (notebook 04)"),
        "teaching_plane": Preset(dict(_SPLIT_TEACHING, target_hidden=(20,), embedding_dim=2,
                                      chunk_embedding_dim=16),
                                 dict(_FAST_DATA, iterations=40),
                                 "2-D task embeddings and a small target: cheap accuracy maps"),
    },
    "split_cifar10_100": _cifar_presets("split_cifar10_100", 6, "Split CIFAR-10/100, as in the paper"),
    "split_cifar10": _cifar_presets("split_cifar10", 5, "Split CIFAR-10 (5 x 2 classes)"),
    "split_cifar10_substitute": {
        **_cifar_presets("split_cifar10_substitute", 6,
                         "the paper's settings on the CIFAR-10 substitute of Split CIFAR-10/100"),
        "teaching": Preset(_CIFAR_TEACHING,
                           dict(_FAST_CIFAR, benchmark="split_cifar10_substitute", num_tasks=3,
                                chunk_size=3000, hnet_hidden=(20,), augment=True),
                           "the CIFAR-10 substitute, Zenke net, small hypernetwork, on a laptop CPU "
                           "(notebook 05)"),
    },
}

#: ``--preset fast`` on the command line: the paper preset in fast mode.
FAST_ALIAS = "fast"


def preset_names(benchmark: str) -> list[str]:
    """Names of the presets available for ``benchmark`` (``"fast"``: the paper preset in fast mode)."""
    _check_choice("benchmark", benchmark, BENCHMARKS)
    return sorted([*PRESETS[benchmark], FAST_ALIAS])


def preset_config(benchmark: str, name: str = "paper", /, *, fast: bool = False,
                  **overrides: Any) -> ExperimentConfig:
    """The configuration of preset ``name`` for ``benchmark`` with ``overrides`` applied.

    ``fast=True`` applies the preset's fast-mode changes first (the one
    fast-mode rule of the package; notebooks pass ``fast=settings.fast_mode()``);
    the name ``"fast"`` means the ``"paper"`` preset in fast mode.
    ``overrides`` are field names of :class:`ExperimentConfig`. Scenario-dependent
    preset values (EWC/SI strengths) are resolved after the overrides, so
    ``preset_config("split_mnist", "paper", method="si", scenario=3)`` gets the
    class-incremental SI strength. The result is validated
    (:func:`validate_config`); an inconsistent override raises ``ValueError``.
    """
    _check_choice("benchmark", benchmark, BENCHMARKS)
    if name == FAST_ALIAS:
        name, fast = "paper", True
    if name not in PRESETS[benchmark]:
        raise ValueError(f"unknown preset {name!r} for benchmark {benchmark!r}; "
                         f"allowed: {preset_names(benchmark)}")
    _check_field_names(overrides)
    if overrides.get("benchmark", benchmark) != benchmark:
        raise ValueError(f"override benchmark={overrides['benchmark']!r} contradicts the preset's "
                         f"benchmark {benchmark!r}; pick the preset of that benchmark instead")
    preset = PRESETS[benchmark][name]
    values = {**preset.values, **(preset.fast if fast else {}), **overrides}
    scenario = values.get("scenario", ExperimentConfig.scenario)
    method = values.get("method", ExperimentConfig.method)
    for key, value in values.items():
        if isinstance(value, dict) and "*" in value:     # keyed by method, "*" for the others
            value = values[key] = value.get(method, value["*"])
        if isinstance(value, dict):                      # keyed by scenario
            if scenario not in value:
                raise ValueError(f"scenario must be one of {sorted(value)} for preset {name!r}, got {scenario!r}")
            values[key] = value[scenario]
    cfg = ExperimentConfig(**values)
    validate_config(cfg)
    return cfg


# ------------------------------------------------------------------------ validation


def _check_field_names(values: dict[str, Any]) -> None:
    unknown = sorted(set(values) - set(field_names()))
    if unknown:
        raise ValueError(f"unknown configuration field(s) {unknown}; allowed: {field_names()}")


def _check_choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def _check_positive(name: str, value: Any, allow_none: bool = False, zero_ok: bool = False) -> None:
    """A finite number > 0 (``zero_ok``: >= 0); NaN and infinity are refused."""
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero_ok):
        bound = ">= 0" if zero_ok else "> 0"
        raise ValueError(f"{name} must be a number {bound}{' or None' if allow_none else ''} "
                         f"(finite: not NaN or infinity), got {value!r}")


def scenario_problem(method: str, scenario: int, benchmark: str) -> str | None:
    """Why ``method`` cannot run ``scenario`` on ``benchmark`` (a sentence), or None if it can."""
    if benchmark == "regression" and scenario != 1:
        return ("benchmark 'regression' supports scenario 1 only (the tasks are regression "
                "problems without classes to share or infer)")
    if method in REPLAY_METHODS and benchmark not in REPLAY_BENCHMARKS:
        return (f"method {method!r} replays samples of a VAE with a Bernoulli (pixel) likelihood, "
                f"which needs flat inputs in [0, 1]; it supports the benchmarks "
                f"{list(REPLAY_BENCHMARKS)}, not {benchmark!r}")
    if method in REPLAY_METHODS and scenario == 1:
        return (f"method {method!r} is for scenarios 2 and 3 (the task is not given); with the "
                "task given (scenario 1) use method='hnet'")
    if method == "scratch" and scenario != 1:
        return ("method 'scratch' supports scenario 1 only: it keeps one separate network per "
                "task and needs the task identity to pick it")
    return None


def validate_config(cfg: ExperimentConfig) -> None:
    """Raise ``ValueError`` naming the field and what is allowed if ``cfg`` cannot run."""
    _check_choice("benchmark", cfg.benchmark, BENCHMARKS)
    _check_choice("method", cfg.method, METHODS)
    _check_choice("scenario", cfg.scenario, SCENARIOS)
    _check_choice("target", cfg.target, TARGETS)
    _check_choice("hnet_type", cfg.hnet_type, HNET_TYPES)
    _check_choice("regularizer", cfg.regularizer, REGULARIZERS)
    _check_choice("target_activation", cfg.target_activation, ACTIVATIONS)
    _check_choice("hnet_activation", cfg.hnet_activation, ACTIVATIONS)
    _check_choice("hnet_init", cfg.hnet_init, HNET_INITS)
    _check_choice("hnet_heads", cfg.hnet_heads, HNET_HEADS)
    if cfg.hnet_heads == "per_task" and (cfg.method in REPLAY_METHODS or cfg.benchmark == "regression"):
        raise ValueError("hnet_heads='per_task' (one output head per task) is implemented for "
                         "method='hnet' on a classification benchmark (the baselines do not read it), "
                         f"got method={cfg.method!r}, benchmark={cfg.benchmark!r}; "
                         "use hnet_heads='shared'")
    problem = scenario_problem(cfg.method, cfg.scenario, cfg.benchmark)
    if problem:
        raise ValueError(problem)
    _validate_replay_fields(cfg)
    check_num_tasks(cfg.benchmark, cfg.num_tasks)
    if cfg.benchmark in ("regression", "permuted_mnist", "split_mnist") and cfg.target != "mlp":
        raise ValueError(f"target {cfg.target!r} needs image inputs; benchmark {cfg.benchmark!r} "
                         "gives flat vectors: use target='mlp'")
    for name in ("target_hidden", "hnet_hidden"):
        sizes = getattr(cfg, name)
        if not isinstance(sizes, tuple) or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise ValueError(f"{name} must be a tuple of positive integers, got {sizes!r}")
    if cfg.target != "mlp" and cfg.target_hidden:
        raise ValueError(f"target_hidden is only used by target='mlp'; target {cfg.target!r} has a "
                         f"fixed architecture, so set target_hidden=() (got {cfg.target_hidden!r})")
    _check_positive("embedding_dim", cfg.embedding_dim)
    if cfg.hnet_type == "chunked":
        _check_positive("chunk_size", cfg.chunk_size)
        _check_positive("chunk_embedding_dim", cfg.chunk_embedding_dim)
    elif cfg.chunk_size is not None or cfg.chunk_embedding_dim is not None:
        raise ValueError("hnet_type='full' does not use chunk_size / chunk_embedding_dim "
                         f"(got {cfg.chunk_size!r} / {cfg.chunk_embedding_dim!r}); set both to None")
    _check_positive("beta", cfg.beta, zero_ok=True)
    _check_positive("reg_subset", cfg.reg_subset, allow_none=True)
    _check_positive("outlier_weight", cfg.outlier_weight, zero_ok=True)
    if cfg.outlier_weight > 0 and (cfg.method != "hnet" or cfg.benchmark == "regression"):
        raise ValueError("outlier_weight > 0 (mosaic outliers for HNET+ENT) needs method='hnet' on a "
                         f"classification benchmark, got method={cfg.method!r}, benchmark={cfg.benchmark!r}")
    _check_positive("lr", cfg.lr)
    if (isinstance(cfg.adam_beta1, bool) or not isinstance(cfg.adam_beta1, (int, float))
            or not 0 <= cfg.adam_beta1 < 1):
        raise ValueError(f"adam_beta1 must be a number in [0, 1), got {cfg.adam_beta1!r}")
    if (cfg.iterations is None) == (cfg.epochs is None):
        raise ValueError("set exactly one of iterations and epochs (the other None), got "
                         f"iterations={cfg.iterations!r}, epochs={cfg.epochs!r}")
    _check_positive("iterations", cfg.iterations, allow_none=True)
    _check_positive("epochs", cfg.epochs, allow_none=True)
    for name in ("batch_size", "eval_batch_size"):
        _check_positive(name, getattr(cfg, name))
    if not isinstance(cfg.augment, bool):
        raise ValueError(f"augment must be True or False, got {cfg.augment!r}")
    if cfg.augment and not cfg.benchmark.startswith("split_cifar"):
        raise ValueError(f"augment=True (random crop and flip) needs an image benchmark "
                         f"(split_cifar10, split_cifar10_100, split_cifar10_substitute), got {cfg.benchmark!r}")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or not 0 <= cfg.seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2**63 - 1] (torch's seed range), "
                         f"got {cfg.seed!r}")
    _check_positive("ewc_lambda", cfg.ewc_lambda, zero_ok=True)
    if (not isinstance(cfg.online_gamma, (int, float)) or isinstance(cfg.online_gamma, bool)
            or not 0.0 < cfg.online_gamma <= 1.0):
        raise ValueError(f"online_gamma must be in (0, 1], got {cfg.online_gamma!r}")
    _check_positive("fisher_samples", cfg.fisher_samples, allow_none=True)
    _check_positive("si_c", cfg.si_c, zero_ok=True)
    _check_positive("si_epsilon", cfg.si_epsilon)
    _check_positive("train_subset", cfg.train_subset, allow_none=True)
    if cfg.val_size is not None and (isinstance(cfg.val_size, bool) or not isinstance(cfg.val_size, int)
                                     or cfg.val_size < 0):
        raise ValueError("val_size must be an int >= 0 or None (the benchmark's default), "
                         f"got {cfg.val_size!r}")
    _check_positive("test_subset", cfg.test_subset, allow_none=True)
    if cfg.device is not None and not re.fullmatch(r"cpu|mps|cuda(:[0-9]+)?", str(cfg.device)):
        raise ValueError(f"device must be None (automatic), 'cpu', 'cuda', 'cuda:N' or 'mps', got {cfg.device!r}")


def _validate_replay_fields(cfg: ExperimentConfig) -> None:
    """The replay settings (used by :data:`REPLAY_METHODS`, checked for every method)."""
    for name in ("latent_dim", "replay_embedding_dim", "replay_chunk_embedding_dim",
                 "replay_chunk_size"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for name in ("encoder_hidden", "decoder_hidden", "replay_hnet_hidden"):
        sizes = getattr(cfg, name)
        if not isinstance(sizes, tuple) or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise ValueError(f"{name} must be a tuple of positive integers, got {sizes!r}")
    _check_choice("replay_hnet_activation", cfg.replay_hnet_activation, ACTIVATIONS)
    _check_positive("replay_beta", cfg.replay_beta, zero_ok=True)
    _check_positive("distill_temperature", cfg.distill_temperature)
    if cfg.replay_weight is not None and (isinstance(cfg.replay_weight, bool)
                                          or not isinstance(cfg.replay_weight, (int, float))
                                          or not 0.0 <= cfg.replay_weight < 1.0):
        raise ValueError(f"replay_weight (share of the replayed-data loss) must be in [0, 1) or "
                         f"None (t/(t+1) while learning task t), got {cfg.replay_weight!r}")
