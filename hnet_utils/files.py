"""Writing output files safely: check the path before a run, write atomically after it.

A run may take hours, so an output path is checked before any data is loaded
(:func:`check_output_path`), and a file is written to a temporary file in the
same folder and then renamed over the destination (:func:`atomic_write`): an
interrupted write leaves the previous file as it was, never half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable


class OutputPathError(ValueError):
    """An output path cannot be written (a folder, a missing folder, an existing file...)."""


def check_output_path(path: str | Path, what: str, overwrite: bool = False,
                      option: str = "--overwrite") -> Path:
    """Raise :class:`OutputPathError` unless ``path`` can be written now; return it as a Path.

    Refused: a directory, a missing or unwritable parent folder, and an
    existing file unless ``overwrite``. Nothing is created or changed on disk
    (writability is probed with a temporary file that is removed at once).
    ``what`` names the file in messages ("results file", "checkpoint").
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} path {path} is a folder; give a file name, e.g. {path / 'run'}"
                              + (".json" if "results" in what else ".pt"))
    parent = path.parent
    if not parent.is_dir():
        raise OutputPathError(f"cannot write the {what} {path}: folder {parent} does not exist "
                              "(create it first)")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise OutputPathError(f"cannot write the {what} {path}: folder {parent} is not writable "
                              f"({err.strerror})") from None
    if path.exists() and not overwrite:
        raise OutputPathError(f"{what} {path} already exists; pass {option} to replace it, "
                              "or choose another path")
    return path


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write ``path`` through ``write(file)`` into a temporary file, then rename it over ``path``.

    The temporary file lies in the same folder (a rename within one file system
    is atomic); if ``write`` fails or is interrupted, it is removed and
    ``path`` keeps its previous content.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # as a plain open() would (mkstemp gives 0o600)
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write` of a UTF-8 text."""
    return atomic_write(path, lambda file: file.write(text.encode("utf-8")))
