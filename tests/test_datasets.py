"""Tests of hnet_utils.data.datasets: sources in order, checksums, shipped subsets, CIFAR-100.

All run offline and without the real mirror; the few that use the real mirror
skip (saying why) when HNET_DATA_MIRROR is not set.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import tarfile
import urllib.error
import urllib.request

import pytest
import torch
import torchvision

from hnet_utils import settings

from hnet_utils.data import datasets
from hnet_utils.data.datasets import CorruptFileError


def flip_byte(path, position=-1):
    """Flip one byte of a file in place (simulates silent corruption)."""
    data = bytearray(path.read_bytes())
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------
# Shipped subsets
# --------------------------------------------------------------------------

def test_shipped_mnist_subset_is_balanced_real_data(mnist_mini):
    assert mnist_mini.source == "shipped subset"
    assert mnist_mini.train_images.shape == (2500, 28, 28)
    assert mnist_mini.train_images.dtype == torch.uint8
    assert mnist_mini.test_images.shape == (500, 28, 28)
    assert torch.bincount(mnist_mini.train_labels).tolist() == [250] * 10
    assert torch.bincount(mnist_mini.test_labels).tolist() == [50] * 10
    assert "2500 train / 500 test" in mnist_mini.label
    # real digits: dark background, bright strokes, no two images identical
    mean_image = mnist_mini.train_images.float().mean(0)
    assert mean_image[0, 0] == 0 and mean_image[14, 14] > 50
    assert len(torch.unique(mnist_mini.train_images.flatten(1), dim=0)) == 2500


def test_shipped_cifar10_subset_is_balanced_and_labelled_jpeg(cifar10_mini):
    assert cifar10_mini.train_images.shape == (2000, 3, 32, 32)
    assert cifar10_mini.test_images.shape == (500, 3, 32, 32)
    assert torch.bincount(cifar10_mini.train_labels).tolist() == [200] * 10
    assert torch.bincount(cifar10_mini.test_labels).tolist() == [50] * 10
    assert cifar10_mini.classes == datasets.CIFAR10_CLASSES
    assert datasets.CIFAR10_JPEG_LABEL in cifar10_mini.label
    # natural images: channel means near CIFAR-10's (about 0.49, 0.48, 0.45)
    means = cifar10_mini.train_images.float().mean(dim=(0, 2, 3)) / 255
    assert torch.allclose(means, torch.tensor([0.49, 0.48, 0.45]), atol=0.03)


def test_shipped_data_stay_small():
    files = [p for d in (datasets.MNIST_MINI, datasets.CIFAR10_MINI)
             for p in (settings.SHIPPED_DATA_DIR / d).iterdir()]
    assert sum(p.stat().st_size for p in files) < 3_000_000


def test_fallback_to_shipped_mnist_prints_one_line(no_mirror, tmp_data_dir, capsys):
    data = datasets.load_mnist()
    assert data.source == "shipped subset" and len(data.train_labels) == 2500
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("No MNIST found (no mirror, no cache, offline")
    assert "shipped MNIST-mini subset (2500 train / 500 test images)" in lines[0]


def test_fallback_to_shipped_cifar10_prints_one_line(no_mirror, tmp_data_dir, capsys):
    data = datasets.load_cifar10()
    assert data.source == "shipped subset" and datasets.CIFAR10_JPEG_LABEL in data.label
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("No CIFAR-10 found")


def test_failed_download_falls_back_with_short_timeout(no_mirror, tmp_data_dir, monkeypatch, capsys):
    """The real torchvision download runs and fails as without network; we fall back."""
    seen_timeouts = []

    def no_network(*args, **kwargs):
        seen_timeouts.append(socket.getdefaulttimeout())
        raise urllib.error.URLError("no network (test)")

    monkeypatch.delenv("HNET_OFFLINE")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    mnist = datasets.load_mnist()
    cifar = datasets.load_cifar10()
    assert mnist.source == cifar.source == "shipped subset"
    assert seen_timeouts and all(t == datasets.DOWNLOAD_TIMEOUT_S for t in seen_timeouts)
    assert socket.getdefaulttimeout() is None  # restored afterwards
    out = capsys.readouterr().out
    assert "downloading MNIST failed" in out and "no network (test)" in out
    assert "downloading CIFAR-10 failed" in out


def test_download_error_that_is_not_a_network_error_is_raised(no_mirror, tmp_data_dir, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("something else went wrong")

    monkeypatch.delenv("HNET_OFFLINE")
    monkeypatch.setattr(urllib.request, "urlopen", broken)
    with pytest.raises(ValueError, match="something else went wrong"):
        datasets.load_cifar10()


# --------------------------------------------------------------------------
# Mirror (a temporary one built from the shipped subsets, and the real one)
# --------------------------------------------------------------------------

def test_mnist_from_mirror_is_read_in_place(temp_mirror, mnist_mini):
    before = sorted(p.relative_to(temp_mirror) for p in temp_mirror.rglob("*"))
    data = datasets.load_mnist()
    assert data.source == "mirror" and data.label == "MNIST"
    assert torch.equal(data.train_images, mnist_mini.train_images)
    assert torch.equal(data.test_labels, mnist_mini.test_labels)
    assert sorted(p.relative_to(temp_mirror) for p in temp_mirror.rglob("*")) == before


def test_cifar10_jpeg_mirror_is_unpacked_once_and_cached(temp_mirror, tmp_data_dir, monkeypatch, capsys):
    data = datasets.load_cifar10()
    assert data.source == "mirror" and data.label == datasets.CIFAR10_JPEG_LABEL
    assert data.train_images.shape == (100, 3, 32, 32) and data.test_images.shape == (40, 3, 32, 32)
    # unpack + ImageFolder gives the same images, in the same order, as decoding from the tarball
    direct = datasets.read_jpeg_tarball(temp_mirror / datasets.CIFAR10_JPEG_TARBALL)
    assert torch.equal(data.train_images, direct["train_images"])
    assert torch.equal(data.test_labels, direct["test_labels"])
    assert torch.bincount(data.train_labels).tolist() == [10] * 10
    cache = tmp_data_dir / "cifar10-jpeg.pt"
    assert cache.is_file() and (tmp_data_dir / "cifar10-jpeg.pt.sha256").is_file()
    assert not (tmp_data_dir / "cifar10-jpeg.unpacking").exists()
    assert "Unpacking" in capsys.readouterr().out
    stamp = cache.stat().st_mtime_ns

    again = datasets.load_cifar10()  # from the tensor cache, no second unpacking
    assert torch.equal(again.train_images, data.train_images)
    assert cache.stat().st_mtime_ns == stamp and "Unpacking" not in capsys.readouterr().out

    monkeypatch.delenv("HNET_DATA_MIRROR")  # the cache alone still says where the data came from
    cached = datasets.load_cifar10()
    assert cached.source == "cache" and cached.label == datasets.CIFAR10_JPEG_LABEL


def test_corrupt_tensor_cache_is_reported_and_left_alone(temp_mirror, tmp_data_dir):
    datasets.load_cifar10()
    cache = tmp_data_dir / "cifar10-jpeg.pt"
    flip_byte(cache, 5000)
    corrupted = cache.read_bytes()
    with pytest.raises(CorruptFileError, match="cifar10-jpeg.pt.*Delete that file"):
        datasets.load_cifar10()
    assert cache.read_bytes() == corrupted  # not overwritten


def test_corrupt_mirror_file_names_file_and_fix(temp_mirror):
    labels = temp_mirror / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-10])  # truncated
    with pytest.raises(CorruptFileError) as err:
        datasets.load_mnist()
    assert str(labels) in str(err.value) and "HNET_DATA_MIRROR" in str(err.value)


def test_corrupt_mirror_tarball_is_refused(temp_mirror):
    flip_byte(temp_mirror / datasets.CIFAR10_JPEG_TARBALL, 1000)
    with pytest.raises(CorruptFileError, match="cifar10-jpeg.tar.gz"):
        datasets.load_cifar10()


def test_mirror_variable_pointing_nowhere_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HNET_DATA_MIRROR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="HNET_DATA_MIRROR"):
        datasets.load_mnist()


def test_real_mirror_mnist(real_mirror, monkeypatch):
    monkeypatch.setenv("HNET_DATA_MIRROR", str(real_mirror))
    data = datasets.load_mnist()
    assert data.source == "mirror" and data.label == "MNIST"
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # the official test set
    assert torch.bincount(data.test_labels).tolist() == test_counts


def test_real_mirror_cifar10_tarball_matches_published_sha256(real_mirror):
    datasets.verify_file(real_mirror / datasets.CIFAR10_JPEG_TARBALL, datasets.CIFAR10_JPEG_SHA256)


def test_shipped_subsets_are_reproducible_from_the_real_mirror(real_mirror, tmp_path, mnist_mini):
    """scripts/make_mini_datasets.py rebuilds exactly the shipped images (compared decompressed,
    so a different zlib cannot make it fail)."""
    path = settings.REPO_ROOT / "scripts" / "make_mini_datasets.py"
    spec = importlib.util.spec_from_file_location("make_mini_datasets", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    folder = script.build_mnist_mini(real_mirror, tmp_path)
    for split, images, labels in (("train", mnist_mini.train_images, mnist_mini.train_labels),
                                  ("t10k", mnist_mini.test_images, mnist_mini.test_labels)):
        assert torch.equal(datasets.read_idx(folder / f"{split}-images-idx3-ubyte.gz"), images)
        assert torch.equal(datasets.read_idx(folder / f"{split}-labels-idx1-ubyte.gz").long(), labels)

    folder = script.build_cifar10_mini(real_mirror, tmp_path)
    shipped = settings.SHIPPED_DATA_DIR / datasets.CIFAR10_MINI / datasets.CIFAR10_MINI_TARBALL

    def contents(tarball):
        with tarfile.open(tarball, "r:gz") as tar:
            return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}

    assert contents(folder / datasets.CIFAR10_MINI_TARBALL) == contents(shipped)


# --------------------------------------------------------------------------
# Cache and checksums
# --------------------------------------------------------------------------

@pytest.fixture
def mnist_cache(tmp_data_dir, temp_mirror, monkeypatch):
    """The temporary mirror's MNIST files copied into the data cache; mirror unset."""
    shutil.copytree(temp_mirror / "MNIST", tmp_data_dir / "MNIST")
    monkeypatch.delenv("HNET_DATA_MIRROR")
    return tmp_data_dir / "MNIST" / "raw"


