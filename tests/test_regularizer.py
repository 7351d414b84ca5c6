"""The output regulariser: reference vs exact, subsets, Adam lookahead (hnet_utils.continual.regularizer)."""

import copy

import pytest
import torch

from hnet_utils.networks.hypernet import ChunkedHyperNetwork, HyperNetwork
from hnet_utils.continual.regularizer import OutputRegularizer, adam_lookahead

REL_TOL = 1e-4


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


HNETS = {
    "full": lambda: HyperNetwork(num_outputs=157, embedding_dim=4, hidden=(12, 9),
                                 activation="sigmoid"),
    "chunked, 30 does not divide 157": lambda: ChunkedHyperNetwork(
        num_outputs=157, embedding_dim=4, chunk_embedding_dim=3, chunk_size=30,
        hidden=(12, 9), activation="elu"),
    "chunked, 40 divides 160": lambda: ChunkedHyperNetwork(
        num_outputs=160, embedding_dim=4, chunk_embedding_dim=3, chunk_size=40,
        hidden=(10,), activation="relu"),
    "chunked, no hidden layer": lambda: ChunkedHyperNetwork(
        num_outputs=157, embedding_dim=4, chunk_embedding_dim=3, chunk_size=50, hidden=(),
        activation="relu"),
}


def hnet_with_tasks(make, num_tasks=5):
    h = make()
    for _ in range(num_tasks):
        h.add_task()
    return h


def perturb_(params, scale=0.1):
    with torch.no_grad():
        for p in params:
            p.add_(scale * p.abs().mean() * torch.randn_like(p))


def value_and_grads(reg, h, delta=None):
    h.zero_grad()
    value = reg(delta)
    value.backward()
    grads = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in h.parameters()]
    return value.detach(), grads


def assert_rel_close(a, b, tol=REL_TOL):
    err = (a - b).norm() / b.norm().clamp_min(1e-30)
    assert err <= tol, f"relative error {err:.3g} > {tol}"


def task_loss_lookahead(h, task, lr=0.01):
    """One Adam step of a task loss on θ, then the lookahead Δθ for the next step."""
    theta = h.theta_parameters()
    opt = torch.optim.Adam(theta + [h.task_embedding(task)], lr=lr)
    target = torch.randn(h.num_outputs)
    for _ in range(2):
        opt.zero_grad()
        (h(task_id=task) - target).pow(2).mean().backward()
        if _ == 0:
            opt.step()
    return adam_lookahead(opt, theta)


@pytest.mark.parametrize("name", list(HNETS))
@pytest.mark.parametrize("lookahead", [False, True])
def test_exact_equals_reference_in_value_and_gradient(name, lookahead):
    h = hnet_with_tasks(HNETS[name])
    regs = {m: OutputRegularizer(h, beta=0.05, method=m) for m in ("exact", "reference")}
    for reg in regs.values():
        reg.snapshot(tasks=range(4))              # task 4 is the current one
    perturb_(h.theta_parameters())
    delta = task_loss_lookahead(h, task=4) if lookahead else None
    if lookahead:
        assert any(d.abs().sum() > 0 for d in delta)
    v_ref, g_ref = value_and_grads(regs["reference"], h, delta)
    v_ex, g_ex = value_and_grads(regs["exact"], h, delta)
    assert v_ref > 0
    assert_rel_close(v_ex, v_ref)
    for a, b in zip(g_ex, g_ref):
        if b.abs().sum() > 0:
            assert_rel_close(a, b)
        else:
            assert a.abs().sum() == 0
    # θ gets gradients; the frozen old embeddings do not
    assert h.output.weight.grad.abs().sum() > 0
    assert all(h.task_embedding(t).grad is None for t in range(5))


