"""Results of a continual-learning run: JSON files and model checkpoints.

:class:`ContinualResult` is a small object holding the metric matrix and its
summaries, the full configuration and the software versions. It saves to and
loads from JSON. Trained models are attached (``result.hnet``,
``result.target``, ...) but never written to JSON; use :func:`save_checkpoint`
/ :func:`load_checkpoint` for them.
"""

from __future__ import annotations

import json
import platform
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hnet_utils import __version__
from hnet_utils.continual.metrics import METRICS, summarize
from hnet_utils.continual.learners import build_hnet, build_target
from hnet_utils.experiments.configs import ARCHITECTURE_FIELDS, REPLAY_METHODS, ExperimentConfig
from hnet_utils.files import atomic_write_bytes, atomic_write_text, torch_bytes
from hnet_utils.settings import get_device


def software_versions() -> dict[str, str]:
    """Versions of python, torch, torchvision, hnet_utils and the platform string."""
    try:
        import torchvision

        tv = torchvision.__version__
    except ImportError:  # pragma: no cover - torchvision is a requirement
        tv = "not installed"
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": tv,
        "hnet_utils": __version__,
        "platform": platform.platform(),
    }


@dataclass
class ContinualResult:
    """Outcome of :func:`hnet_utils.continual.training.train_continual`.

    ``matrix[i][j]`` is the metric on task ``j`` after training task ``i``
    (``None`` for ``j > i``). ``metric`` is ``"accuracy"`` (percent) or ``"mse"``.
    ``task_inference_accuracy`` (percent per task, after the last task) is set
    when the task identity was inferred (HNET+ENT in scenarios 2 and 3).
    ``data`` describes the data actually used: its ``source`` (mirror, shipped
    subset, ...), input shape, classes per task and samples per task.
    ``load_average``: the machine's 1-minute load average, read at the end of
    every task's training and averaged (``None`` where the OS does not tell):
    what else ran while ``wall_time_s`` was measured.
    """

    config: dict[str, Any]
    metric: str
    matrix: list[list[float | None]]
    wall_time_s: float
    device: str
    versions: dict[str, str] = field(default_factory=software_versions)
    task_inference_accuracy: list[float] | None = None
    data: dict[str, Any] | None = None
    load_average: float | None = None
    final: list[float] = field(init=False)
    during: list[float] = field(init=False)
    average_final: float = field(init=False)
    backward_transfer: float = field(init=False)
    # trained models, attached by the training loop; not part of the JSON
    hnet: Any = field(default=None, repr=False, compare=False)
    target: Any = field(default=None, repr=False, compare=False)
    task_targets: Any = field(default=None, repr=False, compare=False)
    learner: Any = field(default=None, repr=False, compare=False)  # all models: learner.models()

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}, got {self.metric!r}")
        summary = summarize(self.matrix)
        self.final = summary["final"]
        self.during = summary["during"]
        self.average_final = summary["average_final"]
        self.backward_transfer = summary["backward_transfer"]

    @property
    def average_task_inference_accuracy(self) -> float | None:
        """Mean of :attr:`task_inference_accuracy` over tasks, or None when not applicable."""
        if self.task_inference_accuracy is None:
            return None
        return sum(self.task_inference_accuracy) / len(self.task_inference_accuracy)

    def to_dict(self) -> dict[str, Any]:
        """The JSON content: configuration, metrics, timing, device and versions."""
        return {
            "config": self.config,
            "metric": self.metric,
            "matrix": self.matrix,
            "during": self.during,
            "final": self.final,
            "average_final": self.average_final,
            "backward_transfer": self.backward_transfer,
            "task_inference_accuracy": self.task_inference_accuracy,
            "data": self.data,
            "wall_time_s": self.wall_time_s,
            "load_average": self.load_average,
            "device": self.device,
            "versions": self.versions,
        }

    def save(self, path: str | Path, replace: bool = True) -> Path:
        """Write :meth:`to_dict` as indented JSON to ``path`` (folders are created).

        The write is atomic: an interrupted save leaves the previous file intact.
        ``replace=False`` never replaces an existing file (``files.atomic_write``).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(path, self.to_json(), replace, what="results file")

    def to_json(self) -> str:
        """:meth:`to_dict` as the indented JSON text of a results file."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def load(cls, path: str | Path) -> "ContinualResult":
        """Read a result written by :meth:`save` (models are not restored)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no results file at {path}")
        data = json.loads(path.read_text())
        missing = [k for k in ("config", "metric", "matrix", "wall_time_s", "device", "versions")
                   if k not in data]
        if missing:
            raise ValueError(f"{path} is not a results file: missing {missing}")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ContinualResult":
        """The inverse of :meth:`to_dict` (the summaries are recomputed from the matrix)."""
        return cls(config=data["config"], metric=data["metric"], matrix=data["matrix"],
                   wall_time_s=data["wall_time_s"], device=data["device"],
                   versions=data["versions"],
                   task_inference_accuracy=data.get("task_inference_accuracy"),
                   data=data.get("data"), load_average=data.get("load_average"))

    @property
    def experiment_config(self) -> ExperimentConfig:
        """:attr:`config` as an :class:`~hnet_utils.experiments.configs.ExperimentConfig`."""
        return ExperimentConfig.from_dict(self.config)


# ----------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, config: ExperimentConfig, models: dict[str, Any],
                    extra: dict[str, Any] | None = None, replace: bool = True) -> Path:
    """Save model state dicts with the configuration that built them.

    ``models`` maps a name to an ``nn.Module`` or a list of modules (e.g.
    ``{"hnet": h, "target": net}`` or ``{"task_targets": [net0, net1]}``).
    ``extra`` holds further tensors/numbers (e.g. the number of learned tasks).
    The file loads with ``torch.load(..., weights_only=True)``; it is written
    atomically (an interrupted save leaves the previous file intact; a full disk
    is reported as such). ``replace=False`` never replaces an existing file.
    """
    states: dict[str, Any] = {}
    for name, model in models.items():
        if isinstance(model, (list, tuple)):
            states[name] = [m.state_dict() for m in model]
        elif model is not None:
            states[name] = model.state_dict()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {"config": config.to_dict(), "states": states, "extra": extra or {}}
    return atomic_write_bytes(path, torch_bytes(content), replace, what="checkpoint")


class CheckpointError(ValueError):
    """A file that should be a checkpoint cannot be read as one (the message names the file)."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw content of a checkpoint (``config`` dict, ``states``, ``extra``), loaded safely.

    Only tensors and plain Python values are loaded (``weights_only=True``); a
    missing file raises ``FileNotFoundError``, any file that is not a readable
    checkpoint (truncated, another format, arbitrary pickled objects) a
    :class:`CheckpointError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # torch's warnings about foreign pickles: ours follows
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        # torch's own message may advise weights_only=False, which would run code from the file
        raise CheckpointError(
            f"cannot read checkpoint {path}: it is truncated, corrupt or not a checkpoint written "
            f"by hnet_utils ({type(err).__name__}); train again with --checkpoint to write a new one"
        ) from None
    if not isinstance(data, dict) or not {"config", "states"} <= set(data):
        raise CheckpointError(f"{path} is not a checkpoint written by save_checkpoint (no "
                              "'config' and 'states'); train again with --checkpoint to write one")
    return data


def architecture_differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Human-readable ``field: stored X, expected Y`` lines for differing architecture fields."""

    def norm(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v

    return [f"{k}: checkpoint has {norm(stored.get(k))!r}, expected {norm(wanted.get(k))!r}"
            for k in ARCHITECTURE_FIELDS if norm(stored.get(k)) != norm(wanted.get(k))]


def load_state_checked(module: torch.nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    """``module.load_state_dict(state)`` with a ``ValueError`` naming every mismatch."""
    own = module.state_dict()
    problems = [f"missing {k}" for k in own if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    problems += [f"{k}: checkpoint shape {tuple(state[k].shape)}, model shape {tuple(v.shape)}"
                 for k, v in own.items() if k in state and state[k].shape != v.shape]
    if problems:
        raise ValueError(f"checkpoint does not fit {name} (different architecture): "
                         + "; ".join(problems))
    module.load_state_dict(state)


def load_checkpoint(path: str | Path, config: ExperimentConfig | None = None,
                    models: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load a checkpoint, checking that it fits before touching any model.

    - ``config``: the architecture fields of this configuration must equal the
      stored ones, else ``ValueError`` listing each differing field.
    - ``models``: modules (or lists of modules) to load the stored states into,
      by name; a shape or key mismatch raises ``ValueError`` naming it.

    Returns the raw checkpoint dict (``config``, ``states``, ``extra``).
    """
    data = read_checkpoint(path)
    if config is not None:
        diffs = architecture_differences(data["config"], config.to_dict())
        if diffs:
            raise ValueError(f"checkpoint {path} was trained with another architecture: "
                             + "; ".join(diffs))
    for name, model in (models or {}).items():
        if name not in data["states"]:
            raise ValueError(f"checkpoint {path} has no {name!r}; it holds {sorted(data['states'])}")
        state = data["states"][name]
        if isinstance(model, (list, tuple)):
            if len(model) != len(state):
                raise ValueError(f"checkpoint holds {len(state)} {name}, got {len(model)} modules")
            for i, (m, s) in enumerate(zip(model, state)):
                load_state_checked(m, s, f"{name}[{i}]")
        else:
            load_state_checked(model, state, name)
    return data


# ------------------------------------------------------- checkpoints of a whole run


def save_run_checkpoint(result: ContinualResult, path, replace: bool = True) -> Path:
    """Save the trained models of ``result`` with its configuration (see :func:`load_run`)."""
    cfg = ExperimentConfig.from_dict(result.config)
    if result.task_targets is not None:
        models = {"task_targets": list(result.task_targets)}
    elif cfg.method in REPLAY_METHODS:  # classifier(s), task-inference net and generator
        models = result.learner.models()
    elif cfg.method == "hnet":
        models = {"hnet": result.hnet}  # the target's own weights are never used (buffers: below)
    else:
        models = {"target": result.target}
    extra = {"data": {k: result.data[k] for k in ("kind", "input_shape", "classes_per_task")},
             "num_learned": len(result.matrix),
             # the results JSON of the run, so that a finished run need not be trained again
             "result": json.loads(json.dumps(result.to_dict()))}
    if cfg.method == "hnet":  # keep only the target's buffers (per-task BN statistics)
        extra["target_buffers"] = {name: b.detach().cpu() for name, b in result.target.named_buffers()}
    return save_checkpoint(path, cfg, models, extra, replace)


def stored_result(raw: dict[str, Any]) -> ContinualResult | None:
    """The :class:`ContinualResult` stored in a run checkpoint (:func:`read_checkpoint`), if any."""
    data = raw.get("extra", {}).get("result")
    if data is None:  # checkpoints written before results were stored in them
        return None
    return ContinualResult.from_dict(data)


def load_run(path, config: ExperimentConfig | None = None, device: str | None = "cpu") -> dict:
    """Rebuild the models saved by :func:`save_run_checkpoint`.

    If ``config`` is given, its architecture must match the checkpoint's, else
    ``ValueError`` names every differing field. Returns ``{"config": cfg,
    "hnet": ..., "target": ..., "task_targets": ..., "num_learned": K, "data": ...}`` (absent
    models are None; ``data``: what the run was trained and tested on, None in older files).
    """
    raw = read_checkpoint(path)
    if not {"data", "num_learned"} <= set(raw["extra"]):
        raise CheckpointError(f"{path} holds models but not a whole run (it was not written by "
                              "save_run_checkpoint / --checkpoint); load it with load_checkpoint")
    stored_cfg = ExperimentConfig.from_dict(raw["config"])
    data, learned = raw["extra"]["data"], raw["extra"]["num_learned"]
    regression = data["kind"] == "regression"

    def target() -> torch.nn.Module:
        return build_target(stored_cfg, tuple(data["input_shape"]), data["classes_per_task"],
                            regression)

    result = raw["extra"].get("result") or {}
    out = {"config": stored_cfg, "hnet": None, "target": None, "task_targets": None,
           "num_learned": learned, "data": result.get("data")}
    if stored_cfg.method in REPLAY_METHODS:
        from hnet_utils.continual.replay import rebuild_models

        models = rebuild_models(stored_cfg, data, learned)
        out.update(models)
    elif "task_targets" in raw["states"]:
        out["task_targets"] = [target() for _ in range(learned)]
        models = {"task_targets": out["task_targets"]}
    else:
        out["target"] = target()
        models = {"target": out["target"]} if "target" in raw["states"] else {}
        if stored_cfg.method == "hnet":
            out["hnet"] = build_hnet(stored_cfg, out["target"])
            for _ in range(learned):
                out["hnet"].add_task()
            models["hnet"] = out["hnet"]
    load_checkpoint(path, config=config, models=models)
    if "target_buffers" in raw["extra"]:  # an hnet run: the target holds only its buffers
        buffers = dict(out["target"].named_buffers())
        stored = raw["extra"]["target_buffers"]
        if set(stored) != set(buffers) or any(stored[k].shape != buffers[k].shape for k in stored):
            raise ValueError(f"checkpoint {path}: its target buffers do not fit the target network "
                             "(different architecture)")
        for name, value in stored.items():
            buffers[name].copy_(value)
    for key in out:
        if isinstance(out[key], torch.nn.Module):
            out[key].to(get_device(device)).eval()
    for net in out["task_targets"] or []:
        net.to(get_device(device)).eval()
    return out
