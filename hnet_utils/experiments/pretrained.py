"""Pretrained runs shipped with the course: small checkpoints made by our command line.

Runs longer than a notebook may take (notebook 05's Split CIFAR runs) are
trained in the background with ``python -m hnet_utils.run ... --checkpoint
results/models/<name>.pt`` and committed beside their results JSON. Their
sha256 sums are listed in ``results/models/SHA256SUMS``; :func:`load_pretrained`
checks the sum before it loads anything (with ``weights_only=True``, through
:func:`~hnet_utils.experiments.results.load_run`), so a truncated or replaced
file is a clear error instead of a model that quietly differs.

    run = load_pretrained("split_cifar10_substitute_hnet_cl1")
    run["hnet"], run["target"], run["config"]

After training a new checkpoint: ``python -m hnet_utils.experiments.pretrained``
rewrites the list of sums from the files present.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hnet_utils import settings
from hnet_utils.data.datasets import file_hash
from hnet_utils.experiments.results import load_run
from hnet_utils.files import atomic_write_text

#: Where the pretrained checkpoints and their sums live.
MODELS_DIR = settings.REPO_ROOT / "results" / "models"
#: ``<sha256>  <file name>`` per line, as ``sha256sum`` writes it.
SUMS_FILE = "SHA256SUMS"


def read_sums(folder: Path = MODELS_DIR) -> dict[str, str]:
    """``{file name: sha256}`` from ``folder/SHA256SUMS`` (empty when there is none)."""
    path = Path(folder) / SUMS_FILE
    if not path.is_file():
        return {}
    sums = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ValueError(f"{path}, line {number}: expected '<sha256>  <file>', got {line!r}")
        sums[parts[1]] = parts[0]
    return sums


def verified_path(name: str, folder: Path = MODELS_DIR) -> Path:
    """The checkpoint ``folder/<name>.pt`` after checking its sha256 against the list.

    Raises ``FileNotFoundError`` (no file, or no sum listed for it) or
    ``ValueError`` (the file's sum differs), each naming the file and the fix.
    """
    folder = Path(folder)
    path = folder / f"{name}.pt"
    known = sorted(p.stem for p in folder.glob("*.pt")) if folder.is_dir() else []
    if not path.is_file():
        raise FileNotFoundError(f"no pretrained run {name!r} in {folder}; available: {known or 'none'}")
    if not (folder / SUMS_FILE).is_file():
        raise FileNotFoundError(
            f"the list of sha256 sums {folder / SUMS_FILE} is missing, so {path} cannot be "
            f"checked; restore the list from the repository (git checkout -- {folder / SUMS_FILE}). "
            "Do not write a new list from the files present: it would bless a damaged file")
    sums = read_sums(folder)
    if path.name not in sums:
        raise FileNotFoundError(f"{path} has no sha256 in {folder / SUMS_FILE}; run "
                                "`python -m hnet_utils.experiments.pretrained` after training it")
    actual = file_hash(path, "sha256")
    if actual != sums[path.name]:
        raise ValueError(f"{path} is damaged or was replaced: its sha256 is {actual}, the list says "
                         f"{sums[path.name]}. Restore it (git checkout -- {path.name}) or retrain it "
                         "with the command in results/README.md")
    return path


def load_pretrained(name: str, device: str | None = "cpu", folder: Path = MODELS_DIR) -> dict:
    """The models of the pretrained run ``name`` (checked, see :func:`verified_path`), as
    :func:`~hnet_utils.experiments.results.load_run` returns them."""
    return load_run(verified_path(name, folder), device=device)


def write_sums(folder: Path = MODELS_DIR) -> Path:
    """Rewrite ``folder/SHA256SUMS`` from the ``*.pt`` files present (atomically)."""
    folder = Path(folder)
    lines = [f"{file_hash(p, 'sha256')}  {p.name}" for p in sorted(folder.glob("*.pt"))]
    return atomic_write_text(folder / SUMS_FILE, "\n".join(lines) + "\n")


if __name__ == "__main__":
    written = write_sums(Path(sys.argv[1]) if len(sys.argv) > 1 else MODELS_DIR)
    print(written.read_text(), end="")
