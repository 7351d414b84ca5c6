"""Target networks run with weights from outside (hnet_utils.networks.targets)."""

import math

import pytest
import torch

from hnet_utils.networks.targets import (MLP, ResNet32, ZenkeNet, flatten_params, forward_with_weights,
                                num_params, param_shapes, unflatten_weights, weight_init_std)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_mlp_shapes_and_count_follow_named_parameters():
    net = MLP(in_features=784, hidden=(400, 400), out_features=2, activation="relu", num_heads=5)
    assert param_shapes(net) == [torch.Size(s) for s in
                                 [(400, 784), (400,), (400, 400), (400,), (10, 400), (10,)]]
    assert num_params(net) == 784 * 400 + 400 + 400 * 400 + 400 + 400 * 10 + 10
    assert [n for n, _ in net.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
        "out.weight", "out.bias"]


def test_conv_net_parameter_counts_match_the_architectures():
    # Zenke et al.: 3x3 convs 3-32-32-64-64 (with biases), FC 2304-512, 512-10
    zenke = (3 * 32 * 9 + 32) + (32 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 64 * 9 + 64) \
        + (2304 * 512 + 512) + (512 * 10 + 10)
    assert num_params(ZenkeNet()) == zenke == 1_250_858
    # ResNet-32: bias-free convs, 31 batch norms (scale and shift), FC 64-10
    convs = (3 * 16 + 10 * 16 * 16 + (16 * 32 + 9 * 32 * 32) + (32 * 64 + 9 * 64 * 64)) * 9
    bn = 2 * (16 + 10 * 16 + 10 * 32 + 10 * 64)
    assert num_params(ResNet32()) == convs + bn + 64 * 10 + 10 == 464_154


@pytest.mark.parametrize("make_net, x_shape", [
    (lambda: MLP(12, (7, 5), 3, activation="elu", num_heads=2), (4, 12)),
    (lambda: MLP(2 * 3 * 2, (), 3, activation="linear"), (4, 2, 3, 2)),
    (lambda: ZenkeNet(out_features=4), (2, 3, 32, 32)),
    (lambda: ResNet32(out_features=4, num_tasks=2), (2, 3, 32, 32)),
])
def test_forward_with_own_weights_equals_plain_forward(make_net, x_shape):
    net = make_net().eval()
    x = torch.randn(*x_shape)
    flat = flatten_params(net)
    assert flat.shape == (num_params(net),)
    torch.testing.assert_close(forward_with_weights(net, flat, x), net(x))


def test_forward_with_weights_uses_the_given_weights_and_passes_gradients():
    net = MLP(6, (5,), 2, activation="tanh")
    x = torch.randn(3, 6)
    flat = torch.randn(num_params(net), requires_grad=True)
    y = forward_with_weights(net, flat, x)
    w = unflatten_weights(net, flat)
    expected = torch.tanh(x @ w["layers.0.weight"].T + w["layers.0.bias"]) @ w["out.weight"].T \
        + w["out.bias"]
    torch.testing.assert_close(y, expected)
    y.sum().backward()
    assert flat.grad is not None and flat.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())   # the module's own weights untouched


def test_batched_weights_give_one_output_per_weight_vector():
    net = MLP(5, (4,), 3, num_heads=2)
    x = torch.randn(7, 5)
    flats = torch.randn(4, num_params(net))
    out = forward_with_weights(net, flats, x, head=1)
    assert out.shape == (4, 7, 3)
    for b in range(4):
        torch.testing.assert_close(out[b], forward_with_weights(net, flats[b], x, head=1))


def test_heads_select_slices_of_the_output_layer():
    net = MLP(4, (3,), 2, num_heads=3)
    x = torch.randn(5, 4)
    full = net(x)
    assert full.shape == (5, 6)
    torch.testing.assert_close(net(x, head=1), full[:, 2:4])
    with pytest.raises(ValueError, match="head"):
        net(x, head=3)


def test_resnet_keeps_batch_norm_statistics_per_task():
    net = ResNet32(out_features=3, num_tasks=2, blocks_per_stage=1)
    x = torch.randn(2, 3, 32, 32) * 3 + 1
    net.train()
    net.use_task_bn(1)
    net(x)
    assert net.bn_task == 1
    assert torch.all(net.bn.running_mean[0] == 0) and torch.all(net.bn.running_var[0] == 1)
    assert net.bn.running_mean[1].abs().sum() > 0
    net.eval()
    y1 = net(x)
    net.use_task_bn(0)
    assert not torch.allclose(net(x), y1)
    with pytest.raises(ValueError, match="task"):
        net.use_task_bn(2)
    net.train()
    with pytest.raises(ValueError, match="eval"):
        forward_with_weights(net, torch.stack([flatten_params(net)] * 2), x)


def test_weight_init_std_matches_pytorch_default_init():
    net = MLP(30, (20,), 4)
    std = weight_init_std(net)
    assert std.shape == (num_params(net),)
    assert torch.allclose(std[:30 * 20 + 20], torch.tensor(1 / math.sqrt(90)))
    assert torch.allclose(std[-4:], torch.tensor(1 / math.sqrt(60)))
    bn_std = weight_init_std(ResNet32(blocks_per_stage=1))
    assert set(bn_std.unique().tolist()) >= {0.0, 1.0}      # BN shifts 0, BN scales 1


@pytest.mark.parametrize("kwargs, name", [
    (dict(in_features=0, hidden=(3,), out_features=2), "in_features"),
    (dict(in_features=4, hidden=(3, 0), out_features=2), "hidden"),
    (dict(in_features=4, hidden=(3,), out_features=2, activation="swish"), "activation"),
    (dict(in_features=4, hidden=(3,), out_features=2, num_heads=0), "num_heads"),
])
def test_mlp_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MLP(**kwargs)


def test_weights_of_the_wrong_shape_are_rejected():
    net = MLP(4, (3,), 2)
    n = num_params(net)
    x = torch.randn(2, 4)
    for bad in (torch.zeros(n + 1), torch.zeros(2, n - 1), torch.zeros(1, 1, n)):
        with pytest.raises(ValueError, match="flat"):
            forward_with_weights(net, bad, x)
    with pytest.raises(ValueError, match="x must have 4 features"):
        net(torch.randn(2, 5))
