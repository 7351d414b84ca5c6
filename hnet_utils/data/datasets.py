"""Raw image datasets for the course: MNIST, CIFAR-10 and CIFAR-100.

Every loader returns an :class:`ImageData`: the whole training and test set as
``uint8`` tensors in memory, plus a note of where the data came from. The data
are looked for in this order:

1. the offline mirror named by ``$HNET_DATA_MIRROR`` (read in place, never
   modified); for CIFAR-10 this is a JPEG re-encoding (``cifar10-jpeg.tar.gz``),
   unpacked once and cached as a tensor file in the data cache;
2. files already in the data cache (``$HNET_DATA_DIR``, default ``<repo>/data``);
3. a download with torchvision (skipped when ``$HNET_OFFLINE=1``; when there is
   no network the attempt fails within seconds and is reported, not hidden);
4. the small real subsets shipped in ``data/mnist-mini`` and ``data/cifar10-mini``
   (MNIST and CIFAR-10 only), announced by one printed line.

Every file is checked against a published checksum before it is used. A file
that does not match raises :class:`CorruptFileError`, naming the file and what
to do; it is never overwritten or used.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import io
import shutil
import socket
import struct
import tarfile
import tempfile
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from hnet_utils import settings

# --------------------------------------------------------------------------
# Published checksums
# --------------------------------------------------------------------------

#: md5 of the four official (uncompressed) MNIST files.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: File name and sha256 of the JPEG re-encoding of CIFAR-10 in the mirror
#: (value from the mirror's README).
CIFAR10_JPEG_TARBALL = "cifar10-jpeg.tar.gz"
CIFAR10_JPEG_SHA256 = "d34c68f61cca57aa9144c8f25bda427abb9921bd642d5857a2fc1a6b4416f965"

#: Label that anything measured on the JPEG mirror must carry.
CIFAR10_JPEG_LABEL = "CIFAR-10 (JPEG mirror)"

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)

#: Sub-folders of the shipped subsets (below ``settings.SHIPPED_DATA_DIR``).
MNIST_MINI = "mnist-mini"
CIFAR10_MINI = "cifar10-mini"
CIFAR10_MINI_TARBALL = "cifar10-mini.tar.gz"
CHECKSUM_MANIFEST = "SHA256SUMS"

#: Seconds a single network operation may block during a download attempt.
DOWNLOAD_TIMEOUT_S = 10.0

# What to tell the user when a file fails its checksum, by where it lives.
_FIX_MIRROR = ("The mirror is read-only and is never modified: point HNET_DATA_MIRROR "
               "at an intact copy, or unset it.")
_FIX_CACHE = ("Delete that file and load again: it will be downloaded again (online) "
              "or rebuilt from the mirror.")
_FIX_SHIPPED = ("Restore the shipped file with `git checkout -- data/` or rebuild it "
                "from the mirror with `python scripts/make_mini_datasets.py`.")


class CorruptFileError(ValueError):
    """A dataset file exists but does not match its published checksum."""


@dataclass
class ImageData:
    """A whole image dataset held in memory.

    Attributes:
        name: "MNIST", "CIFAR-10" or "CIFAR-100".
        train_images: (N, 28, 28) uint8 for MNIST, (N, 3, 32, 32) uint8 for CIFAR.
        train_labels: (N,) int64 class ids.
        test_images, test_labels: the same for the test set.
        classes: class names; ``classes[i]`` is the name of label i.
        source: "mirror", "cache", "download" or "shipped subset".
        label: how results on these data must be labelled, e.g.
            "MNIST" or "CIFAR-10 (JPEG mirror)".
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    source: str
    label: str

    def __repr__(self) -> str:
        return (f"ImageData({self.label!r}, source={self.source!r}, "
                f"train={tuple(self.train_images.shape)}, test={tuple(self.test_images.shape)}, "
                f"classes={len(self.classes)})")


# --------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------

