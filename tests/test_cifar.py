"""The CIFAR chapter (notebook 05): the offline substitute of Split CIFAR-10/100, batched
augmentation, the teaching preset, pretrained runs checked by sha256, and the widget."""

import dataclasses

import pytest
import torch

from hnet_utils.continual.inference import all_task_logits, probabilities_per_embedding
from hnet_utils.continual.training import train_continual
from hnet_utils.data import benchmarks as B
from hnet_utils.data.augment import crop_flip, random_crop_flip
from hnet_utils.experiments import pretrained
from hnet_utils.experiments.configs import preset_config
from hnet_utils.experiments.results import save_run_checkpoint
from hnet_utils.networks.hypernet import make_hypernetwork
from hnet_utils.networks.targets import ResNet32, forward_with_weights, num_params


@pytest.fixture(scope="module")
def substitute(cifar10_mini):
    return B.split_cifar10_substitute(cifar10=cifar10_mini)


def _rows(task, split):
    return task._split(split).rows


# ----------------------------------------------------------------- the substitute


def test_substitute_has_the_shape_of_split_cifar10_100(substitute, cifar10_mini):
    first = _rows(substitute.tasks[0], "train").numel() + _rows(substitute.tasks[0], "val").numel()
    per_class_train = len(cifar10_mini.train_labels) // 10
    assert first == 10 * (per_class_train // 2)                  # half of every class
    for task in substitute.tasks[1:]:
        n = _rows(task, "train").numel() + _rows(task, "val").numel()
        assert n == 10 * (per_class_train // 2 // 10)            # a tenth of task 1 each
        labels = task._split("train").labels
        assert torch.bincount(labels, minlength=10).min() > 0    # every class present
    used = [torch.cat([_rows(t, "train"), _rows(t, "val")]) for t in substitute.tasks]
    all_rows = torch.cat(used)
    assert all_rows.unique().numel() == all_rows.numel()         # tasks share no training image
    tests = torch.cat([_rows(t, "test") for t in substitute.tasks])
    assert tests.unique().numel() == tests.numel()
    assert "CIFAR-10 (JPEG mirror)" in substitute.data_label and "substitute" in substitute.data_label


def test_later_tasks_are_relabelled_and_shown_another_way(substitute, cifar10_mini):
    assert substitute.info["relabellings"][0] == list(range(10))
    for t, task in enumerate(substitute.tasks[1:], start=1):
        relabel = torch.tensor(substitute.info["relabellings"][t])
        assert not (relabel == torch.arange(10)).any()           # a derangement
        split = task._split("test")
        original = cifar10_mini.test_labels[split.rows]
        assert torch.equal(split.labels, relabel[original])
        # the name of a within-task label is the CIFAR-10 class of the image
        assert all(task.class_names[int(l)] == cifar10_mini.classes[int(o)]
                   for l, o in zip(split.labels[:20], original[:20]))
    # task 2 shows the images rotated by 90 degrees, task 5 with inverted colours
    idx = torch.arange(3)
    raw = cifar10_mini.test_images[_rows(substitute.tasks[1], "test")[:3]]
    first_view = B.NormalizeTransform(*B.channel_stats(cifar10_mini.train_images))
    x, _ = substitute.tasks[1].batch("test", idx)
    assert torch.allclose(x, first_view(torch.rot90(raw, 1, dims=(-2, -1))))
    raw = cifar10_mini.test_images[_rows(substitute.tasks[4], "test")[:3]]
    x, _ = substitute.tasks[4].batch("test", idx)
    assert torch.allclose(x, first_view(255 - raw))


def test_a_task_does_not_depend_on_num_tasks(cifar10_mini, substitute):
    short = B.split_cifar10_substitute(num_tasks=2, cifar10=cifar10_mini)
    for split in ("train", "val", "test"):
        assert torch.equal(_rows(short.tasks[1], split), _rows(substitute.tasks[1], split))
    other_seed = B.split_cifar10_substitute(num_tasks=2, seed=1, cifar10=cifar10_mini)
    assert not torch.equal(_rows(other_seed.tasks[1], "train"), _rows(substitute.tasks[1], "train"))


def test_substitute_rejects_bad_input(cifar10_mini):
    with pytest.raises(ValueError, match="num_tasks must be an integer in \\[1, 6\\]"):
        B.split_cifar10_substitute(num_tasks=7, cifar10=cifar10_mini)
    with pytest.raises(ValueError, match="val_size"):
        B.split_cifar10_substitute(val_size=10_000, cifar10=cifar10_mini)


# ---------------------------------------------------------------- augmentation


def test_crop_flip_moves_and_mirrors_each_image_by_its_own_amount():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float).view(2, 3, 4, 5)
    p = 2
    same = crop_flip(x, torch.tensor([p, p]), torch.tensor([p, p]), torch.tensor([False, False]), p)
    assert torch.equal(same, x)
    mirrored = crop_flip(x, torch.tensor([p, p]), torch.tensor([p, p]), torch.tensor([True, False]), p)
    assert torch.equal(mirrored[0], x[0].flip(-1)) and torch.equal(mirrored[1], x[1])
    down = crop_flip(x, torch.tensor([0, p]), torch.tensor([p, p + 1]), torch.tensor([False, False]), p)
    assert torch.equal(down[0, :, :p], torch.zeros(3, p, 5))       # window moved up: padding on top
    assert torch.equal(down[0, :, p:], x[0, :, :-p])
    assert torch.equal(down[1, :, :, :-1], x[1, :, :, 1:])          # window moved right by one
    assert torch.equal(down[1, :, :, -1], torch.zeros(3, 4))


def test_random_crop_flip_is_seeded_and_checks_its_input():
    x = torch.randn(16, 3, 8, 8)
    torch.manual_seed(3)
    a = random_crop_flip(x, padding=2)
    torch.manual_seed(3)
    b = random_crop_flip(x, padding=2)
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    with pytest.raises(ValueError, match="padding must be an int >= 0"):
        random_crop_flip(x, padding=-1)
    with pytest.raises(ValueError, match="x must be a batch of images"):
        random_crop_flip(torch.randn(3, 8, 8))


def test_augment_setting_is_checked():
    cfg = preset_config("split_cifar10_substitute", "teaching")
    assert cfg.augment is True and cfg.benchmark == "split_cifar10_substitute"
    with pytest.raises(ValueError, match="augment=True .* needs an image benchmark"):
        preset_config("split_mnist", "paper", augment=True)
    with pytest.raises(ValueError, match="augment must be True or False"):
        cfg.replace(augment="yes")


# ------------------------------------------------------- per-task batch norm in inference


def test_all_task_logits_uses_each_tasks_batch_norm_statistics():
    torch.manual_seed(0)
    target = ResNet32(out_features=3, num_tasks=2, blocks_per_stage=1)
    for bn in (m for m in target.modules() if hasattr(m, "running_mean")):
        bn.running_mean[1].add_(0.5)                              # task 2's statistics differ
    target.eval()
    h = make_hypernetwork(num_params(target), 4, (8,), "relu", chunk_size=500,
                          chunk_embedding_dim=4, num_tasks=2)
    x = torch.randn(3, 3, 32, 32)
    got = all_task_logits(h, target, x)
    for t in range(2):
        target.use_task_bn(t)
        assert torch.allclose(got[t], forward_with_weights(target, h(task_id=t), x), atol=1e-5)
    assert not torch.allclose(got[0], got[1])
    probs = probabilities_per_embedding(h, target, x)
    assert probs.shape == (2, 3, 3) and torch.allclose(probs.sum(-1), torch.ones(2, 3))


# ------------------------------------------------------------------ pretrained runs


@pytest.fixture(scope="module")
def fast_run(cifar10_mini):
    cfg = preset_config("split_cifar10_substitute", "teaching", fast=True, num_tasks=2)
    bench = B.split_cifar10_substitute(num_tasks=2, cifar10=cifar10_mini)
    return train_continual(cfg, benchmark=bench, progress=False), bench


def test_pretrained_run_loads_only_with_the_listed_checksum(fast_run, tmp_path):
    result, _ = fast_run
    save_run_checkpoint(result, tmp_path / "demo.pt")
    with pytest.raises(FileNotFoundError, match="list of sha256 sums .* is missing"):
        pretrained.load_pretrained("demo", folder=tmp_path)
    (tmp_path / pretrained.SUMS_FILE).write_text("")
    with pytest.raises(FileNotFoundError, match="has no sha256"):
        pretrained.load_pretrained("demo", folder=tmp_path)
    pretrained.write_sums(tmp_path)
    run = pretrained.load_pretrained("demo", folder=tmp_path)
    assert run["config"] == result.experiment_config and run["hnet"].num_tasks == 2
    for p, q in zip(run["hnet"].parameters(), result.hnet.parameters()):
        assert torch.equal(p, q.cpu())
    with open(tmp_path / "demo.pt", "r+b") as f:                  # damage one byte
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match="damaged or was replaced"):
        pretrained.load_pretrained("demo", folder=tmp_path)
    with pytest.raises(FileNotFoundError, match="no pretrained run 'other'.*available: \\['demo'\\]"):
        pretrained.load_pretrained("other", folder=tmp_path)


