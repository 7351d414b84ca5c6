"""Tests of hnet_utils.data.benchmarks: the TaskData/Benchmark contract of docs/architecture.md,
for every benchmark, on the shipped subsets (and a tiny CIFAR-100 written by the tests)."""

from __future__ import annotations

import re

import pytest
import torch

from hnet_utils.data import benchmarks as B
from hnet_utils.data.benchmarks import MAX_TASKS, make_benchmark
from hnet_utils.data.datasets import ImageData


@pytest.fixture(scope="module")
def tiny_cifar100() -> ImageData:
    """100 classes x (6 train, 2 test) random 3x32x32 images, in memory."""
    g = torch.Generator().manual_seed(0)
    train_labels = torch.arange(100).repeat_interleave(6)
    test_labels = torch.arange(100).repeat_interleave(2)
    def images(n):
        return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)

    return ImageData("CIFAR-100", images(600), train_labels, images(200), test_labels,
                     tuple(f"fine_{i:02d}" for i in range(100)), "cache", "CIFAR-100")


@pytest.fixture(scope="module")
def all_benchmarks(mnist_mini, cifar10_mini, tiny_cifar100) -> dict[str, B.Benchmark]:
    return {
        "regression": B.regression(),
        "permuted_mnist": B.permuted_mnist(num_tasks=3, mnist=mnist_mini),
        "split_mnist": B.split_mnist(mnist=mnist_mini),
        "split_cifar10_100": B.split_cifar10_100(cifar10=cifar10_mini, cifar100=tiny_cifar100),
        "split_cifar10": B.split_cifar10(cifar10=cifar10_mini),
        "split_cifar10_substitute": B.split_cifar10_substitute(cifar10=cifar10_mini),
    }


EXPECTED = {  # name: (num_tasks, input_shape, classes_per_task, kind)
    "regression": (3, (1,), 1, "regression"),
    "permuted_mnist": (3, (1024,), 10, "classification"),
    "split_mnist": (5, (784,), 2, "classification"),
    "split_cifar10_100": (6, (3, 32, 32), 10, "classification"),
    "split_cifar10": (5, (3, 32, 32), 2, "classification"),
    "split_cifar10_substitute": (6, (3, 32, 32), 10, "classification"),
}


