"""Shared pytest fixtures.

Every test runs with ``HNET_OFFLINE=1`` (no download attempts) and with
``HNET_DATA_DIR`` pointing at a temporary folder shared by the test session, so
tests never use the network and never write into the real ``data/`` cache.
``HNET_DATA_MIRROR`` is left as it is: CI sets it when the offline mirror exists,
and tests then read MNIST from it (read-only). Tests that must not see it use
the ``no_mirror`` fixture. Torch runs single-threaded in tests (see below).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from hnet_utils.data import datasets

#: The mirror as set when the session started (fixtures below may unset it).
REAL_MIRROR = os.environ.get("HNET_DATA_MIRROR", "").strip() or None

# Tests use small tensors, which gain nothing from several threads; on a machine whose few
# cores are shared with other processes, multi-threaded small ops wait on each other
# (measured here: tests/test_benchmarks.py 27 s with 2 threads, 7 s with 1).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_data(monkeypatch, tmp_path_factory):
    """No downloads, and a session-wide temporary data cache instead of data/."""
    monkeypatch.setenv("HNET_OFFLINE", "1")
    monkeypatch.setenv("HNET_DATA_DIR", str(tmp_path_factory.getbasetemp() / "data-cache"))


@pytest.fixture
def tmp_data_dir(monkeypatch, tmp_path) -> Path:
    """A fresh, empty data cache for this test only."""
    folder = tmp_path / "data-cache"
    folder.mkdir()
    monkeypatch.setenv("HNET_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def no_mirror(monkeypatch):
    """Run as if no dataset mirror existed."""
    monkeypatch.delenv("HNET_DATA_MIRROR", raising=False)


@pytest.fixture
def real_mirror() -> Path:
    """The real offline mirror; the test is skipped (with the reason) when it is absent."""
    if REAL_MIRROR is None or not Path(REAL_MIRROR).is_dir():
        pytest.skip("HNET_DATA_MIRROR is not set to a folder: real-mirror test skipped "
                    "(.ci/run sets it when ../shared/datasets exists)")
    return Path(REAL_MIRROR)


@pytest.fixture(scope="session")
def mnist_mini() -> datasets.ImageData:
    """The shipped MNIST-mini subset (2,500 train / 500 test images)."""
    return datasets.load_shipped_mnist()


@pytest.fixture(scope="session")
def cifar10_mini() -> datasets.ImageData:
    """The shipped CIFAR-10-mini subset of the JPEG mirror (2,000 train / 500 test images)."""
    return datasets.load_shipped_cifar10()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def temp_mirror(monkeypatch, tmp_path, tmp_data_dir, mnist_mini) -> Path:
    """A mirror folder built from the shipped subsets, in the real mirror's layout.

    ``MNIST/raw/`` holds uncompressed IDX files of MNIST-mini, ``cifar10-jpeg.tar.gz``
    10 train / 4 test JPEGs per class of CIFAR-10-mini. The expected checksums are
    set to these files' own, so the mirror code paths run unchanged. Sets
    HNET_DATA_MIRROR and a fresh cache.
    """
    mirror = tmp_path / "mirror"
    raw = mirror / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, images, labels in (("train", mnist_mini.train_images, mnist_mini.train_labels),
                                  ("t10k", mnist_mini.test_images, mnist_mini.test_labels)):
        datasets.write_idx(raw / f"{split}-images-idx3-ubyte", images)
        datasets.write_idx(raw / f"{split}-labels-idx1-ubyte", labels.to(torch.uint8))
    monkeypatch.setattr(datasets, "MNIST_MD5", {p.name: _md5(p) for p in raw.iterdir()})
    tarball = mirror / datasets.CIFAR10_JPEG_TARBALL
    shipped = datasets.settings.SHIPPED_DATA_DIR / datasets.CIFAR10_MINI / datasets.CIFAR10_MINI_TARBALL
    with tarfile.open(shipped, "r:gz") as src, tarfile.open(tarball, "w:gz") as dst:
        kept = defaultdict(int)  # the first 10 train / 4 test JPEGs of each class, to stay fast
        for member in src:
            split, cls = member.name.split("/")[:2]
            if member.isfile() and kept[split, cls] < (10 if split == "train" else 4):
                kept[split, cls] += 1
                dst.addfile(member, src.extractfile(member))
    monkeypatch.setattr(datasets, "CIFAR10_JPEG_SHA256", datasets.file_hash(tarball))
    monkeypatch.setenv("HNET_DATA_MIRROR", str(mirror))
    return mirror


def write_cifar100_files(folder: Path, train_per_class: int = 4, test_per_class: int = 2,
                         seed: int = 0) -> dict[str, np.ndarray]:
    """Write a tiny CIFAR-100 in the official pickle format: ``folder/cifar-100-python/
    {train,test,meta}``. Returns the arrays written (images as (N, 3, 32, 32) uint8)."""
    rng = np.random.default_rng(seed)
    base = folder / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        fine = np.repeat(np.arange(100), per_class)
        rng.shuffle(fine)
        images = rng.integers(0, 256, size=(len(fine), 3, 32, 32), dtype=np.uint8)
        entry = {"filenames": [f"img_{i}.png" for i in range(len(fine))],
                 "batch_label": f"{split}ing batch 1 of 1",
                 "fine_labels": fine.tolist(),
                 "coarse_labels": (fine // 5).tolist(),
                 "data": images.reshape(len(fine), 3 * 32 * 32)}  # rows: R, G, B planes
        with open(base / split, "wb") as f:
            pickle.dump(entry, f)
        written[f"{split}_images"], written[f"{split}_labels"] = images, fine
    with open(base / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"fine_{i:02d}" for i in range(100)],
                     "coarse_label_names": [f"coarse_{i:02d}" for i in range(20)]}, f)
    return written


def accept_cifar100_files(monkeypatch, folder: Path) -> None:
    """Make torchvision's CIFAR100 class (and so our verification, which reads its
    md5 lists) expect the md5 of the tiny files in ``folder/cifar-100-python``."""
    base = folder / "cifar-100-python"
    cls = torchvision.datasets.CIFAR100
    monkeypatch.setattr(cls, "train_list", [["train", _md5(base / "train")]])
    monkeypatch.setattr(cls, "test_list", [["test", _md5(base / "test")]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(base / "meta")})


@pytest.fixture
def tiny_cifar100_files(tmp_data_dir) -> dict[str, np.ndarray]:
    """A tiny CIFAR-100 (4 train / 2 test images per class) written into the data cache.
    Its md5s are not the published ones, so the loader rejects it as corrupt."""
    return write_cifar100_files(tmp_data_dir)


@pytest.fixture
def tiny_cifar100_cache(monkeypatch, tmp_data_dir, tiny_cifar100_files) -> dict[str, np.ndarray]:
    """The tiny CIFAR-100 files, with the expected md5s set to theirs: the real
    torchvision loader reads them after our verification passes."""
    accept_cifar100_files(monkeypatch, tmp_data_dir)
    return tiny_cifar100_files
