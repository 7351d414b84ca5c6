"""Generative replay (continual/replay.py, networks/vae.py): the protected generator does
not forget, generation and task inference are batched, bad input fails before training."""

import pytest
import torch

from hnet_utils import run
from hnet_utils.continual.replay import Generator, TirLearner, distillation_loss
from hnet_utils.continual.training import train_continual
from hnet_utils.data.benchmarks import make_benchmark
from hnet_utils.experiments.configs import REPLAY_METHODS, preset_config
from hnet_utils.networks.vae import ConditionalVAE, decode, vae_loss


@pytest.fixture(scope="module")
def split_mnist():
    return make_benchmark("split_mnist", num_tasks=5, seed=0)


def small_cfg(**changes):
    return preset_config("split_mnist", "fast", method="hnet_r", scenario=3, num_tasks=2,
                         **changes)


def train_generator(benchmark, beta: float, steps: int = 150) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of task 1 from fixed noise after task 1 and after task 2 (hnet-protected VAE)."""
    torch.manual_seed(0)
    cfg = small_cfg(replay_beta=beta, lr=1e-3, batch_size=32)
    gen = Generator(cfg, 784, "hnet", torch.device("cpu"))
    z = gen.vae.noise(1, 16, torch.Generator().manual_seed(1))
    batches = torch.Generator().manual_seed(2)
    after = []
    for task in range(2):
        gen.start_task(task)
        for _ in range(steps):
            x, _ = benchmark.tasks[task].sample_batch("train", 32, batches)
            gen.step(x, task)
        after.append(gen.sample([0], 16, z)[0])
    return after[0], after[1]


def test_protected_generator_does_not_forget_task_1(split_mnist):
    before, after = train_generator(split_mnist, beta=0.05)
    change = (after - before).abs().mean().item()
    assert change < 0.01, f"task-1 samples changed by {change:.4f} per pixel"


def test_unprotected_generator_forgets_task_1(split_mnist):
    # the same test with beta = 0 fails: the hypernetwork drifts to task 2
    before, after = train_generator(split_mnist, beta=0.0)
    assert (after - before).abs().mean().item() > 0.03


def test_generation_is_one_batched_call_over_tasks():
    torch.manual_seed(0)
    vae = ConditionalVAE(784, num_tasks=3, latent_dim=4, encoder_hidden=(8,), decoder_hidden=(8,))
    weights = torch.randn(3, vae.decoder_size) * 0.1
    z = torch.randn(3, 5, 4)
    batched = vae.generate([0, 1, 2], 5, weights, z)
    assert batched.shape == (3, 5, 784)
    for t in range(3):
        inputs = torch.cat([z[t], vae.condition(torch.full((5,), t))], dim=1)
        torch.testing.assert_close(batched[t], torch.sigmoid(decode(vae.decoder, weights[t], inputs)))
    # own weights (DGR): also one call, and the condition makes tasks differ
    own = vae.generate([0, 2], 5, None, z[:2])
    assert own.shape == (2, 5, 784) and not torch.allclose(own[0], own[1])


def test_vae_loss_is_bce_plus_scaled_kl():
    x = torch.rand(4, 10)
    logits = torch.zeros(4, 10)
    mu, logvar = torch.zeros(4, 3), torch.zeros(4, 3)
    # standard normal posterior: KL 0, BCE with p = 0.5 is log 2 per pixel
    torch.testing.assert_close(vae_loss(x, logits, mu, logvar), torch.tensor(0.6931472))
    mu = torch.ones(4, 3)
    torch.testing.assert_close(vae_loss(x, logits, mu, logvar) - 0.6931472, torch.tensor(1.5 / 10),
                               atol=1e-6, rtol=1e-5)


def test_distillation_gives_unseen_classes_zero_target():
    teacher = torch.tensor([[4.0, 0.0]])
    student_ok = torch.tensor([[8.0, 0.0, -20.0, -20.0]])
    student_new = torch.tensor([[8.0, 0.0, 10.0, 10.0]])
    assert distillation_loss(student_ok, teacher, 2.0) < distillation_loss(student_new, teacher, 2.0)


def test_task_inference_is_batched(split_mnist):
    cfg = preset_config("split_mnist", "fast", method="hnet_tir", scenario=3, num_tasks=3,
                        iterations=10, test_subset=40)
    r = train_continual(cfg, benchmark=split_mnist, progress=False)
    assert r.task_inference_accuracy is not None and len(r.task_inference_accuracy) == 3
    learner_hnet, target = r.hnet, r.target
    x = torch.cat([split_mnist.tasks[t].tensors("test")[0][:7] for t in range(3)])
    learner = r.learner
    assert isinstance(learner, TirLearner)
    pred = learner.predict(x, 0, 3)
    # the same, one sample at a time
    for i in range(x.shape[0]):
        one = learner.predict(x[i:i + 1], 0, 3)
        assert one.task.item() == pred.task[i].item() and one.output.item() == pred.output[i].item()
    assert learner_hnet is learner.hnet and target is learner.target


@pytest.mark.parametrize("method", REPLAY_METHODS)
@pytest.mark.parametrize("scenario", [2, 3])
def test_replay_methods_run_and_report(split_mnist, method, scenario):
    cfg = preset_config("split_mnist", "fast", method=method, scenario=scenario, num_tasks=2,
                        iterations=10, test_subset=30)
    r = train_continual(cfg, benchmark=split_mnist, progress=False)
    assert len(r.matrix) == 2 and all(0 <= v <= 100 for v in r.final)
    assert (r.task_inference_accuracy is not None) == (method == "hnet_tir")


@pytest.mark.parametrize("argv, message", [
    (["--benchmark", "regression", "--method", "hnet_r"], "supports the benchmarks"),
    (["--benchmark", "split_cifar10", "--method", "dgr", "--scenario", "3"], "supports the benchmarks"),
    (["--benchmark", "split_mnist", "--method", "hnet_tir", "--scenario", "1"], "use method='hnet'"),
    (["--benchmark", "split_mnist", "--method", "hnet_rr"], "invalid choice: 'hnet_rr'"),
    (["--benchmark", "split_mnist", "--method", "hnet_r", "--scenario", "3", "--replay-weight", "1.5"],
     "replay_weight"),
])
def test_bad_replay_input_is_rejected_before_training(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        run.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_paper_preset_gives_each_replay_method_its_decoder():
    tir = preset_config("split_mnist", "paper", method="hnet_tir", scenario=3)
    r = preset_config("split_mnist", "paper", method="hnet_r", scenario=3)
    assert tir.decoder_hidden == (50, 150) and tir.replay_beta == 0.01  # hypercl 5e288bf, 2020-01-10
    assert r.decoder_hidden == (250, 350) and r.replay_beta == 0.01
    assert r.latent_dim == 100 and r.replay_chunk_size == 50_000