# --------------------------------------------------------------------------
# The contract, for every benchmark
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(EXPECTED))
def test_benchmark_contract(all_benchmarks, name):
    bench = all_benchmarks[name]
    num_tasks, input_shape, classes_per_task, kind = EXPECTED[name]
    assert (bench.name, bench.num_tasks, bench.input_shape) == (name, num_tasks, input_shape)
    assert (bench.classes_per_task, bench.kind) == (classes_per_task, kind)
    assert bench.source in ("shipped subset", "generated", "shipped subset + cache")
    assert isinstance(bench.data_label, str) and bench.data_label
    for t, task in enumerate(bench.tasks):
        for split in B.SPLITS:
            n = task.num_samples(split)
            assert n > 0
            x, y = task.tensors(split)
            assert x.shape == (n, *input_shape) and x.dtype == torch.float32
            if kind == "regression":
                assert task.classes == () and y.shape == (n, 1) and y.dtype == torch.float32
            else:
                assert y.shape == (n,) and y.dtype == torch.int64
                assert 0 <= int(y.min()) and int(y.max()) < classes_per_task
                # global class ids: t * classes_per_task + y
                assert task.classes == tuple(range(t * classes_per_task, (t + 1) * classes_per_task))
            # batch / iter_batches / tensors agree
            idx = torch.tensor([n - 1, 0])
            xb, yb = task.batch(split, idx)
            assert torch.equal(xb, x[idx]) and torch.equal(yb, y[idx])
            size = n // 3 + 1  # three or four batches, the last one smaller
            parts = list(task.iter_batches(split, size))
            assert len(parts) == -(-n // size) and len(parts[-1][1]) == n - size * (len(parts) - 1)
            assert torch.equal(torch.cat([p[0] for p in parts]), x)
            assert torch.equal(torch.cat([p[1] for p in parts]), y)
        g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        xa, ya = task.sample_batch("train", 16, g1)
        xb, yb = task.sample_batch("train", 16, g2)
        assert xa.shape == (16, *input_shape) and torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.parametrize("name", ["split_mnist", "split_cifar10", "permuted_mnist"])
def test_train_and_val_partition_the_training_rows(all_benchmarks, name):
    for task in all_benchmarks[name].tasks:
        train, val = task._splits["train"].rows, task._splits["val"].rows
        assert len(set(train.tolist()) & set(val.tolist())) == 0
        assert len(val) == min((len(train) + len(val)) // 10, 5000)  # the default val_size


def test_bad_batch_arguments(all_benchmarks):
    task = all_benchmarks["split_mnist"].tasks[0]
    with pytest.raises(ValueError, match="split must be one of"):
        task.num_samples("validation")
    with pytest.raises(IndexError, match="idx must lie in"):
        task.batch("test", torch.tensor([task.num_samples("test")]))
    with pytest.raises(ValueError, match="batch_size"):
        task.sample_batch("train", 0)
    with pytest.raises(ValueError, match="batch_size"):
        next(task.iter_batches("train", -1))


# --------------------------------------------------------------------------
# PermutedMNIST
# --------------------------------------------------------------------------

def test_permutations_are_seeded_distinct_and_first_task_unpermuted(mnist_mini):
    a = B.permuted_mnist(num_tasks=4, seed=0, mnist=mnist_mini)
    again = B.permuted_mnist(num_tasks=6, seed=0, mnist=mnist_mini)
    other = B.permuted_mnist(num_tasks=4, seed=1, mnist=mnist_mini)
    assert B.permutation(a.tasks[0]) is None
    perms = [B.permutation(t) for t in a.tasks[1:]]
    for p in perms:
        assert torch.equal(p.sort().values, torch.arange(1024))   # a real permutation
        assert not torch.equal(p, torch.arange(1024))
    assert all(not torch.equal(p, q) for i, p in enumerate(perms) for q in perms[i + 1:])
    # same seed: same permutations (also with more tasks); other seed: different ones
    assert all(torch.equal(p, B.permutation(t)) for p, t in zip(perms, again.tasks[1:]))
    assert all(not torch.equal(p, B.permutation(t)) for p, t in zip(perms, other.tasks[1:]))


def test_permuted_batches_are_the_padded_images_permuted(mnist_mini):
    bench = B.permuted_mnist(num_tasks=3, mnist=mnist_mini)
    idx = torch.arange(20)
    x0, y0 = bench.tasks[0].batch("test", idx)
    padded = torch.nn.functional.pad(mnist_mini.test_images[:20].float() / 255, (2, 2, 2, 2)).flatten(1)
    assert torch.equal(x0, padded) and torch.equal(y0, mnist_mini.test_labels[:20])
    for task in bench.tasks[1:]:
        x, y = task.batch("test", idx)
        assert torch.equal(x, x0[:, B.permutation(task)]) and torch.equal(y, y0)


def test_permuted_tasks_share_one_copy_of_the_images(mnist_mini):
    bench = B.permuted_mnist(num_tasks=50, mnist=mnist_mini)
    pointers = {task._splits[s].inputs.data_ptr() for task in bench.tasks for s in B.SPLITS}
    assert pointers == {mnist_mini.train_images.data_ptr(), mnist_mini.test_images.data_ptr()}


def test_permuted_mnist_without_padding(mnist_mini):
    bench = B.permuted_mnist(num_tasks=2, pad=False, mnist=mnist_mini)
    assert bench.input_shape == (784,)
    x, _ = bench.tasks[1].sample_batch("train", 4)
    assert x.shape == (4, 784) and 0 <= float(x.min()) and float(x.max()) <= 1


def test_validation_rows_are_seeded(mnist_mini):
    def rows(seed):
        return B.permuted_mnist(num_tasks=1, seed=seed, mnist=mnist_mini).tasks[0]._splits["val"].rows

    assert torch.equal(rows(0), rows(0)) and not torch.equal(rows(0), rows(1))
    bench = B.permuted_mnist(num_tasks=1, val_size=100, mnist=mnist_mini)
    assert bench.tasks[0].num_samples("val") == 100 and bench.tasks[0].num_samples("train") == 2400


# --------------------------------------------------------------------------
# Split benchmarks: class membership
# --------------------------------------------------------------------------

def test_split_mnist_tasks_hold_their_two_digits(all_benchmarks, mnist_mini):
    for t, task in enumerate(all_benchmarks["split_mnist"].tasks):
        assert task.classes == (2 * t, 2 * t + 1)
        mask = (mnist_mini.test_labels == 2 * t) | (mnist_mini.test_labels == 2 * t + 1)
        x, y = task.tensors("test")
        assert torch.equal(x, mnist_mini.test_images[mask].flatten(1).float() / 255)
        assert torch.equal(y, mnist_mini.test_labels[mask] - 2 * t)
        rows = torch.cat([task._splits["train"].rows, task._splits["val"].rows])
        assert sorted(rows.tolist()) == mask_rows(mnist_mini.train_labels, 2 * t)
        assert task.num_samples("train") + task.num_samples("val") == 500


def mask_rows(labels, first):
    return ((labels == first) | (labels == first + 1)).nonzero().flatten().tolist()


def test_split_cifar10_classes_and_normalisation(all_benchmarks, cifar10_mini):
    bench = all_benchmarks["split_cifar10"]
    assert "CIFAR-10 (JPEG mirror)" in bench.data_label
    xs = []
    for t, task in enumerate(bench.tasks):
        assert task.classes == (2 * t, 2 * t + 1)
        assert task.class_names == cifar10_mini.classes[2 * t:2 * t + 2]
        _, y = task.tensors("test")
        assert torch.bincount(y).tolist() == [50, 50]
        xs += [task.tensors("train")[0], task.tensors("val")[0]]
    x = torch.cat(xs)  # all training images: normalised to mean 0, std 1 per channel
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)


def test_split_cifar10_100_tasks(all_benchmarks, tiny_cifar100):
    bench = all_benchmarks["split_cifar10_100"]
    assert bench.tasks[0].num_samples("test") == 500 and bench.tasks[0].class_names[0] == "airplane"
    for t, task in enumerate(bench.tasks[1:], start=1):
        assert task.class_names == tuple(f"fine_{c:02d}" for c in range(10 * (t - 1), 10 * t))
        x, y = task.tensors("test")
        assert torch.bincount(y).tolist() == [2] * 10
        # the images are CIFAR-100 class 10(t-1)+y, normalised with CIFAR-100's statistics
        rows = (tiny_cifar100.test_labels // 10 == t - 1).nonzero().flatten()
        mean, std = B.channel_stats(tiny_cifar100.train_images)
        scaled = tiny_cifar100.test_images[rows].float() / 255
        expected = (scaled - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
        assert torch.allclose(x, expected, atol=1e-6)
        assert torch.equal(y, tiny_cifar100.test_labels[rows] - 10 * (t - 1))
    assert set(bench.info["normalisation"]) == {"CIFAR-10", "CIFAR-100"}


def test_split_cifar10_100_first_task_needs_no_cifar100(no_mirror, tmp_data_dir):
    bench = make_benchmark("split_cifar10_100", num_tasks=1)
    assert bench.num_tasks == 1 and bench.source == "shipped subset"
    with pytest.raises(FileNotFoundError, match="CIFAR-100"):
        make_benchmark("split_cifar10_100", num_tasks=2)


def test_split_cifar10_100_with_the_real_cifar100_loader(no_mirror, tiny_cifar100_cache):
    bench = make_benchmark("split_cifar10_100", val_size=1)
    assert bench.num_tasks == 6 and bench.source == "shipped subset + cache"
    assert bench.data_label.endswith(" + CIFAR-100")
    assert [t.num_samples("train") for t in bench.tasks[1:]] == [39] * 5


# --------------------------------------------------------------------------
# Regression
# --------------------------------------------------------------------------

def test_regression_paper_tasks():
    bench = make_benchmark("regression")
    expected = [((-4, -2), lambda x: x + 3), ((-1, 1), lambda x: 2 * x ** 2 - 1),
                ((2, 4), lambda x: (x - 3) ** 3)]
    for task, ((low, high), f) in zip(bench.tasks, expected):
        assert task.domain == (low, high)
        assert [task.num_samples(s) for s in B.SPLITS] == [100, 50, 50]
        x, y = task.tensors("test")                  # evenly spaced, noise-free
        assert torch.allclose(x[:, 0], torch.linspace(low, high, 50))
        assert torch.allclose(y, f(x), atol=1e-5)
        x, y = task.tensors("train")                 # random points, noise std 0.05
        assert float(x.min()) >= low and float(x.max()) <= high
        residual = (y - f(x)).std().item()
        assert 0.03 < residual < 0.07


def test_regression_longer_sequences_are_seeded_polynomials():
    a = make_benchmark("regression", num_tasks=8, seed=3)
    b = make_benchmark("regression", num_tasks=8, seed=3)
    c = make_benchmark("regression", num_tasks=8, seed=4)
    for t, task in enumerate(a.tasks):
        assert task.domain == (-4 + 3 * t, -2 + 3 * t)   # consecutive, disjoint intervals
        assert torch.equal(task.tensors("train")[1], b.tasks[t].tensors("train")[1])
        x, y = task.tensors("test")
        assert float(y.abs().max()) <= 1 + 1e-4         # values in [-1, 1] like the paper's tasks
        assert torch.allclose(y, task.function(x), atol=1e-6)
    assert [t.name for t in a.tasks[:3]] == [t.name for t in c.tasks[:3]]  # the paper's tasks
    assert all(a.tasks[t].name != c.tasks[t].name for t in range(3, 8))


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

def test_unknown_benchmark_name_lists_known_ones():
    with pytest.raises(ValueError, match="Unknown benchmark name 'mnist'.*permuted_mnist, split_mnist"):
        make_benchmark("mnist")


def test_unknown_option_is_refused():
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['padding'\].*'pad'"):
        make_benchmark("split_mnist", padding=True)


@pytest.mark.parametrize("name, num_tasks, message", [
    ("split_mnist", 6, "[1, 5]"), ("split_cifar10", 6, "[1, 5]"),
    ("split_cifar10_100", 7, "[1, 6]"), ("permuted_mnist", 0, "[1, 100,000]"),
    ("regression", 0, "[1, 100]"), ("split_mnist", 2.0, "[1, 5]"), ("regression", True, "[1, 100]"),
    ("regression", 101, "[1, 100]"),
])
def test_num_tasks_out_of_range(name, num_tasks, message):
    with pytest.raises(ValueError, match=re.escape(f"num_tasks must be an integer in {message}")):
        make_benchmark(name, num_tasks=num_tasks)


@pytest.mark.parametrize("name", list(MAX_TASKS))
def test_benchmark_and_config_share_one_task_limit(name):
    """make_benchmark and the configuration (the CLI) accept and refuse the same num_tasks."""
    from hnet_utils.experiments.configs import preset_config

    too_many = MAX_TASKS[name] + 1
    with pytest.raises(ValueError) as from_config:
        preset_config(name, "fast", num_tasks=too_many)
    with pytest.raises(ValueError) as from_builder:
        make_benchmark(name, num_tasks=too_many)
    assert str(from_config.value) == str(from_builder.value)
    if name == "regression":  # generated tasks beyond the paper's three are allowed by both
        assert preset_config(name, "fast", num_tasks=9).num_tasks == 9
        assert make_benchmark(name, num_tasks=9).num_tasks == 9


@pytest.mark.parametrize("val_size", [-1, 500, 12.5])
def test_bad_val_size(no_mirror, val_size):
    with pytest.raises(ValueError, match="val_size must be an int from 0 to 499"):
        make_benchmark("split_mnist", val_size=val_size)  # shipped subset: 500 per task


def test_bad_seed_and_options():
    with pytest.raises(ValueError, match="seed"):
        make_benchmark("regression", seed=-1)
    with pytest.raises(ValueError, match="noise_std"):
        make_benchmark("regression", noise_std=-0.1)
    with pytest.raises(ValueError, match="pad must be True or False"):
        make_benchmark("permuted_mnist", pad="yes")


def test_real_mirror_permuted_mnist(real_mirror, monkeypatch):
    monkeypatch.setenv("HNET_DATA_MIRROR", str(real_mirror))
    bench = make_benchmark("permuted_mnist", num_tasks=10)
    assert bench.source == "mirror" and bench.data_label == "MNIST"
    assert [bench.tasks[9].num_samples(s) for s in B.SPLITS] == [55000, 5000, 10000]
