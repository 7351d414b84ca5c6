"""Resuming an interrupted run after its last finished task.

``train_continual(cfg, resume_file=path)`` writes, after every task, what the
rest of the run depends on: the learner's state (``state_dict`` of the
learner: hypernetwork and embeddings, or the target network, EWC / SI terms,
the networks trained from scratch), the accuracy matrix so far, the state of
every random number generator and of every batch sampler. The file is
replaced atomically, so an interruption leaves the previous task's state. A
later call with the same configuration and file starts at the next task and
ends with the same results as a run that was never interrupted (the tests
check this). ``python -m hnet_utils.reproduce`` uses it.

The file holds tensors and plain values only and loads with ``weights_only=True``.
Methods whose learner has no ``state_dict`` (the replay methods) cannot resume:
:func:`can_resume` says so before any training.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from hnet_utils.data.benchmarks import describe_data, same_data
from hnet_utils.experiments.configs import REPLAY_METHODS, ExperimentConfig
from hnet_utils.files import atomic_write_bytes, torch_bytes


def can_resume(learner) -> bool:
    """True if ``learner`` can save and restore its state between tasks."""
    return hasattr(learner, "state_dict") and hasattr(learner, "load_state_dict")


def can_resume_method(method: str) -> bool:
    """True if runs of ``method`` can resume (before any learner is built): all but replay."""
    return method not in REPLAY_METHODS


def _comparable(cfg: ExperimentConfig | dict) -> dict:
    data = cfg.to_dict() if isinstance(cfg, ExperimentConfig) else dict(cfg)
    data.pop("device", None)  # a run may resume on another device
    return data


def save_progress(path: Path, cfg: ExperimentConfig, data: dict, tasks_done: int, matrix: list,
                  inferred: list, wall_time_s: float, generator: torch.Generator, samplers: list,
                  learner) -> Path:
    """Write the state after ``tasks_done`` finished tasks to ``path`` (atomically).

    ``data`` describes the data the run trains on (source, sizes: the ``data``
    of its results); a resume on other data is refused (:func:`load_progress`).
    """
    content: dict[str, Any] = {
        "config": cfg.to_dict(), "data": data, "tasks_done": tasks_done, "matrix": matrix,
        "inferred": inferred,
        "wall_time_s": wall_time_s, "learner": learner.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "generator": generator.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        "samplers": [s.state() for s in samplers],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, torch_bytes(content), what="resume file")


def load_progress(path: Path, cfg: ExperimentConfig, data: dict) -> dict | None:
    """The state saved in ``path`` for ``cfg`` on ``data``, or None when there is no such file.

    A file of another configuration, of a run on other data (another source or
    other sizes: e.g. the run started on the full dataset and the mirror is gone
    now), or one that cannot be read, is a ``ValueError`` naming it: it is never
    used, and never silently replaced.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot read the resume file {path} ({type(err).__name__}); delete it "
                         "to start the run from its first task") from None
    if not isinstance(state, dict) or "tasks_done" not in state:
        raise ValueError(f"{path} is not a resume file written by train_continual; delete it or "
                         "choose another resume_file")
    if _comparable(state["config"]) != _comparable(cfg):
        diff = sorted(k for k, v in _comparable(cfg).items() if state["config"].get(k) != v)
        raise ValueError(f"the resume file {path} belongs to another configuration (differs in "
                         f"{', '.join(diff)}); delete it to start this run from its first task")
    if not same_data(state.get("data"), data):
        raise ValueError(
            f"the run saved in {path} was trained on other data ({describe_data(state.get('data'))}) "
            f"than it would continue on now ({describe_data(data)}); make the same data available "
            "again (e.g. HNET_DATA_MIRROR) to resume, or delete the file to start anew")
    return state


def restore(state: dict, generator: torch.Generator, samplers: list, learner) -> None:
    """Put the learner, the generators and the samplers back as they were after the saved task."""
    learner.load_state_dict(state["learner"], state["tasks_done"])
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    generator.set_state(state["rng"]["generator"])
    assert len(samplers) == len(state["samplers"]), "one sampler per task"
    for sampler, sampler_state in zip(samplers, state["samplers"]):
        sampler.set_state(sampler_state)