def file_hash(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file ("md5" or "sha256"), read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: str | Path, expected: str, algorithm: str = "sha256", fix: str = "") -> None:
    """Check that ``path`` exists and has the expected md5/sha256 digest.

    Raises:
        FileNotFoundError: the file does not exist.
        CorruptFileError: the digest differs (truncated, edited or wrong file);
            the message names the file and says what to do (``fix``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Dataset file {path} is missing. {fix}".strip())
    actual = file_hash(path, algorithm)
    if actual != expected:
        raise CorruptFileError(
            f"Dataset file {path} is corrupt or incomplete: its {algorithm} is {actual}, "
            f"expected {expected}. It was not used. {fix}".strip())


def read_checksums(manifest: str | Path) -> dict[str, str]:
    """Parse a ``sha256sum``-style manifest ("<hex>  <file name>" per line) into {name: hex}."""
    sums = {}
    for line in Path(manifest).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest.lower()
    return sums


def write_checksums(folder: str | Path, names: list[str]) -> Path:
    """Write ``folder/SHA256SUMS`` for the given files in ``folder``; returns its path."""
    folder = Path(folder)
    lines = [f"{file_hash(folder / name)}  {name}\n" for name in sorted(names)]
    manifest = folder / CHECKSUM_MANIFEST
    manifest.write_text("".join(lines))
    return manifest


def _verify_shipped(folder: Path, names: list[str]) -> None:
    """Verify shipped files against ``folder/SHA256SUMS``."""
    manifest = folder / CHECKSUM_MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"Checksum manifest {manifest} is missing. {_FIX_SHIPPED}")
    sums = read_checksums(manifest)
    for name in names:
        if name not in sums:
            raise CorruptFileError(f"{manifest} has no entry for {name}. {_FIX_SHIPPED}")
        verify_file(folder / name, sums[name], "sha256", _FIX_SHIPPED)


# --------------------------------------------------------------------------
# IDX files (the MNIST format)
# --------------------------------------------------------------------------

def read_idx(path: str | Path) -> torch.Tensor:
    """Read a uint8 IDX file (the MNIST format), gzipped when the name ends in .gz.

    Returns a uint8 tensor, e.g. (N, 28, 28) for images or (N,) for labels.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0:2] != b"\x00\x00" or data[2] != 0x08 or not 1 <= data[3] <= 3:
        raise ValueError(f"{path} is not a uint8 IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    offset = 4 + 4 * ndim
    if len(data) - offset != torch.Size(shape).numel():
        raise ValueError(f"{path}: header says shape {shape} but the file holds "
                         f"{len(data) - offset} values")
    return torch.frombuffer(bytearray(data[offset:]), dtype=torch.uint8).reshape(shape)


def write_idx(path: str | Path, tensor: torch.Tensor) -> None:
    """Write a uint8 tensor with 1-3 dims as an IDX file; gzipped (reproducibly) for *.gz."""
    path = Path(path)
    if tensor.dtype != torch.uint8 or not 1 <= tensor.dim() <= 3:
        raise ValueError(f"tensor must be uint8 with 1 to 3 dims, "
                         f"got {tensor.dtype} {tuple(tensor.shape)}")
    payload = bytes([0, 0, 0x08, tensor.dim()]) + struct.pack(f">{tensor.dim()}I", *tensor.shape)
    payload += tensor.contiguous().numpy().tobytes()
    if path.suffix == ".gz":
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                   compresslevel=9, mtime=0) as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


# --------------------------------------------------------------------------
# Locations and download attempts
# --------------------------------------------------------------------------

def _mirror() -> Path | None:
    """The mirror folder, or None; an HNET_DATA_MIRROR that is not a folder is an error."""
    mirror = settings.mirror_dir()
    if mirror is not None and not mirror.is_dir():
        raise FileNotFoundError(
            f"HNET_DATA_MIRROR={mirror} is not a folder. Point it at the dataset mirror "
            f"(the folder holding MNIST/raw and {CIFAR10_JPEG_TARBALL}) or unset it.")
    return mirror


def _not_in_mirror(mirror: Path | None) -> str:
    """Words for the fallback message: "no mirror" or "not in the mirror"."""
    return "no mirror" if mirror is None else "not in the mirror"