def test_mnist_from_cache(mnist_cache, capsys):
    data = datasets.load_mnist()
    assert data.source == "cache" and len(data.train_labels) == 2500
    assert capsys.readouterr().out == ""  # no fallback message


def test_corrupt_cache_file_is_not_used_nor_overwritten(mnist_cache, monkeypatch):
    images = mnist_cache / "t10k-images-idx3-ubyte"
    flip_byte(images, 1234)
    corrupted = images.read_bytes()
    monkeypatch.delenv("HNET_OFFLINE")  # even online, no silent re-download
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("must not download"))
    with pytest.raises(CorruptFileError) as err:
        datasets.load_mnist()
    assert str(images) in str(err.value) and "Delete that file" in str(err.value)
    assert images.read_bytes() == corrupted


def test_corrupt_shipped_file_is_refused(no_mirror, tmp_data_dir, tmp_path, monkeypatch):
    shutil.copytree(settings.SHIPPED_DATA_DIR / datasets.MNIST_MINI, tmp_path / datasets.MNIST_MINI)
    monkeypatch.setattr(settings, "SHIPPED_DATA_DIR", tmp_path)
    flip_byte(tmp_path / datasets.MNIST_MINI / "train-labels-idx1-ubyte.gz", 20)
    with pytest.raises(CorruptFileError, match="train-labels-idx1-ubyte.gz.*make_mini_datasets"):
        datasets.load_mnist()


