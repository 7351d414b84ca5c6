"""Full and chunked hypernetworks (hnet_utils.networks.hypernet)."""

import pytest
import torch
import torch.nn.functional as F

from hnet_utils.networks.hypernet import (ChunkedHyperNetwork, HyperNetwork, compression_ratio,
                                         count_parameters, xavier_init_)
from hnet_utils.networks.targets import MLP, forward_with_weights, num_params, weight_init_std


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def small_chunked(n=103, chunk_size=20, hidden=(9, 7)):
    return ChunkedHyperNetwork(num_outputs=n, embedding_dim=5, chunk_embedding_dim=3,
                               chunk_size=chunk_size, hidden=hidden, activation="elu")


def test_tasks_are_added_one_by_one():
    h = HyperNetwork(num_outputs=30, embedding_dim=2, hidden=(10, 10), activation="sigmoid")
    assert h.num_tasks == 0
    assert [h.add_task() for _ in range(3)] == [0, 1, 2]
    assert h.num_tasks == 3
    e = h.task_embedding(1)
    assert isinstance(e, torch.nn.Parameter) and e.shape == (2,)
    theta = {id(p) for p in h.theta_parameters()}
    assert all(id(h.task_embedding(t)) not in theta for t in range(3))
    assert len(theta) + 3 == len(list(h.parameters()))


@pytest.mark.parametrize("make", [
    lambda: HyperNetwork(num_outputs=103, embedding_dim=5, hidden=(9,), activation="relu"),
    lambda: small_chunked(),                       # 20 does not divide 103: padded last chunk
    lambda: small_chunked(n=100, chunk_size=20),   # divides
    lambda: small_chunked(hidden=()),              # no hidden layer: z is the input
])
def test_output_shapes_and_batched_generation(make):
    h = make()
    for _ in range(3):
        h.add_task()
    w = h(task_id=2)
    assert w.shape == (h.num_outputs,)
    E = torch.stack([h.task_embedding(t) for t in range(3)])
    W = h(embeddings=E)
    assert W.shape == (3, h.num_outputs)
    for t in range(3):
        torch.testing.assert_close(W[t], h(task_id=t))
    z = h(embeddings=E, return_features=True)
    assert z.shape == (3, h.num_chunks, h.feature_dim)


def test_chunked_output_is_the_linear_layer_applied_per_chunk():
    h = small_chunked()
    t = h.add_task()
    e = h.task_embedding(t)
    assert h.num_chunks == 6 and h.last_chunk_size == 3
    expected = []
    for k in range(h.num_chunks):
        z = torch.cat([e, h.chunk_embeddings[k]])
        for layer in h.hidden:
            z = F.elu(layer(z))
        expected.append(h.output.weight @ z + h.output.bias)
    torch.testing.assert_close(h(task_id=t), torch.cat(expected)[:103])


def test_parameter_counts_and_compression_ratio_by_hand():
    target = MLP(20, (10,), 4)                     # 20*10+10 + 10*4+4 = 254 weights
    h = ChunkedHyperNetwork(254, embedding_dim=3, chunk_embedding_dim=2, chunk_size=50,
                            hidden=(6,), activation="relu")
    h.add_task(), h.add_task()
    layers = (5 * 6 + 6) + (6 * 50 + 50)
    counts = count_parameters(h)
    assert counts == {"layers": layers, "chunk_embeddings": 6 * 2, "task_embeddings": 2 * 3,
                      "total": layers + 12 + 6}
    assert compression_ratio(h, target) == pytest.approx((layers + 18) / 254)
    assert compression_ratio(h, 254) == compression_ratio(h, target)
    with pytest.raises(ValueError, match="target"):
        compression_ratio(h, MLP(20, (11,), 4))


def test_permuted_mnist_10_configuration_compression():
    # method.md §4: target 1024-1000-1000-10, task emb 24, chunk emb 8, hidden 25,25,
    # chunk size 78,000, 10 tasks.
    target = MLP(1024, (1000, 1000), 10)
    n = num_params(target)
    assert n == 2_036_010
    h = ChunkedHyperNetwork(n, 24, 8, 78_000, (25, 25), "elu")
    for _ in range(10):
        h.add_task()
    assert h.num_chunks == 27
    total = (32 * 25 + 25) + (25 * 25 + 25) + (25 * 78_000 + 78_000) + 27 * 8 + 10 * 24
    assert count_parameters(h)["total"] == total == 2_029_931
    assert compression_ratio(h, target) == pytest.approx(2_029_931 / 2_036_010)