def test_shipped_pretrained_runs_match_their_checksums():
    sums = pretrained.read_sums()
    assert sums, "results/models/SHA256SUMS lists no pretrained run"
    for name in sums:
        path = pretrained.verified_path(name[:-len(".pt")])
        assert path.is_file()


# ---------------------------------------------------------------------- the widget


def test_embedding_predictions_widget_follows_its_controls(fast_run):
    from hnet_utils.viz.widgets import EmbeddingPredictions

    result, bench = fast_run
    w = EmbeddingPredictions(result.hnet, result.target, bench)
    first = w.last.copy()
    assert first.shape == (2, 10) and abs(first.sum(1) - 1).max() < 1e-5
    w.task.value = 1
    assert w.index.max == bench.tasks[1].num_samples("test") - 1
    w.index.value = 2
    x, _ = bench.tasks[1].batch("test", torch.tensor([2]))
    want = probabilities_per_embedding(result.hnet, result.target, x)[:, 0].numpy()
    assert abs(w.last - want).max() < 1e-6 and w.image.value
    with pytest.raises(ValueError, match="image classification benchmark"):
        EmbeddingPredictions(result.hnet, result.target, dataclasses.replace(bench, input_shape=(784,)))


def test_hnet_checkpoint_keeps_the_targets_batch_norm_statistics_not_its_weights(tmp_path):
    from hnet_utils.experiments.results import ContinualResult, load_run
    from hnet_utils.continual.learners import build_hnet, build_target
    cfg = preset_config("split_cifar10_substitute", "paper", fast=True, target="resnet32", num_tasks=2,
                        chunk_size=4000)
    target = build_target(cfg, (3, 32, 32), 10)
    for bn in (m for m in target.modules() if hasattr(m, "running_mean")):
        bn.running_mean.normal_()                                   # "trained" statistics per task
    h = build_hnet(cfg, target)
    h.add_task(), h.add_task()
    result = ContinualResult(config=cfg.to_dict(), metric="accuracy", matrix=[[50.0, None], [49.0, 40.0]],
                             wall_time_s=1.0, device="cpu",
                             data={"kind": "classification", "input_shape": [3, 32, 32], "classes_per_task": 10})
    result.hnet, result.target, result.task_targets = h, target, None
    path = save_run_checkpoint(result, tmp_path / "run.pt")
    raw = torch.load(path, weights_only=True)
    assert "target" not in raw["states"]                              # no unused target weights
    run = load_run(path)
    for (name, want), (_, got) in zip(target.named_buffers(), run["target"].named_buffers()):
        assert torch.equal(want, got), name
    for p, q in zip(h.parameters(), run["hnet"].parameters()):
        assert torch.equal(p, q)
