"""Writing output files safely: check the path before a run, reserve it, write atomically after it.

A run may take hours, so an output path is checked before any data is loaded
(:func:`check_output_path`: a file name in a writable folder, a name short
enough for the file system, room on the disk), reserved for the run so that a
second run cannot write the same file (:class:`Reservation`), and written to a
temporary file in the same folder that is then renamed over the destination
(:func:`atomic_write`): an interrupted or failed write leaves the previous file
as it was, never half a file, and a failure names its real cause
(:class:`OutputWriteError`, e.g. "No space left on device").
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Callable

#: Free space an output folder must have before a run starts, beyond the file's own size.
MIN_FREE_BYTES = 1 << 20
#: Characters of the destination's name kept in the temporary and lock files' names
#: (``.<name>.XXXXXXXX.tmp`` must fit the file system's limit of 255 bytes).
_NAME_KEPT = 100


class OutputPathError(ValueError):
    """An output path cannot be written (a folder, a missing folder, an existing file...)."""


class OutputWriteError(OSError):
    """Writing an output file failed; the message names the file and the real cause."""

    def __str__(self) -> str:
        return str(self.strerror)


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _temp_prefix(path: Path) -> str:
    """Prefix of the temporary files next to ``path``: short enough for any legal name."""
    return f".{path.name[:_NAME_KEPT]}."


def check_output_path(path: str | Path, what: str, overwrite: bool = False,
                      option: str = "--overwrite", size_bytes: int = 0) -> Path:
    """Raise :class:`OutputPathError` unless ``path`` can be written now; return it as a Path.

    Refused: an empty path, a directory, a missing or unwritable parent folder,
    a name longer than the file system allows, a folder with less free space
    than ``size_bytes`` (the file's expected size) plus :data:`MIN_FREE_BYTES`,
    and an existing file unless ``overwrite``. Nothing is created or changed on
    disk (writability is probed with a temporary file of the name
    :func:`atomic_write` will use, removed at once). ``what`` names the file in
    messages ("results file", "checkpoint").
    """
    if str(path).strip() == "":
        raise OutputPathError(f"the {what} path is empty; give a file name")
    path = Path(path)
    parent = path.parent
    if parent.is_dir() and len(os.fsencode(path.name)) > _name_max(parent):
        raise OutputPathError(f"cannot write the {what} {path}: its name has "
                              f"{len(os.fsencode(path.name))} bytes, this file system allows "
                              f"{_name_max(parent)}")
    if path.is_dir():
        raise OutputPathError(f"{what} path {path} is a folder; give a file name, e.g. {path / 'run'}"
                              + (".json" if "results" in what else ".pt"))
    if not parent.is_dir():
        raise OutputPathError(f"cannot write the {what} {path}: folder {parent} does not exist "
                              "(create it first)")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=_temp_prefix(path), suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputPathError(f"cannot write the {what} {path}: folder {parent} is not writable "
                              f"({err.strerror})") from None
    free = shutil.disk_usage(parent).free
    if free < size_bytes + MIN_FREE_BYTES:
        raise OutputPathError(f"cannot write the {what} {path}: folder {parent} has "
                              f"{_mib(free)} free, the {what} needs about {_mib(size_bytes)} "
                              f"(plus {_mib(MIN_FREE_BYTES)} to spare)")
    if path.exists() and not path.is_file():
        raise OutputPathError(f"{what} path {path} exists and is not a regular file (a device, a "
                              "pipe or a socket); give the path of a file")
    if path.exists() and not overwrite:
        raise OutputPathError(f"{what} {path} already exists; pass {option} to replace it, "
                              "or choose another path")
    return path


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def check_distinct(paths: dict[str, str | None]) -> None:
    """Raise :class:`OutputPathError` if two of the named output paths are one file.

    ``paths`` maps an option (``"--out"``) to its path or None (not given).
    """
    seen: dict[Path, str] = {}
    for option, path in paths.items():
        if not path:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise OutputPathError(f"{seen[key]} and {option} name the same file {path}; "
                                  "give each output its own path")
        seen[key] = option


class Reservation:
    """Hold ``path`` for one run: a second run that asks for the same file is refused at its start.

    An advisory lock (``fcntl.flock``) on ``.<name>.lock`` beside ``path``; the
    operating system releases it when the process ends, however it ends, so a
    killed run never blocks the next one. Use as a context manager::

        with Reservation(path, "results file"):
            ...train, then write path...
    """

    def __init__(self, path: str | Path, what: str) -> None:
        self.path, self.what = Path(path), what
        self.lock_path = self.path.parent / f"{_temp_prefix(self.path)}lock"
        self._fd: int | None = None

    def __enter__(self) -> "Reservation":
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputPathError(f"another run is writing the {self.what} {self.path} now "
                                      f"(it holds {self.lock_path}); wait for it, or choose "
                                      "another path") from None
            try:  # the file we locked must still be the one at lock_path (not one just released)
                same = os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return self
            os.close(fd)

    def __exit__(self, *exc) -> None:
        assert self._fd is not None, "released twice"
        self.lock_path.unlink(missing_ok=True)  # still ours: the lock is held until close
        os.close(self._fd)
        self._fd = None


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], replace: bool = True,
                 what: str = "file") -> Path:
    """Write ``path`` through ``write(file)`` into a temporary file, then rename it over ``path``.

    The temporary file lies in the same folder (a rename within one file system
    is atomic); if ``write`` fails or is interrupted, it is removed and
    ``path`` keeps its previous content. ``replace=False`` refuses to replace a
    file that appeared meanwhile (:class:`OutputPathError`). A failing write of
    the file system (full disk, quota, ...) raises :class:`OutputWriteError`
    naming ``what``, the file and the cause.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
        os.chmod(tmp, 0o666 & ~_umask())  # as a plain open() would (mkstemp gives 0o600)
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _rename_no_replace(tmp, path)
    except FileExistsError:
        raise OutputPathError(f"{what} {path} appeared while this run was writing it; "
                              "it was left as it is") from None
    except OSError as err:
        if isinstance(err, OutputWriteError):
            raise
        cause = err.strerror or os.strerror(err.errno or errno.EIO)
        raise OutputWriteError(err.errno, f"cannot write the {what} {path}: {cause}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def _rename_no_replace(tmp: str, path: Path) -> None:
    """Move ``tmp`` to ``path`` unless ``path`` exists (``FileExistsError``)."""
    try:
        os.link(tmp, path)  # atomic: fails if path exists, never replaces another run's file
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if path.exists():  # a file system without hard links: check, then rename
            raise FileExistsError(errno.EEXIST, "exists", str(path)) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str, replace: bool = True,
                      what: str = "file") -> Path:
    """:func:`atomic_write` of a UTF-8 text."""
    return atomic_write(path, lambda file: file.write(text.encode("utf-8")), replace, what)


def atomic_write_bytes(path: str | Path, data: bytes, replace: bool = True,
                       what: str = "file") -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda file: file.write(data), replace, what)


def torch_bytes(content) -> bytes:
    """``torch.save(content)`` into memory: a later write to disk then fails with the disk's own
    error (``torch.save`` into a full file reports only "unexpected pos")."""
    import torch

    buffer = io.BytesIO()
    torch.save(content, buffer)
    return buffer.getvalue()