@contextlib.contextmanager
def _network_timeout(seconds: float):
    """Temporarily bound every socket operation to ``seconds`` (no long hangs offline)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _is_network_error(err: BaseException) -> bool:
    """True for errors that mean "no network", as raised by torchvision's downloads."""
    if isinstance(err, (urllib.error.URLError, ConnectionError, TimeoutError,
                        socket.gaierror, http.client.HTTPException)):
        return True
    # torchvision's MNIST wraps the per-mirror network errors in a RuntimeError.
    return isinstance(err, RuntimeError) and str(err).startswith("Error downloading")


def _try_download(download, what: str) -> str | None:
    """Run ``download()`` unless offline; returns None on success or why it was skipped/failed."""
    if settings.offline():
        return "offline: HNET_OFFLINE=1"
    try:
        with _network_timeout(DOWNLOAD_TIMEOUT_S):
            download()
    except Exception as err:  # noqa: BLE001 - only network errors are swallowed
        if not _is_network_error(err):
            raise
        # The last line holds the underlying error (torchvision's MNIST lists one per mirror).
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        return f"offline: downloading {what} failed: {lines[-1] if lines else type(err).__name__}"
    return None


def _verify_present(folder: Path, checksums: dict[str, str], algorithm: str, fix: str) -> bool:
    """Verify the files of ``checksums`` that exist in ``folder``; True if all exist."""
    complete = True
    for name, digest in checksums.items():
        if (folder / name).is_file():
            verify_file(folder / name, digest, algorithm, fix)
        else:
            complete = False
    return complete


# --------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------

def _mnist_from_root(root: Path, source: str, fix: str) -> ImageData:
    """Verify ``root/MNIST/raw`` and read it with torchvision's MNIST loader."""
    raw = root / "MNIST" / "raw"
    for name, md5 in MNIST_MD5.items():
        verify_file(raw / name, md5, "md5", fix)
    train = torchvision.datasets.MNIST(root, train=True, download=False)
    test = torchvision.datasets.MNIST(root, train=False, download=False)
    return ImageData("MNIST", train.data, train.targets.long(), test.data, test.targets.long(),
                     tuple(str(i) for i in range(10)), source, "MNIST")