@pytest.mark.parametrize("product_dtype", [torch.float32, torch.float64])
def test_exact_stays_accurate_when_the_terms_of_the_residual_cancel(product_dtype):
    # Move the hidden layers, then refit the output layer by least squares so that
    # the old outputs are nearly kept: r_i = (W-W*)z_i + (b-b*) + W*(z_i-z*_i) is
    # then much smaller than its terms. Compare with a float64 reference.
    h = hnet_with_tasks(HNETS["chunked, 30 does not divide 157"], num_tasks=5)
    h_star64 = copy.deepcopy(h).double()
    reg = OutputRegularizer(h, beta=1.0, method="exact")
    reg.product_dtype = product_dtype
    reg.snapshot()
    E = torch.stack(list(h.task_embeddings)).detach()
    with torch.no_grad():
        z_old = h_star64(embeddings=E.double(), return_features=True).reshape(-1, h.feature_dim)
        y_old = z_old @ h_star64.output.weight.T + h_star64.output.bias
        perturb_(h.hidden.parameters(), scale=0.2)
        z = h.double()(embeddings=E.double(), return_features=True).reshape(-1, h.feature_dim)
        fit = torch.linalg.lstsq(torch.cat([z, torch.ones(len(z), 1).double()], 1), y_old).solution
        h.output.weight.copy_(fit[:-1].T)
        h.output.bias.copy_(fit[-1])
        h.float()
        h64 = copy.deepcopy(h).double()
        terms = ((z - z_old) @ h_star64.output.weight.T).pow(2).sum()
    ref64 = OutputRegularizer(h_star64, beta=1.0, method="reference")
    ref64.snapshot()                        # float64 targets h(e_t, θ*)
    ref64.h = h64                           # evaluated at the moved float64 θ
    v64, g64 = value_and_grads(ref64, h64)
    assert terms > 20 * v64 * 5             # strong cancellation (Σ|r|² = 5 * value)
    v, g = value_and_grads(reg, h)
    assert_rel_close(v.double(), v64)
    for a, b in zip(g, g64):
        if b.abs().sum() > 0:
            assert_rel_close(a.double(), b)


@pytest.mark.parametrize("method", ["exact", "reference"])
def test_value_is_the_formula_of_the_paper(method):
    h = hnet_with_tasks(HNETS["chunked, 30 does not divide 157"], num_tasks=3)
    with torch.no_grad():
        before = [h(task_id=t).clone() for t in range(2)]
    reg = OutputRegularizer(h, beta=0.3, method=method)
    reg.snapshot(tasks=[0, 1])
    assert reg(None).item() == pytest.approx(0.0, abs=1e-10)   # θ = θ*: nothing to pull back
    perturb_(h.theta_parameters())
    after = [h(task_id=t) for t in range(2)]
    expected = 0.3 / 2 * sum((a - b).pow(2).sum() for a, b in zip(after, before))
    assert reg().item() == pytest.approx(expected.item(), rel=REL_TOL)


def test_lookahead_is_evaluated_at_theta_plus_delta():
    h = hnet_with_tasks(HNETS["chunked, 30 does not divide 157"], num_tasks=3)
    reg = OutputRegularizer(h, beta=1.0, method="exact")
    reg.snapshot(tasks=[0, 1])
    perturb_(h.theta_parameters())
    delta = [0.01 * torch.randn_like(p) for p in h.theta_parameters()]
    moved = copy.deepcopy(h)
    with torch.no_grad():
        for p, d in zip(moved.theta_parameters(), delta):
            p.add_(d)
    reg_moved = OutputRegularizer(moved, beta=1.0, method="exact")
    reg_moved._stored, reg_moved.tasks = reg._stored, reg.tasks    # same snapshot θ*
    assert reg(delta).item() == pytest.approx(reg_moved().item(), rel=1e-5)


def test_no_old_task_gives_zero():
    h = hnet_with_tasks(HNETS["full"], num_tasks=1)
    for method in ("exact", "reference"):
        reg = OutputRegularizer(h, beta=1.0, method=method)
        assert reg().item() == 0.0
        reg.snapshot(tasks=[])
        assert reg.num_old_tasks == 0 and reg().item() == 0.0


def test_snapshot_defaults_to_all_current_tasks():
    h = hnet_with_tasks(HNETS["full"], num_tasks=3)
    reg = OutputRegularizer(h, beta=1.0)
    reg.snapshot()
    assert reg.tasks == (0, 1, 2)
    h.add_task()
    assert reg.num_old_tasks == 3


@pytest.mark.parametrize("method", ["exact", "reference"])
def test_random_subset_regularises_k_tasks_scaled_by_beta_over_k(method):
    h = hnet_with_tasks(HNETS["chunked, 30 does not divide 157"], num_tasks=6)
    full = OutputRegularizer(h, beta=1.0, method=method)
    full.snapshot(tasks=range(5))
    singles = [OutputRegularizer(h, beta=1.0, method=method) for _ in range(5)]
    for t, one in enumerate(singles):
        one.snapshot(tasks=[t])
    sub = OutputRegularizer(h, beta=1.0, method=method, subset_size=2,
                            generator=torch.Generator().manual_seed(3))
    seeded = {m: OutputRegularizer(h, beta=1.0, method=m, subset_size=2,
                                   generator=torch.Generator().manual_seed(7))
              for m in ("exact", "reference")}
    big = OutputRegularizer(h, beta=1.0, method=method, subset_size=50)
    for reg in [sub, big, *seeded.values()]:
        reg.snapshot(tasks=range(5))
    perturb_(h.theta_parameters())

    per_task = [one().item() for one in singles]
    assert min(per_task) > 0
    assert full().item() == pytest.approx(sum(per_task) / 5, rel=REL_TOL)
    pair_means = {(a, b): (per_task[a] + per_task[b]) / 2
                  for a in range(5) for b in range(a + 1, 5)}
    seen = set()
    for _ in range(12):
        value = sub().item()
        match = [k for k, v in pair_means.items() if v == pytest.approx(value, rel=REL_TOL)]
        assert match, f"{value} is not the mean of two old tasks"
        seen.add(match[0])
    assert len(seen) > 1                                   # different draws per call
    # same seed, same draws, for both methods
    draws = {m: [reg().item() for _ in range(4)] for m, reg in seeded.items()}
    assert draws["exact"] == pytest.approx(draws["reference"], rel=REL_TOL)
    # more requested than available: all old tasks
    assert big().item() == pytest.approx(full().item(), rel=1e-6)