def test_missing_manifest_is_refused(tmp_path, monkeypatch):
    shutil.copytree(settings.SHIPPED_DATA_DIR / datasets.MNIST_MINI, tmp_path / datasets.MNIST_MINI)
    (tmp_path / datasets.MNIST_MINI / "SHA256SUMS").unlink()
    monkeypatch.setattr(settings, "SHIPPED_DATA_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="SHA256SUMS"):
        datasets.load_shipped_mnist()


def test_verify_file_accepts_md5_and_sha256(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"hypernetworks")
    datasets.verify_file(path, datasets.file_hash(path, "md5"), "md5")
    datasets.verify_file(path, datasets.file_hash(path))
    with pytest.raises(CorruptFileError, match="f.bin"):
        datasets.verify_file(path, "0" * 64)
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        datasets.verify_file(tmp_path / "missing.bin", "0" * 64)


@pytest.mark.parametrize("name", ["x.gz", "x"])
def test_idx_round_trip(tmp_path, name):
    images = torch.randint(0, 256, (7, 28, 28), dtype=torch.uint8)
    datasets.write_idx(tmp_path / name, images)
    assert torch.equal(datasets.read_idx(tmp_path / name), images)


def test_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)  # float32, not uint8
    with pytest.raises(ValueError, match="not a uint8 IDX file"):
        datasets.read_idx(tmp_path / "bad")
    datasets.write_idx(tmp_path / "short", torch.zeros(5, dtype=torch.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="header says shape"):
        datasets.read_idx(tmp_path / "short")


# --------------------------------------------------------------------------
# CIFAR-100 (not in the mirror): the real loader on tiny files in the official format
# --------------------------------------------------------------------------

def test_cifar100_offline_without_copy_raises_with_instructions(no_mirror, tmp_data_dir):
    with pytest.raises(FileNotFoundError, match="CIFAR-100 not found.*internet"):
        datasets.load_cifar100()


def test_cifar100_real_loader_reads_official_format(no_mirror, tiny_cifar100_cache):
    data = datasets.load_cifar100()
    assert data.name == "CIFAR-100" and data.source == "cache"
    assert data.train_images.shape == (400, 3, 32, 32) and data.test_images.shape == (200, 3, 32, 32)
    assert torch.equal(data.train_images, torch.from_numpy(tiny_cifar100_cache["train_images"]))
    assert data.train_labels.tolist() == tiny_cifar100_cache["train_labels"].tolist()
    assert len(data.classes) == 100 and data.classes[7] == "fine_07"


def test_cifar100_files_with_wrong_md5_are_rejected(no_mirror, tiny_cifar100_files, tmp_data_dir):
    """Without the test's md5s the published ones apply, and our tiny files fail them."""
    with pytest.raises(CorruptFileError, match="cifar-100-python"):
        datasets.load_cifar100()


def test_cifar100_md5s_come_from_torchvision():
    md5s = datasets._official_md5s(torchvision.datasets.CIFAR100)
    assert md5s == {"train": "16019d7e3df5f24257cddd939b257f8d",
                    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
                    "meta": "7973b15100ade9c7d40fb424638fde48"}


def test_load_dataset_by_name(no_mirror):
    assert datasets.load_dataset("mnist").name == "MNIST"
    with pytest.raises(ValueError, match="mnist, cifar10, cifar100"):
        datasets.load_dataset("svhn")
