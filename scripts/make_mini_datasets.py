"""(Re)build the small real dataset subsets shipped in ``data/`` from the offline mirror.

    HNET_DATA_MIRROR=/path/to/mirror python scripts/make_mini_datasets.py
    python scripts/make_mini_datasets.py --mirror ../shared/datasets --out data

* ``data/mnist-mini/``: a seeded random choice of ``--mnist-train`` training and
  ``--mnist-test`` test images per digit from the official MNIST files, written as
  gzipped IDX files with the official names (same format as the originals).
* ``data/cifar10-mini/cifar10-mini.tar.gz``: a seeded random choice of
  ``--cifar-train`` / ``--cifar-test`` JPEGs per class from the mirror's
  ``cifar10-jpeg.tar.gz``, copied byte for byte (no re-encoding), same layout
  (``train/<class>/NNNN.jpg``, ``test/<class>/NNNN.jpg``).

Each folder gets a ``SHA256SUMS`` manifest that the loaders check. The mirror
files are verified against their published checksums first. Selection: for each
split and class, the candidates are sorted (by index in the official file, or by
file name in the tarball) and ``torch.randperm`` with a generator seeded by
``--seed`` picks the subset, which is kept in sorted order. Output is
byte-reproducible (fixed gzip/tar timestamps and owners).
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import tarfile
from collections import defaultdict
from pathlib import Path

import torch


from hnet_utils import settings
from hnet_utils.data.datasets import (
    CIFAR10_JPEG_SHA256, CIFAR10_JPEG_TARBALL, CIFAR10_MINI, CIFAR10_MINI_TARBALL, MNIST_MD5,
    MNIST_MINI, read_idx, verify_file, write_checksums, write_idx,
)

FIX = "Point --mirror / HNET_DATA_MIRROR at an intact copy of the mirror."


def choose(candidates: list, k: int, seed: int) -> list:
    """Seeded random choice of ``k`` items of ``candidates``, returned in their original order."""
    if k > len(candidates):
        raise ValueError(f"asked for {k} items per class but only {len(candidates)} exist")
    picked = torch.randperm(len(candidates), generator=torch.Generator().manual_seed(seed))[:k]
    return [candidates[i] for i in sorted(picked.tolist())]


def build_mnist_mini(mirror: Path, out: Path, train_per_class: int = 250,
                     test_per_class: int = 50, seed: int = 0) -> Path:
    """Write ``out/mnist-mini/*.gz`` and its SHA256SUMS; returns the folder."""
    raw = mirror / "MNIST" / "raw"
    for name, md5 in MNIST_MD5.items():
        verify_file(raw / name, md5, "md5", FIX)
    folder = out / MNIST_MINI
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for split, per_class in (("train", train_per_class), ("t10k", test_per_class)):
        images = read_idx(raw / f"{split}-images-idx3-ubyte")
        labels = read_idx(raw / f"{split}-labels-idx1-ubyte")
        rows = sorted(i for digit in range(10)
                      for i in choose((labels == digit).nonzero().flatten().tolist(), per_class, seed))
        rows = torch.tensor(rows)
        for kind, tensor in (("images-idx3", images[rows]), ("labels-idx1", labels[rows])):
            name = f"{split}-{kind}-ubyte.gz"
            write_idx(folder / name, tensor)
            written.append(name)
    write_checksums(folder, written)
    return folder


def build_cifar10_mini(mirror: Path, out: Path, train_per_class: int = 200,
                       test_per_class: int = 50, seed: int = 0) -> Path:
    """Write ``out/cifar10-mini/cifar10-mini.tar.gz`` and its SHA256SUMS; returns the folder."""
    tarball = mirror / CIFAR10_JPEG_TARBALL
    verify_file(tarball, CIFAR10_JPEG_SHA256, "sha256", FIX)
    with tarfile.open(tarball, "r:gz") as tar:  # all 60,000 JPEGs: about 60 MB in memory
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
    groups = defaultdict(list)  # (split, class) -> sorted file names
    for name in sorted(files):
        split, cls, _ = name.split("/")
        groups[(split, cls)].append(name)
    per_class = {"train": train_per_class, "test": test_per_class}
    contents = {n: files[n] for (split, _), group in groups.items()
                for n in choose(group, per_class[split], seed)}

    folder = out / CIFAR10_MINI
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / CIFAR10_MINI_TARBALL, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(contents):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(contents[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(contents[name]))
    write_checksums(folder, [CIFAR10_MINI_TARBALL])
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=settings.mirror_dir(),
                        help="dataset mirror folder (default: $HNET_DATA_MIRROR)")
    parser.add_argument("--out", type=Path, default=settings.SHIPPED_DATA_DIR,
                        help="where mnist-mini/ and cifar10-mini/ go (default: <repo>/data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mnist-train", type=int, default=250, help="MNIST train images per digit")
    parser.add_argument("--mnist-test", type=int, default=50, help="MNIST test images per digit")
    parser.add_argument("--cifar-train", type=int, default=200, help="CIFAR-10 train images per class")
    parser.add_argument("--cifar-test", type=int, default=50, help="CIFAR-10 test images per class")
    args = parser.parse_args(argv)
    if args.mirror is None or not args.mirror.is_dir():
        parser.error(f"--mirror must be the dataset mirror folder (or set HNET_DATA_MIRROR), "
                     f"got {args.mirror}")
    mnist = build_mnist_mini(args.mirror, args.out, args.mnist_train, args.mnist_test, args.seed)
    cifar = build_cifar10_mini(args.mirror, args.out, args.cifar_train, args.cifar_test, args.seed)
    for folder in (mnist, cifar):
        size = sum(f.stat().st_size for f in folder.iterdir())
        print(f"wrote {folder} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