def load_shipped_mnist() -> ImageData:
    """The MNIST-mini subset shipped in ``data/mnist-mini`` (gzipped IDX files)."""
    folder = settings.SHIPPED_DATA_DIR / MNIST_MINI
    names = {split: (f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz")
             for split in ("train", "t10k")}
    _verify_shipped(folder, [n for pair in names.values() for n in pair])
    train_x, train_y = (read_idx(folder / n) for n in names["train"])
    test_x, test_y = (read_idx(folder / n) for n in names["t10k"])
    label = f"MNIST-mini (shipped subset: {len(train_y)} train / {len(test_y)} test images)"
    return ImageData("MNIST", train_x, train_y.long(), test_x, test_y.long(),
                     tuple(str(i) for i in range(10)), "shipped subset", label)


def load_mnist() -> ImageData:
    """MNIST (60,000 train / 10,000 test, 28x28), from mirror, cache, download or shipped subset."""
    mirror = _mirror()
    if mirror is not None and (mirror / "MNIST" / "raw").is_dir():
        return _mnist_from_root(mirror, "mirror", _FIX_MIRROR)
    root = settings.data_dir()
    if _verify_present(root / "MNIST" / "raw", MNIST_MD5, "md5", _FIX_CACHE):
        return _mnist_from_root(root, "cache", _FIX_CACHE)
    reason = _try_download(lambda: torchvision.datasets.MNIST(root, download=True), "MNIST")
    if reason is None:
        return _mnist_from_root(root, "download", _FIX_CACHE)
    data = load_shipped_mnist()
    print(f"No MNIST found ({_not_in_mirror(mirror)}, no cache, {reason}): using the shipped "
          f"MNIST-mini subset ({len(data.train_labels)} train / {len(data.test_labels)} test images)")
    return data


# --------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100 in the official pickle format
# --------------------------------------------------------------------------

def _official_md5s(cls) -> dict[str, str]:
    """Published md5 of every file of torchvision's CIFAR10/CIFAR100 folder, from the class itself."""
    md5s = {name: md5 for name, md5 in cls.train_list + cls.test_list}
    md5s[cls.meta["filename"]] = cls.meta["md5"]
    return md5s


def _cifar_from_root(cls, root: Path, source: str, fix: str) -> ImageData:
    """Verify ``root/<cls.base_folder>`` and read it with torchvision's loader ``cls``."""
    folder = root / cls.base_folder
    for name, md5 in _official_md5s(cls).items():
        verify_file(folder / name, md5, "md5", fix)
    train = cls(root, train=True, download=False)
    test = cls(root, train=False, download=False)

    def to_tensors(ds):
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # HWC -> CHW
        return images, torch.tensor(ds.targets, dtype=torch.long)

    name = "CIFAR-100" if cls is torchvision.datasets.CIFAR100 else "CIFAR-10"
    return ImageData(name, *to_tensors(train), *to_tensors(test), tuple(train.classes), source, name)


def _cached_official(cls, root: Path) -> bool:
    """True if ``root`` holds a complete, verified torchvision folder for ``cls``."""
    return _verify_present(root / cls.base_folder, _official_md5s(cls), "md5", _FIX_CACHE)


# --------------------------------------------------------------------------
# CIFAR-10 as JPEGs (the mirror and the shipped subset)
# --------------------------------------------------------------------------

def _check_cifar10_images(images: list[torch.Tensor], names: list[str], classes: list[str],
                          where: str) -> torch.Tensor:
    """Stack 3x32x32 images after checking the class folders; returns (N, 3, 32, 32) uint8."""
    if tuple(classes) != CIFAR10_CLASSES:
        raise ValueError(f"{where} has class folders {list(classes)}, expected {list(CIFAR10_CLASSES)}")
    for name, image in zip(names, images):
        if image.shape != (3, 32, 32):
            raise ValueError(f"{name} is {tuple(image.shape)}, expected a 3x32x32 image")
    return torch.stack(images)


def read_image_folders(root: str | Path) -> dict:
    """Read ``root/train/<class>/*.jpg`` and ``root/test/<class>/*.jpg`` with ImageFolder.

    Returns a dict with "train_images"/"test_images" (N, 3, 32, 32) uint8,
    "train_labels"/"test_labels" (N,) int64 and "classes" (sorted folder names).
    """
    out = {}
    for split in ("train", "test"):
        folder = torchvision.datasets.ImageFolder(Path(root) / split, transform=pil_to_tensor)
        images = [folder[i][0] for i in range(len(folder))]
        names = [path for path, _ in folder.samples]
        out[f"{split}_images"] = _check_cifar10_images(images, names, folder.classes, folder.root)
        out[f"{split}_labels"] = torch.tensor(folder.targets, dtype=torch.long)
    out["classes"] = list(CIFAR10_CLASSES)
    return out


def read_jpeg_tarball(tarball: str | Path) -> dict:
    """Decode ``train/<class>/*.jpg`` and ``test/<class>/*.jpg`` straight from a tarball,
    in the same order as :func:`read_image_folders` would after unpacking (sorted). Same output."""
    files = {}
    with tarfile.open(tarball, "r:*") as tar:
        for member in tar:
            if member.isfile():
                files[member.name] = tar.extractfile(member).read()
    out = {}
    for split in ("train", "test"):
        names = sorted(n for n in files if n.startswith(f"{split}/"))
        classes = sorted({n.split("/")[1] for n in names})
        images = [pil_to_tensor(Image.open(io.BytesIO(files[n])).convert("RGB")) for n in names]
        out[f"{split}_images"] = _check_cifar10_images(images, names, classes, f"{tarball}:{split}/")
        out[f"{split}_labels"] = torch.tensor([classes.index(n.split("/")[1]) for n in names])
    out["classes"] = list(CIFAR10_CLASSES)
    return out


def _unpack(tarball: Path, dest: Path) -> None:
    """Extract a tarball into ``dest`` with the safe "data" filter (no links outside, no devices)."""
    with tarfile.open(tarball, "r:*") as tar:
        tar.extractall(dest, filter="data")


def _jpeg_cache_files(root: Path) -> tuple[Path, Path]:
    """Tensor cache of the JPEG mirror and its sha256 sidecar."""
    cache = root / "cifar10-jpeg.pt"
    return cache, cache.with_name(cache.name + ".sha256")


def _load_jpeg_cache(root: Path, source: str) -> ImageData:
    """Load the verified tensor cache of the CIFAR-10 JPEG mirror."""
    cache, sidecar = _jpeg_cache_files(root)
    if not sidecar.is_file():
        raise CorruptFileError(f"{cache} has no checksum file {sidecar.name}, so it cannot be "
                               f"verified. {_FIX_CACHE}")
    verify_file(cache, sidecar.read_text().split()[0], "sha256", _FIX_CACHE)
    d = torch.load(cache, weights_only=True)
    if d.get("source_sha256") != CIFAR10_JPEG_SHA256:
        raise CorruptFileError(f"{cache} was built from another tarball than the JPEG mirror "
                               f"(sha256 {CIFAR10_JPEG_SHA256}). {_FIX_CACHE}")
    return ImageData("CIFAR-10", d["train_images"], d["train_labels"], d["test_images"],
                     d["test_labels"], tuple(d["classes"]), source, CIFAR10_JPEG_LABEL)


def _check_cache_folder(root: Path) -> None:
    """Create the data cache ``root`` if needed; a ValueError naming HNET_DATA_DIR if it is a
    file or cannot be written (before anything is unpacked into it)."""
    problem = None
    if root.exists() and not root.is_dir():
        problem = "is a file, not a folder"
    else:
        try:
            root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=root):
                pass
        except OSError as err:
            problem = f"cannot be written ({err.strerror})"
    if problem:
        raise ValueError(f"the data cache {root} (HNET_DATA_DIR, default <repo>/data) {problem}; "
                         "set HNET_DATA_DIR to a writable folder")


