"""Paths, fast mode and device selection shared by the whole package."""

from __future__ import annotations

import os
from pathlib import Path

import torch

#: Root of the repository (the folder holding ``hnet_utils/``).
REPO_ROOT = Path(__file__).resolve().parent.parent


#: Folder of the small real dataset subsets shipped with the repository
#: (``data/mnist-mini``, ``data/cifar10-mini``); independent of ``$HNET_DATA_DIR``.
SHIPPED_DATA_DIR = REPO_ROOT / "data"


def data_dir() -> Path:
    """Folder for the dataset cache: ``$HNET_DATA_DIR`` or ``<repo>/data``."""
    return Path(os.environ.get("HNET_DATA_DIR", REPO_ROOT / "data"))


def mirror_dir() -> Path | None:
    """Dataset mirror from ``$HNET_DATA_MIRROR``, or ``None`` when unset/empty."""
    value = os.environ.get("HNET_DATA_MIRROR", "").strip()
    return Path(value) if value else None


def _env_flag(name: str) -> bool:
    """Read a yes/no environment variable: unset/0/false/no -> False, 1/true/yes -> True."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name} must be one of 0/1/true/false/yes/no, got {value!r}")


def fast_mode() -> bool:
    """True when ``$HNET_FAST`` is set to 1/true/yes (CI and quick checks).

    Notebooks and scripts use a small configuration in fast mode and their full,
    default configuration otherwise.
    """
    return _env_flag("HNET_FAST")


def offline() -> bool:
    """True when ``$HNET_OFFLINE`` is set to 1/true/yes: never try to download datasets."""
    return _env_flag("HNET_OFFLINE")


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