@pytest.mark.parametrize("chunked", [False, True])
def test_initial_weights_have_the_scale_of_a_standard_target_init(chunked):
    target = MLP(200, (100,), 10)
    n, std = num_params(target), weight_init_std(target)
    if chunked:
        h = ChunkedHyperNetwork(n, 8, 8, 3000, (20,), "relu", init_std=std)
    else:
        h = HyperNetwork(n, 8, (20,), "relu", init_std=std)
    for _ in range(20):
        h.add_task()
    W = h(embeddings=torch.stack(list(h.task_embeddings))).detach()
    first_layer = slice(0, 200 * 100)
    ratio = W[:, first_layer].pow(2).mean().sqrt() / std[first_layer].pow(2).mean().sqrt()
    assert 0.5 < ratio < 2.0


def test_xavier_init_uses_one_block_per_target_tensor():
    target = MLP(1, (10, 10), 1, "sigmoid")
    blocks = [p.numel() for p in target.parameters()]           # 10, 10, 100, 10, 10, 1
    h = xavier_init_(HyperNetwork(num_params(target), 2, (10, 10), "sigmoid"), blocks)
    assert all(layer.bias.abs().max().item() == 0 for layer in (*h.hidden, h.output))
    assert h.hidden[1].weight.abs().max().item() <= (6 / 20) ** 0.5
    start = 0
    for size in blocks:  # the authors' per-tensor heads: Xavier bound sqrt(6 / (d + size))
        rows = h.output.weight[start:start + size]
        assert rows.abs().max().item() <= (6 / (10 + size)) ** 0.5
        start += size
    assert h.output.weight[20:120].abs().max().item() < (6 / 20) ** 0.5 * 0.8
    with pytest.raises(ValueError, match="blocks"):
        xavier_init_(h, [10, 10])


def test_generated_weights_train_a_target():
    # 1-D regression (f(x) = x + 3 on [-4, -2]) through hypernetwork-generated weights
    target = MLP(1, (10, 10), 1, activation="sigmoid")
    h = HyperNetwork(num_params(target), 2, (10, 10), "sigmoid", init_std=weight_init_std(target))
    t = h.add_task()
    x = torch.linspace(-4, -2, 32)[:, None]
    y = x + 3
    opt = torch.optim.Adam(h.parameters(), lr=0.01)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss = F.mse_loss(forward_with_weights(target, h(task_id=t), x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.02 < first


@pytest.mark.parametrize("kwargs, name", [
    (dict(chunk_size=0), "chunk_size"),
    (dict(chunk_size=-5), "chunk_size"),
    (dict(embedding_dim=0), "embedding_dim"),
    (dict(chunk_embedding_dim=0), "chunk_embedding_dim"),
    (dict(num_outputs=0), "num_outputs"),
    (dict(hidden=(4, -1)), "hidden"),
    (dict(activation="gelu"), "activation"),
    (dict(init_std=torch.ones(7)), "init_std"),
    (dict(init_std=-1.0), "init_std"),
])
def test_bad_arguments_are_rejected(kwargs, name):
    args = dict(num_outputs=50, embedding_dim=3, chunk_embedding_dim=2, chunk_size=10,
                hidden=(4,), activation="relu")
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        ChunkedHyperNetwork(**args)


def test_bad_task_ids_and_embeddings_are_rejected():
    h = HyperNetwork(num_outputs=12, embedding_dim=3, hidden=(4,))
    h.add_task()
    for bad in (1, -1, 0.0, None):
        with pytest.raises(ValueError, match="task_id"):
            h.task_embedding(bad)
    with pytest.raises(ValueError, match="task_id"):
        h(task_id=1)
    with pytest.raises(ValueError, match="embeddings"):
        h(embeddings=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="exactly one"):
        h(task_id=0, embeddings=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="embedding_dim"):
        HyperNetwork(num_outputs=12, embedding_dim=-2)