def _cifar10_from_jpeg_mirror(tarball: Path) -> ImageData:
    """CIFAR-10 from the mirror's JPEG tarball: verify, unpack once, cache as tensors."""
    verify_file(tarball, CIFAR10_JPEG_SHA256, "sha256", _FIX_MIRROR)
    root = settings.data_dir()
    cache, sidecar = _jpeg_cache_files(root)
    if not cache.exists():
        _check_cache_folder(root)
        print(f"Unpacking {tarball.name} into {root} once and caching it as {cache.name} "
              "(takes a little while; later loads are fast)")
        unpacked = root / "cifar10-jpeg.unpacking"
        shutil.rmtree(unpacked, ignore_errors=True)  # ours, left over from an interrupted run
        _unpack(tarball, unpacked)
        data = read_image_folders(unpacked)
        data["source_sha256"] = CIFAR10_JPEG_SHA256
        partial = cache.with_name(cache.name + ".partial")
        torch.save(data, partial)
        sidecar.write_text(f"{file_hash(partial)}  {cache.name}\n")
        partial.replace(cache)
        shutil.rmtree(unpacked)  # the tensor file holds everything
    return _load_jpeg_cache(root, "mirror")


def load_shipped_cifar10() -> ImageData:
    """The CIFAR-10-mini subset (JPEGs from the mirror) shipped in ``data/cifar10-mini``."""
    folder = settings.SHIPPED_DATA_DIR / CIFAR10_MINI
    _verify_shipped(folder, [CIFAR10_MINI_TARBALL])
    d = read_jpeg_tarball(folder / CIFAR10_MINI_TARBALL)  # small: decoded in memory, nothing written
    label = (f"{CIFAR10_JPEG_LABEL}, shipped mini subset "
             f"({len(d['train_labels'])} train / {len(d['test_labels'])} test images)")
    return ImageData("CIFAR-10", d["train_images"], d["train_labels"], d["test_images"],
                     d["test_labels"], tuple(d["classes"]), "shipped subset", label)


