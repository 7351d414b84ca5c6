"""Continual-learning benchmarks built from the raw datasets (method.md, section 4).

    bench = make_benchmark("split_mnist", num_tasks=5, seed=0)
    task = bench.tasks[0]
    x, y = task.sample_batch("train", 128, generator)   # x: (128, 784) float32, y: (128,) int64

Benchmarks: ``regression`` (1-D polynomials), ``permuted_mnist``, ``split_mnist``,
``split_cifar10_100``, ``split_cifar10`` and ``split_cifar10_substitute`` (an offline
stand-in for Split CIFAR-10/100 made from CIFAR-10 alone). One builder function per benchmark;
:func:`make_benchmark` picks one by name.

Images are kept once, as uint8 tensors, and shared by all tasks; a task only
holds row indices (and, for PermutedMNIST, a pixel permutation). A batch is made
by indexing those rows and converting just that batch to float
(scale to [0, 1], pad, flatten, permute or normalise). So PermutedMNIST-100
costs the memory of one MNIST, not a hundred.

Validation data: ``val_size`` samples per task are held out of the task's
training samples (a seeded random choice). By default one tenth of each task's
training samples, at most 5,000. Test data are the dataset's official test set.
Every random choice (validation rows, each permutation, each generated
polynomial) has its own generator, seeded from ``seed`` and the purpose, so a
choice does not change when other options (e.g. ``num_tasks``) change.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Callable, Iterator, NamedTuple

import torch
import torch.nn.functional as F

from hnet_utils.data import datasets
from hnet_utils.data.datasets import ImageData

SPLITS = ("train", "val", "test")

#: Largest number of tasks of each benchmark, with the reason: the one rule, used by the
#: builders below and by ``experiments.configs.validate_config`` (the CLI).
MAX_TASKS = {
    "regression": 100,
    "permuted_mnist": 100_000,
    "split_mnist": 5,
    "split_cifar10_100": 6,
    "split_cifar10": 5,
    "split_cifar10_substitute": 6,
}
_MAX_TASKS_WHY = {
    "regression": "3 polynomials of the paper, then generated ones",
    "permuted_mnist": "one random pixel permutation per task",
    "split_mnist": "5 tasks of two digits",
    "split_cifar10_100": "CIFAR-10, then 5 tasks of ten CIFAR-100 classes",
    "split_cifar10": "5 tasks of two classes",
    "split_cifar10_substitute": "half of CIFAR-10, then 5 small rotated or inverted, relabelled parts",
}


#: (input shape, classes per task) of each benchmark as :func:`make_benchmark` builds it by
#: default: enough to build the target network and check a configuration before any data is loaded.
SHAPES = {
    "regression": ((1,), 1),
    "permuted_mnist": ((1024,), 10),
    "split_mnist": ((784,), 2),
    "split_cifar10_100": ((3, 32, 32), 10),
    "split_cifar10": ((3, 32, 32), 2),
    "split_cifar10_substitute": ((3, 32, 32), 10),
}

#: Training samples (before the validation split) of the smallest task of each benchmark built
#: from the full datasets: the most ``val_size`` can be, checked before any data is loaded
#: (a shipped subset is smaller; ``val_size`` is checked again when the data are built).
#: Regression data are generated: its validation points are at most a million.
SMALLEST_TASK_TRAIN = {
    "regression": 1_000_001,
    "permuted_mnist": 60_000,
    "split_mnist": 11_263,           # digits 4 and 5
    "split_cifar10_100": 5_000,      # a CIFAR-100 task: ten classes of 500
    "split_cifar10": 10_000,
    "split_cifar10_substitute": 2_500,
}


def check_num_tasks(benchmark: str, num_tasks) -> int:
    """Return ``num_tasks`` if ``benchmark`` can provide that many tasks, else a ValueError."""
    high = MAX_TASKS[benchmark]
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or not 1 <= num_tasks <= high:
        raise ValueError(f"num_tasks must be an integer in [1, {high:,}] for benchmark {benchmark!r} "
                         f"({_MAX_TASKS_WHY[benchmark]}), got {num_tasks!r}")
    return num_tasks


# --------------------------------------------------------------------------
# Tasks and benchmarks
# --------------------------------------------------------------------------

class Split(NamedTuple):
    """One split of a task: ``rows`` of the (shared) ``inputs``, with their within-task labels."""

    inputs: torch.Tensor   # (N, ...) stored inputs, shared between tasks (uint8 images or float x)
    rows: torch.Tensor     # (n,) int64 rows of ``inputs`` in this split
    labels: torch.Tensor   # (n,) int64 within-task labels, or (n, 1) float32 regression targets


class TaskData:
    """The train/val/test data of one task.

    Args:
        name: readable name, e.g. "digits 2/3" or "permutation 4".
        classes: global class ids of the task, e.g. (2, 3); () for regression.
        splits: {"train": Split, "val": Split, "test": Split}.
        transform: turns stored inputs of a batch into model inputs
            (B, *input_shape) float32; None keeps them as they are.
        class_names: names of the task's classes, in within-task label order.
        function: regression only: the noise-free target function y = f(x).
        domain: regression only: the input interval (low, high).
    """

    def __init__(self, name: str, classes: tuple[int, ...], splits: dict[str, Split],
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 class_names: tuple[str, ...] = (), function: Callable | None = None,
                 domain: tuple[float, float] | None = None):
        self.name = name
        self.classes = tuple(classes)
        self.class_names = tuple(class_names)
        self.function = function
        self.domain = domain
        self._splits = splits
        self._transform = transform

    def _split(self, split: str) -> Split:
        if split not in self._splits:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        return self._splits[split]

    def num_samples(self, split: str) -> int:
        """Number of samples in ``split`` ("train", "val" or "test")."""
        return len(self._split(split).rows)

    def batch(self, split: str, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples ``idx`` (LongTensor of positions 0..n-1 in the split) as (x, y).

        Returns x: (B, *input_shape) float32 and y: (B,) int64 within-task labels
        (regression: (B, 1) float32).
        """
        s = self._split(split)
        idx = torch.as_tensor(idx, dtype=torch.long)
        if idx.dim() != 1:
            raise ValueError(f"idx must be a 1-D tensor of sample positions, "
                             f"got shape {tuple(idx.shape)}")
        n = len(s.rows)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise IndexError(f"idx must lie in 0..{n - 1} for split {split!r} of {self.name!r}, "
                             f"got values in {int(idx.min())}..{int(idx.max())}")
        x = s.inputs[s.rows[idx]]
        if self._transform is not None:
            x = self._transform(x)
        return x, s.labels[idx]

    def sample_batch(self, split: str, batch_size: int,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch: ``batch_size`` samples drawn uniformly, with replacement."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        n = self.num_samples(split)
        if n == 0:
            raise ValueError(f"split {split!r} of {self.name!r} is empty (val_size=0?)")
        return self.batch(split, torch.randint(n, (batch_size,), generator=generator))

    def iter_batches(self, split: str, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """All samples of ``split`` in order, ``batch_size`` at a time (the last may be smaller)."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        n = self.num_samples(split)
        for start in range(0, n, batch_size):
            yield self.batch(split, torch.arange(start, min(start + batch_size, n)))

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split as (x, y) tensors."""
        return self.batch(split, torch.arange(self.num_samples(split)))

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={self.num_samples(s)}" for s in SPLITS)
        return f"TaskData({self.name!r}, classes={self.classes}, {sizes})"


@dataclass
class Benchmark:
    """A sequence of tasks and what a model needs to know about them.

    Attributes:
        name: the builder's name, e.g. "split_mnist".
        tasks: one TaskData per task, in training order.
        input_shape: per-sample input shape, e.g. (784,), (1024,), (3, 32, 32), (1,).
        classes_per_task: outputs per task head (regression: output dim, 1).
        kind: "classification" or "regression".
        source: where the data came from: "mirror", "cache", "download",
            "shipped subset" or "generated" (two datasets: e.g. "mirror + cache").
        data_label: how results must be labelled, e.g. "CIFAR-10 (JPEG mirror)".
        info: the options the benchmark was built with and notes (normalisation, ...).
    """

    name: str
    tasks: list[TaskData]
    input_shape: tuple[int, ...]
    classes_per_task: int
    kind: str
    source: str
    data_label: str
    info: dict = field(default_factory=dict)

    @property
    def num_tasks(self) -> int:
        """Number of tasks."""
        return len(self.tasks)

    def __repr__(self) -> str:
        return (f"Benchmark({self.name!r}, num_tasks={self.num_tasks}, input_shape={self.input_shape}, "
                f"classes_per_task={self.classes_per_task}, source={self.source!r}, "
                f"data={self.data_label!r})")


# --------------------------------------------------------------------------
# Input transforms (applied per batch)
# --------------------------------------------------------------------------

class MNISTTransform:
    """uint8 (B, 28, 28) -> float32 (B, D) in [0, 1]: optional zero-padding to 32x32, flatten,
    then an optional pixel permutation (applied to the padded, flattened image)."""

    def __init__(self, pad: bool, permutation: torch.Tensor | None = None):
        self.pad = pad
        self.permutation = permutation

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        # pad the uint8 pixels, then convert; index_select permutes a float batch ~10x faster
        # than x[:, permutation] (either dtype) on a CPU. Same values as before.
        x = F.pad(images, (2, 2, 2, 2)) if self.pad else images
        x = x.flatten(1).float().div_(255.0)
        return x if self.permutation is None else x.index_select(1, self.permutation)


class NormalizeTransform:
    """uint8 (B, 3, H, W) -> float32 (B, 3, H, W): scale to [0, 1], then (x - mean) / std per channel."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        self.mean = mean.view(1, -1, 1, 1)
        self.std = std.view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float().div_(255.0) - self.mean) / self.std


class ViewTransform(NormalizeTransform):
    """A :class:`NormalizeTransform` that first shows the images another way: colours inverted
    (``invert``: pixel p becomes 255 - p) and/or rotated by ``quarter_turns`` x 90 degrees."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, quarter_turns: int = 0,
                 invert: bool = False):
        super().__init__(mean, std)
        self.quarter_turns, self.invert = quarter_turns, invert

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.invert:
            images = 255 - images
        if self.quarter_turns:
            images = torch.rot90(images, self.quarter_turns, dims=(-2, -1))
        return super().__call__(images)


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images (N, C, H, W) scaled to [0, 1] -> two (C,) tensors.

    Computed exactly (float64) from a histogram of the 256 pixel values of each channel.
    """
    values = torch.arange(256, dtype=torch.float64) / 255.0
    mean, std = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].flatten(), minlength=256).to(torch.float64)
        p = counts / counts.sum()
        m = (p * values).sum()
        mean.append(m)
        variance = (p * values.square()).sum() - m.square()
        std.append(variance.clamp_min(0).sqrt())  # clamp: rounding can give -1e-17 for constant images
    return torch.stack(mean).float(), torch.stack(std).float()


# --------------------------------------------------------------------------
# Helpers: seeds, argument checks, splits
# --------------------------------------------------------------------------

def _generator(seed: int, purpose: str) -> torch.Generator:
    """A generator seeded from (seed, purpose), so each random choice has its own stream."""
    digest = hashlib.sha256(f"{seed}/{purpose}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


def _check_int(name: str, value, low: int, high: int | None = None, why: str = "") -> int:
    """Return ``value`` if it is an int in [low, high]; else a ValueError naming ``name``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    ok = ok and (high is None or value <= high)
    if not ok:
        allowed = f"an int >= {low}" if high is None else f"an int from {low} to {high}"
        raise ValueError(f"{name} must be {allowed}{why}, got {value!r}")
    return value


def _default_val_size(num_train: int) -> int:
    """Default validation size of a task: a tenth of its training samples, at most 5,000."""
    return min(num_train // 10, 5000)


def _check_val_size(val_size, smallest_train: int) -> None:
    """``val_size`` must leave at least one training sample in every task."""
    if val_size is None:
        return
    _check_int("val_size", val_size, 0, smallest_train - 1,
               f" (fewer than the {smallest_train} training samples of the smallest task)")


def _train_val_rows(rows: torch.Tensor, val_size: int, generator: torch.Generator):
    """Split training ``rows`` into (train_rows, val_rows); both keep their original order."""
    order = torch.randperm(len(rows), generator=generator)
    val = order[:val_size].sort().values
    train = order[val_size:].sort().values
    return rows[train], rows[val]


def _class_task(name: str, data: ImageData, dataset_classes: list[int], global_classes: tuple[int, ...],
                val_size: int | None, generator: torch.Generator, transform) -> TaskData:
    """A classification task made of some classes of ``data``; labels become 0..C-1."""
    lookup = torch.full((len(data.classes),), -1, dtype=torch.long)
    lookup[torch.tensor(dataset_classes)] = torch.arange(len(dataset_classes))

    def rows_of(labels):
        return (lookup[labels] >= 0).nonzero().flatten()

    train_rows = rows_of(data.train_labels)
    if val_size is None:
        val_size = _default_val_size(len(train_rows))
    train_rows, val_rows = _train_val_rows(train_rows, val_size, generator)
    test_rows = rows_of(data.test_labels)
    splits = {
        "train": Split(data.train_images, train_rows, lookup[data.train_labels[train_rows]]),
        "val": Split(data.train_images, val_rows, lookup[data.train_labels[val_rows]]),
        "test": Split(data.test_images, test_rows, lookup[data.test_labels[test_rows]]),
    }
    names = tuple(data.classes[c] for c in dataset_classes)
    return TaskData(name, global_classes, splits, transform, class_names=names)


def _val_sizes(tasks: list[TaskData]) -> list[int]:
    """Validation samples of each task (for ``Benchmark.info``)."""
    return [task.num_samples("val") for task in tasks]


def _smallest_class_count(data: ImageData, class_groups: list[list[int]]) -> int:
    """Training samples of the smallest group of classes."""
    counts = torch.bincount(data.train_labels, minlength=len(data.classes))
    return min(int(counts[group].sum()) for group in class_groups)


# --------------------------------------------------------------------------
# 1-D polynomial regression
# --------------------------------------------------------------------------

#: The three tasks of the paper: (description, interval, function).
PAPER_REGRESSION_TASKS = (
    ("f(x) = x + 3", (-4.0, -2.0), lambda x: x + 3),
    ("f(x) = 2x² - 1", (-1.0, 1.0), lambda x: 2 * x ** 2 - 1),
    ("f(x) = (x - 3)³", (2.0, 4.0), lambda x: (x - 3) ** 3),
)


class Polynomial:
    """y = sum_k c_k (x - center)^k: a polynomial around the middle of its interval."""

    def __init__(self, coefficients: list[float], center: float):
        self.coefficients = list(coefficients)
        self.center = center

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        u = x - self.center
        return sum(c * u ** k for k, c in enumerate(self.coefficients))

    def __repr__(self) -> str:
        terms = f"{self.coefficients[0]:.3f}"
        for k, c in enumerate(self.coefficients[1:], start=1):
            terms += f" {'-' if c < 0 else '+'} {abs(c):.3f}u" + ("" if k == 1 else f"^{k}")
        return f"f(x) = {terms} with u = x - {self.center:g}"


def _random_polynomial(center: float, generator: torch.Generator) -> Polynomial:
    """Degree 1-3, normal coefficients, rescaled so that max |f| on [center-1, center+1] is 1
    (the paper's three tasks also take values in [-1, 1])."""
    degree = int(torch.randint(1, 4, (1,), generator=generator))
    coefficients = torch.randn(degree + 1, generator=generator, dtype=torch.float64)
    u = torch.linspace(-1, 1, 201, dtype=torch.float64)
    peak = Polynomial(coefficients.tolist(), 0.0)(u).abs().max()
    return Polynomial((coefficients / peak).tolist(), center)


def regression(num_tasks: int = 3, seed: int = 0, val_size: int | None = None, num_train: int = 100,
               num_test: int = 50, noise_std: float = 0.05) -> Benchmark:
    """1-D polynomial regression of the paper, extendable to longer sequences.

    Tasks 1-3 are the paper's: f1 = x+3 on [-4,-2], f2 = 2x²-1 on [-1,1],
    f3 = (x-3)³ on [2,4]. Tasks beyond 3 continue the pattern of intervals
    (width 2, gap 1: [5,7], [8,10], ...) with random polynomials of degree 1-3
    scaled to values in [-1, 1] (seeded).

    Training points: x uniform in the interval, y = f(x) + N(0, noise_std²).
    Validation points (``val_size``, default 50): drawn the same way but without noise.
    Test points (``num_test``): evenly spaced over the interval, without noise.
    x: (B, 1) float32, y: (B, 1) float32.
    """
    check_num_tasks("regression", num_tasks)
    _check_int("num_train", num_train, 1)
    _check_int("num_test", num_test, 1)
    val_size = 50 if val_size is None else _check_int("val_size", val_size, 0)
    if not isinstance(noise_std, (int, float)) or isinstance(noise_std, bool) or not noise_std >= 0:
        raise ValueError(f"noise_std must be a number >= 0, got {noise_std!r}")

    tasks = []
    for t in range(num_tasks):
        g = _generator(seed, f"regression task {t}")
        if t < len(PAPER_REGRESSION_TASKS):
            description, (low, high), function = PAPER_REGRESSION_TASKS[t]
        else:
            low, high = -4.0 + 3 * t, -2.0 + 3 * t
            function = _random_polynomial((low + high) / 2, g)
            description = repr(function)

        def uniform(n):
            return low + (high - low) * torch.rand(n, 1, generator=g)

        x_train = uniform(num_train)
        y_train = function(x_train) + noise_std * torch.randn(num_train, 1, generator=g)
        x_val = uniform(val_size)
        x_test = torch.linspace(low, high, num_test).unsqueeze(1)
        splits = {name: Split(x.float(), torch.arange(len(x)), y.float())
                  for name, x, y in (("train", x_train, y_train), ("val", x_val, function(x_val)),
                                     ("test", x_test, function(x_test)))}
        tasks.append(TaskData(f"task {t + 1}: {description} on [{low:g}, {high:g}]", (), splits,
                              function=function, domain=(low, high)))
    return Benchmark("regression", tasks, (1,), 1, "regression", "generated",
                     f"1-D polynomial regression (generated, seed {seed})",
                     dict(num_tasks=num_tasks, seed=seed, val_size=val_size, num_train=num_train,
                          num_test=num_test, noise_std=noise_std))


# --------------------------------------------------------------------------
# MNIST benchmarks
# --------------------------------------------------------------------------

def permuted_mnist(num_tasks: int = 10, seed: int = 0, val_size: int | None = None, pad: bool = True,
                   mnist: ImageData | None = None) -> Benchmark:
    """PermutedMNIST-K: task 1 is MNIST, task t > 1 applies a fixed random pixel permutation.

    Images are scaled to [0, 1] (no mean/std normalisation), zero-padded to
    32x32 when ``pad`` (input 1024; else 784) and flattened; the permutation
    acts on the padded, flattened image. All tasks share the same images and
    the same train/validation rows; only the permutation differs, and it is
    applied per batch. Labels are the digits 0-9 in every task, so
    ``task.classes`` is (10t, ..., 10t+9) (class-incremental ids).

    Args:
        mnist: an already loaded MNIST (default: :func:`datasets.load_mnist`).
    """
    check_num_tasks("permuted_mnist", num_tasks)
    if not isinstance(pad, bool):
        raise ValueError(f"pad must be True or False, got {pad!r}")
    mnist = datasets.load_mnist() if mnist is None else mnist
    num_train = len(mnist.train_labels)
    _check_val_size(val_size, num_train)
    val_size = _default_val_size(num_train) if val_size is None else val_size
    train_rows, val_rows = _train_val_rows(torch.arange(num_train), val_size,
                                           _generator(seed, "permuted_mnist validation rows"))
    test_rows = torch.arange(len(mnist.test_labels))
    splits = {"train": Split(mnist.train_images, train_rows, mnist.train_labels[train_rows]),
              "val": Split(mnist.train_images, val_rows, mnist.train_labels[val_rows]),
              "test": Split(mnist.test_images, test_rows, mnist.test_labels)}
    side = 32 if pad else 28
    tasks = []
    for t in range(num_tasks):
        permutation = None if t == 0 else torch.randperm(
            side * side, generator=_generator(seed, f"permuted_mnist permutation {t}"))
        tasks.append(TaskData("MNIST" if t == 0 else f"permutation {t}",
                              tuple(range(10 * t, 10 * t + 10)), splits,
                              MNISTTransform(pad, permutation), class_names=mnist.classes))
    return Benchmark("permuted_mnist", tasks, (side * side,), 10, "classification", mnist.source,
                     mnist.label, dict(num_tasks=num_tasks, seed=seed, val_size=val_size, pad=pad,
                                       pixels="scaled to [0, 1], no normalisation"))


def permutation(task: TaskData) -> torch.Tensor | None:
    """The pixel permutation of a PermutedMNIST task (None for the unpermuted first task)."""
    transform = task._transform
    if not isinstance(transform, MNISTTransform):
        raise ValueError(f"task {task.name!r} is not a PermutedMNIST task")
    return transform.permutation


def split_mnist(num_tasks: int = 5, seed: int = 0, val_size: int | None = None, pad: bool = False,
                mnist: ImageData | None = None) -> Benchmark:
    """SplitMNIST: task t holds digits 2t and 2t+1, labelled 0 and 1 within the task.

    Images scaled to [0, 1], flattened to 784 (1024 with ``pad``).
    """
    check_num_tasks("split_mnist", num_tasks)
    if not isinstance(pad, bool):
        raise ValueError(f"pad must be True or False, got {pad!r}")
    mnist = datasets.load_mnist() if mnist is None else mnist
    groups = [[2 * t, 2 * t + 1] for t in range(num_tasks)]
    _check_val_size(val_size, _smallest_class_count(mnist, groups))
    transform = MNISTTransform(pad)
    tasks = [_class_task(f"digits {a}/{b}", mnist, [a, b], (a, b), val_size,
                         _generator(seed, f"split_mnist validation rows {t}"), transform)
             for t, (a, b) in enumerate(groups)]
    side = 32 if pad else 28
    return Benchmark("split_mnist", tasks, (side * side,), 2, "classification", mnist.source,
                     mnist.label, dict(num_tasks=num_tasks, seed=seed, val_size=val_size, pad=pad,
                                       val_sizes=_val_sizes(tasks),
                                       pixels="scaled to [0, 1], no normalisation"))


# --------------------------------------------------------------------------
# CIFAR benchmarks
# --------------------------------------------------------------------------

def _normalizer(data: ImageData) -> tuple[NormalizeTransform, dict]:
    """Per-channel normalisation with the mean/std of ``data``'s training images."""
    mean, std = channel_stats(data.train_images)
    note = {"mean": [round(v, 4) for v in mean.tolist()], "std": [round(v, 4) for v in std.tolist()],
            "of": f"training images of {data.label}"}
    return NormalizeTransform(mean, std), note


def split_cifar10(num_tasks: int = 5, seed: int = 0, val_size: int | None = None,
                  cifar10: ImageData | None = None) -> Benchmark:
    """Split CIFAR-10: task t holds classes 2t and 2t+1, labelled 0 and 1 within the task.

    Inputs (3, 32, 32), normalised per channel with the mean/std of the loaded
    CIFAR-10 training images. Works offline (mirror or shipped subset).
    """
    check_num_tasks("split_cifar10", num_tasks)
    cifar10 = datasets.load_cifar10() if cifar10 is None else cifar10
    groups = [[2 * t, 2 * t + 1] for t in range(num_tasks)]
    _check_val_size(val_size, _smallest_class_count(cifar10, groups))
    transform, note = _normalizer(cifar10)
    tasks = [_class_task(f"{cifar10.classes[a]}/{cifar10.classes[b]}", cifar10, [a, b], (a, b),
                         val_size, _generator(seed, f"split_cifar10 validation rows {t}"), transform)
             for t, (a, b) in enumerate(groups)]
    return Benchmark("split_cifar10", tasks, (3, 32, 32), 2, "classification", cifar10.source,
                     cifar10.label, dict(num_tasks=num_tasks, seed=seed, val_size=val_size,
                                         val_sizes=_val_sizes(tasks), normalisation=note))


def split_cifar10_100(num_tasks: int = 6, seed: int = 0, val_size: int | None = None,
                      cifar10: ImageData | None = None, cifar100: ImageData | None = None) -> Benchmark:
    """Split CIFAR-10/100: task 1 is all of CIFAR-10; tasks 2-6 are CIFAR-100 classes
    0-9, 10-19, ..., 40-49 (ten per task, labelled 0-9 within the task).

    ``task.classes`` of task t is (10t, ..., 10t+9) (class-incremental ids);
    ``task.class_names`` gives the dataset's class names. Each dataset is
    normalised per channel with the mean/std of its own training images.
    CIFAR-100 is loaded only when num_tasks > 1 (it needs internet or a cache).
    """
    check_num_tasks("split_cifar10_100", num_tasks)
    groups100 = [list(range(10 * (t - 1), 10 * t)) for t in range(1, num_tasks)]
    if groups100 and cifar100 is None:
        cifar100 = datasets.load_cifar100()  # first: the one that may be missing offline
    cifar10 = datasets.load_cifar10() if cifar10 is None else cifar10
    smallest = len(cifar10.train_labels)
    if groups100:
        smallest = min(smallest, _smallest_class_count(cifar100, groups100))
    _check_val_size(val_size, smallest)

    transform10, note10 = _normalizer(cifar10)
    tasks = [_class_task("CIFAR-10", cifar10, list(range(10)), tuple(range(10)), val_size,
                         _generator(seed, "split_cifar10_100 validation rows 0"), transform10)]
    notes = {"CIFAR-10": note10}
    sources, labels = [cifar10.source], [cifar10.label]
    if groups100:
        transform100, notes["CIFAR-100"] = _normalizer(cifar100)
        for t, group in enumerate(groups100, start=1):
            tasks.append(_class_task(f"CIFAR-100 classes {group[0]}-{group[-1]}", cifar100, group,
                                     tuple(range(10 * t, 10 * t + 10)), val_size,
                                     _generator(seed, f"split_cifar10_100 validation rows {t}"),
                                     transform100))
        sources.append(cifar100.source)
        labels.append(cifar100.label)
    source = " + ".join(dict.fromkeys(sources))
    return Benchmark("split_cifar10_100", tasks, (3, 32, 32), 10, "classification", source,
                     " + ".join(labels), dict(num_tasks=num_tasks, seed=seed, val_size=val_size,
                                              val_sizes=_val_sizes(tasks), normalisation=notes))


#: How tasks 2-6 of the substitute show their images: (name, quarter turns, colours inverted).
SUBSTITUTE_VIEWS = (
    ("rotated 90°", 1, False),
    ("rotated 180°", 2, False),
    ("rotated 270°", 3, False),
    ("colours inverted", 0, True),
    ("colours inverted, rotated 180°", 2, True),
)


def _derangement(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random permutation of 0..n-1 that moves every element (n >= 2)."""
    while True:
        perm = torch.randperm(n, generator=generator)
        if not (perm == torch.arange(n)).any():
            return perm


def _substitute_rows(labels: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
    """Rows of ``labels`` (N,) for the substitute's six tasks, balanced over the classes:
    task 1 gets half of every class, tasks 2-6 a tenth of that each, from the other half."""
    later = len(SUBSTITUTE_VIEWS)
    parts: list[list[torch.Tensor]] = [[] for _ in range(1 + later)]
    for c in range(int(labels.max()) + 1):
        rows = (labels == c).nonzero().flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        half = len(rows) // 2
        parts[0].append(rows[:half])
        share = half // 10
        assert half + later * share <= len(rows)
        for t in range(later):
            parts[1 + t].append(rows[half + t * share:half + (t + 1) * share])
    return [torch.cat(p).sort().values for p in parts]


def split_cifar10_substitute(num_tasks: int = 6, seed: int = 0, val_size: int | None = None,
                             cifar10: ImageData | None = None) -> Benchmark:
    """An offline stand-in for Split CIFAR-10/100 with the same structure, from CIFAR-10 alone.

    The paper's benchmark is one large task (all of CIFAR-10) followed by five
    tasks with a tenth of its data each, ten *new* classes (CIFAR-100) each.
    Without CIFAR-100 we keep that shape (docs/method.md, section 7):

    * task 1: half of the training and test images of every CIFAR-10 class,
      as they are, with the usual labels (25,000 training images in full);
    * tasks 2-6: disjoint parts of the *other* half with a tenth of task 1's
      images each (2,500 training and 500 test images, balanced over the
      classes; the rest of that half is unused). Each shows its images another
      way (:data:`SUBSTITUTE_VIEWS`: rotated by 90/180/270 degrees, colours
      inverted) and names the ten classes with its own random relabelling (a
      derangement: no class keeps its label).

    So a later task is new visual input with new labels and little data, on
    which features learned on task 1 (edges, textures, parts) can still help:
    what CIFAR-100 classes offer after CIFAR-10. Unlike CIFAR-100, the objects
    are the same ten categories. ``task.class_names`` gives the CIFAR-10 class
    of each within-task label. Inputs (3, 32, 32), normalised per channel with
    the mean/std of all loaded CIFAR-10 training images (before the view).
    Results are labelled with ``data_label`` ("CIFAR-10 (JPEG mirror); ...").
    """
    check_num_tasks("split_cifar10_substitute", num_tasks)
    cifar10 = datasets.load_cifar10() if cifar10 is None else cifar10
    gen = _generator(seed, "split_cifar10_substitute partition")
    train_parts = _substitute_rows(cifar10.train_labels, gen)
    test_parts = _substitute_rows(cifar10.test_labels, gen)
    _check_val_size(val_size, min(len(p) for p in train_parts))
    mean, std = channel_stats(cifar10.train_images)
    _, note = _normalizer(cifar10)
    tasks, relabellings = [], []
    for t in range(num_tasks):
        if t == 0:
            relabel, view, transform = torch.arange(10), "as they are", NormalizeTransform(mean, std)
        else:
            relabel = _derangement(10, _generator(seed, f"split_cifar10_substitute labels {t}"))
            view, turns, invert = SUBSTITUTE_VIEWS[t - 1]
            transform = ViewTransform(mean, std, turns, invert)
        rows = train_parts[t]
        size = _default_val_size(len(rows)) if val_size is None else val_size
        train_rows, val_rows = _train_val_rows(
            rows, size, _generator(seed, f"split_cifar10_substitute validation rows {t}"))
        splits = {split: Split(images, r, relabel[labels[r]]) for split, images, labels, r in (
            ("train", cifar10.train_images, cifar10.train_labels, train_rows),
            ("val", cifar10.train_images, cifar10.train_labels, val_rows),
            ("test", cifar10.test_images, cifar10.test_labels, test_parts[t]))}
        names = tuple(cifar10.classes[c] for c in relabel.argsort().tolist())  # class of label 0, 1, ...
        name = "CIFAR-10, first half" if t == 0 else f"CIFAR-10 part {t}, {view}, relabelled"
        tasks.append(TaskData(name, tuple(range(10 * t, 10 * t + 10)), splits, transform, class_names=names))
        relabellings.append(relabel.tolist())
    label = f"{cifar10.label}; substitute for Split CIFAR-10/100"
    return Benchmark("split_cifar10_substitute", tasks, (3, 32, 32), 10, "classification", cifar10.source,
                     label, dict(num_tasks=num_tasks, seed=seed, val_size=val_size,
                                 val_sizes=_val_sizes(tasks), normalisation=note,
                                 views=["as they are"] + [v[0] for v in SUBSTITUTE_VIEWS[:num_tasks - 1]],
                                 relabellings=relabellings))


# --------------------------------------------------------------------------
# By name
# --------------------------------------------------------------------------

#: benchmark name -> builder function
BUILDERS: dict[str, Callable[..., Benchmark]] = {
    "regression": regression,
    "permuted_mnist": permuted_mnist,
    "split_mnist": split_mnist,
    "split_cifar10_100": split_cifar10_100,
    "split_cifar10": split_cifar10,
    "split_cifar10_substitute": split_cifar10_substitute,
}


def make_benchmark(name: str, num_tasks: int | None = None, seed: int = 0, **options) -> Benchmark:
    """Build the benchmark ``name`` (see BUILDERS) with ``num_tasks`` tasks (None: its default).

    ``options`` go to the builder, e.g. ``val_size=1000`` or ``pad=False``.
    """
    if name not in BUILDERS:
        raise ValueError(f"Unknown benchmark name {name!r}; known: {', '.join(BUILDERS)}")
    builder = BUILDERS[name]
    allowed = [p for p in inspect.signature(builder).parameters if p not in ("num_tasks", "seed")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for benchmark {name!r}; allowed: {allowed}")
    _check_int("seed", seed, 0)
    if num_tasks is not None:
        options["num_tasks"] = num_tasks
    return builder(seed=seed, **options)


__all__ = ["TaskData", "Benchmark", "Split", "SPLITS", "BUILDERS", "MAX_TASKS", "SHAPES",
           "SMALLEST_TASK_TRAIN", "check_num_tasks", "run_data", "same_data", "describe_data",
           "make_benchmark", "regression",
           "permuted_mnist", "split_mnist", "split_cifar10", "split_cifar10_100", "split_cifar10_substitute",
           "permutation",
           "channel_stats", "MNISTTransform", "NormalizeTransform", "ViewTransform", "PAPER_REGRESSION_TASKS"]



# ------------------------------------------------------- the data a run was made on


def run_data(benchmark: Benchmark, train_idx: Sequence[torch.Tensor],
             test_idx: Sequence[torch.Tensor]) -> dict:
    """What a run trains and is tested on (the ``data`` of its results): source, label, kind,
    shapes and the samples per task. A resume or a re-evaluation must find the same
    (:func:`same_data`)."""
    return {"source": benchmark.source, "label": benchmark.data_label, "kind": benchmark.kind,
            "input_shape": list(benchmark.input_shape),
            "classes_per_task": benchmark.classes_per_task,
            "train_samples_per_task": [len(i) for i in train_idx],
            "test_samples_per_task": [len(i) for i in test_idx]}


def same_data(a: dict | None, b: dict | None, splits: Sequence[str] = ("train", "test")) -> bool:
    """True if two :func:`run_data` records describe the same data: the same label, shapes and
    samples per task of ``splits``. Where the files came from ("mirror" or "cache") does not
    matter; a shipped subset in place of the full dataset does (its label differs)."""
    if not a or not b:
        return False
    keys = ["label", "kind", "input_shape", "classes_per_task"]
    keys += [f"{split}_samples_per_task" for split in splits]
    return all(a.get(k) == b.get(k) for k in keys)


def describe_data(data: dict | None) -> str:
    """``'MNIST, 54,000 / 10,000 train / test samples in task 1'``: a run's data in words."""
    if not data:
        return "not recorded"
    train, test = data.get("train_samples_per_task") or [], data.get("test_samples_per_task") or []
    sizes = f", {train[0]:,} / {test[0]:,} train / test samples in task 1" if train and test else ""
    return f"{data.get('label') or data.get('source')}{sizes}"