def test_exact_stores_activations_not_weight_sets():
    def make():
        return ChunkedHyperNetwork(num_outputs=5000, embedding_dim=4, chunk_embedding_dim=3,
                                   chunk_size=700, hidden=(6,), activation="relu")
    h = hnet_with_tasks(make, num_tasks=11)
    sizes = {}
    for method in ("exact", "reference"):
        for old in (1, 10):
            reg = OutputRegularizer(h, beta=1.0, method=method)
            reg.snapshot(tasks=range(old))
            sizes[method, old] = reg.stored_bytes()
    per_task_exact = (sizes["exact", 10]["per_task"] - sizes["exact", 1]["per_task"]) / 9
    per_task_ref = (sizes["reference", 10]["per_task"] - sizes["reference", 1]["per_task"]) / 9
    assert per_task_exact == h.num_chunks * h.feature_dim * 4 + 4 * 4   # z* + embedding
    assert per_task_ref == 5000 * 4 + 4 * 4                             # a full weight set
    assert sizes["exact", 10]["fixed"] == sizes["exact", 1]["fixed"]


@pytest.mark.parametrize("opt_kwargs", [
    dict(lr=0.01),
    dict(lr=0.003, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, maximize=True),
    dict(lr=0.01, fused=True),                             # the engine's optimiser
])
@pytest.mark.parametrize("adamw", [False, True])
def test_adam_lookahead_is_the_step_adam_takes(opt_kwargs, adamw):
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(5)),
              torch.nn.Parameter(torch.randn(2))]
    cls = torch.optim.AdamW if adamw else torch.optim.Adam
    opt = cls(params, **opt_kwargs)

    def set_grads():
        for p in params[:2]:
            p.grad = torch.randn_like(p)

    for _ in range(3):                                     # build up some state
        set_grads()
        delta = adam_lookahead(opt, params)
        before = [p.detach().clone() for p in params]
        state_before = copy.deepcopy(opt.state_dict())
        twin = copy.deepcopy(opt.state_dict())
        delta_again = adam_lookahead(opt, params)
        assert str(opt.state_dict()) == str(state_before)  # state untouched
        for a, b in zip(delta, delta_again):
            assert torch.equal(a, b)
        opt.load_state_dict(twin)
        opt.step()
        for p, b, d in zip(params, before, delta):
            # atol: rounding of p itself (float32, |p| < 5) when taking the difference
            torch.testing.assert_close(p.detach() - b, d, rtol=1e-5, atol=1e-6)
    assert torch.equal(delta[2], torch.zeros(2))            # no grad: no step


@pytest.mark.parametrize("kwargs, name", [
    (dict(beta=-0.1), "beta"),
    (dict(beta=float("nan")), "beta"),
    (dict(method="fast"), "method"),
    (dict(subset_size=0), "subset_size"),
])
def test_bad_arguments_are_rejected(kwargs, name):
    h = hnet_with_tasks(HNETS["full"], num_tasks=2)
    args = dict(beta=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        OutputRegularizer(h, **args)


def test_bad_snapshot_tasks_and_delta_are_rejected():
    h = hnet_with_tasks(HNETS["chunked, 30 does not divide 157"], num_tasks=2)
    reg = OutputRegularizer(h, beta=0.1)
    with pytest.raises(ValueError, match="tasks"):
        reg.snapshot(tasks=[0, 2])                           # task 2 has no embedding
    reg.snapshot()
    theta = h.theta_parameters()
    with pytest.raises(ValueError, match="delta"):
        reg(delta=[torch.zeros_like(p) for p in theta[:-1]])
    with pytest.raises(ValueError, match="delta"):
        reg(delta=[torch.zeros(3)] + [torch.zeros_like(p) for p in theta[1:]])
    with pytest.raises(ValueError, match="optimizer"):
        adam_lookahead(torch.optim.SGD(theta, lr=0.1), theta)
    with pytest.raises(ValueError, match="params"):
        adam_lookahead(torch.optim.Adam(theta[:1]), theta)
