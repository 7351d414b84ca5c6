"""Paths, fast mode and device selection shared by the whole package."""

from __future__ import annotations

import os
from pathlib import Path

import torch

#: Root of the repository (the folder holding ``hnet_utils/``).
REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Folder for the dataset cache: ``$HNET_DATA_DIR`` or ``<repo>/data``."""
    return Path(os.environ.get("HNET_DATA_DIR", REPO_ROOT / "data"))


def mirror_dir() -> Path | None:
    """Dataset mirror from ``$HNET_DATA_MIRROR``, or ``None`` when unset/empty."""
    value = os.environ.get("HNET_DATA_MIRROR", "").strip()
    return Path(value) if value else None


def fast_mode() -> bool:
    """True when ``$HNET_FAST`` is set to 1/true/yes (CI and quick checks).

    Notebooks and scripts use a small configuration in fast mode and their full,
    default configuration otherwise.
    """
    value = os.environ.get("HNET_FAST", "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"HNET_FAST must be one of 0/1/true/false/yes/no, got {value!r}")


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