def load_cifar10() -> ImageData:
    """CIFAR-10 (50,000 train / 10,000 test, 3x32x32).

    Order: mirror (official pickle folder, else the JPEG tarball), cache (official
    folder, else the JPEG mirror's tensor cache), download, shipped subset.
    Check ``.label``: data from the JPEG mirror are "CIFAR-10 (JPEG mirror)".
    """
    cls = torchvision.datasets.CIFAR10
    mirror = _mirror()
    if mirror is not None:
        if (mirror / cls.base_folder).is_dir():
            return _cifar_from_root(cls, mirror, "mirror", _FIX_MIRROR)
        if (mirror / CIFAR10_JPEG_TARBALL).is_file():
            return _cifar10_from_jpeg_mirror(mirror / CIFAR10_JPEG_TARBALL)
    root = settings.data_dir()
    if _cached_official(cls, root):
        return _cifar_from_root(cls, root, "cache", _FIX_CACHE)
    if _jpeg_cache_files(root)[0].exists():
        return _load_jpeg_cache(root, "cache")
    reason = _try_download(lambda: cls(root, download=True), "CIFAR-10")
    if reason is None:
        return _cifar_from_root(cls, root, "download", _FIX_CACHE)
    data = load_shipped_cifar10()
    print(f"No CIFAR-10 found ({_not_in_mirror(mirror)}, no cache, {reason}): using the shipped "
          f"CIFAR-10-mini subset of the JPEG mirror ({len(data.train_labels)} train / "
          f"{len(data.test_labels)} test images)")
    return data


def load_cifar100() -> ImageData:
    """CIFAR-100 (50,000 train / 10,000 test, 100 classes) from mirror, cache or download.

    There is no shipped subset: offline without a copy this raises FileNotFoundError.
    """
    cls = torchvision.datasets.CIFAR100
    mirror = _mirror()
    if mirror is not None and (mirror / cls.base_folder).is_dir():
        return _cifar_from_root(cls, mirror, "mirror", _FIX_MIRROR)
    root = settings.data_dir()
    if _cached_official(cls, root):
        return _cifar_from_root(cls, root, "cache", _FIX_CACHE)
    reason = _try_download(lambda: cls(root, download=True), "CIFAR-100")
    if reason is None:
        return _cifar_from_root(cls, root, "download", _FIX_CACHE)
    raise FileNotFoundError(
        f"CIFAR-100 not found: no {cls.base_folder}/ in HNET_DATA_MIRROR, none in the data "
        f"cache {root}, and it could not be downloaded ({reason}). Run "
        f"`python -c \"from hnet_utils.datasets import load_cifar100; load_cifar100()\"` once "
        f"on a machine with internet (about 170 MB), or unpack the official "
        f"cifar-100-python.tar.gz into {root}. Split CIFAR-10/100 needs it; "
        f"Split CIFAR-10 and task 1 of Split CIFAR-10/100 do not.")


#: name -> loader, for :func:`load_dataset`.
LOADERS = {"mnist": load_mnist, "cifar10": load_cifar10, "cifar100": load_cifar100}


def load_dataset(name: str) -> ImageData:
    """Load a dataset by name: "mnist", "cifar10" or "cifar100"."""
    if name not in LOADERS:
        raise ValueError(f"Unknown dataset name {name!r}; known: {', '.join(LOADERS)}")
    return LOADERS[name]()


__all__ = [
    "ImageData", "CorruptFileError", "load_mnist", "load_cifar10", "load_cifar100", "load_dataset",
    "load_shipped_mnist", "load_shipped_cifar10", "read_idx", "write_idx", "file_hash",
    "verify_file", "read_checksums", "write_checksums", "read_image_folders", "read_jpeg_tarball",
    "MNIST_MD5", "CIFAR10_JPEG_SHA256", "CIFAR10_JPEG_LABEL", "CIFAR10_CLASSES",
]
