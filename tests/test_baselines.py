"""EWC, online EWC and SI: penalties, Fisher and importance on tiny models."""

import pytest
import torch
from torch import nn

from hnet_utils.continual.ewc import EWC, diagonal_fisher
from hnet_utils.continual.si import SI


def tiny_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def nudge(net, amount=0.1):
    with torch.no_grad():
        for p in net.parameters():
            p.add_(amount)


def test_fisher_matches_per_sample_loop():
    net, x = tiny_net(), torch.randn(5, 3)
    fisher = diagonal_fisher(net, x, chunk=2)
    # reference: sum_c p(c|x) (d log p(c|x))^2, one sample and one label at a time
    ref = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
    for xi in x:
        probs = torch.softmax(net(xi[None]), -1)[0].detach()
        for c in range(2):
            net.zero_grad()
            torch.log_softmax(net(xi[None]), -1)[0, c].backward()
            for n, p in net.named_parameters():
                ref[n] += probs[c] * p.grad ** 2
    for n in ref:
        torch.testing.assert_close(fisher[n], ref[n] / len(x), rtol=1e-4, atol=1e-7)
        assert fisher[n].shape == dict(net.named_parameters())[n].shape


def test_regression_fisher_is_squared_output_gradient():
    net = nn.Linear(2, 1)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    fisher = diagonal_fisher(net, x, kind="regression")
    # d f / d w = x, d f / d b = 1
    torch.testing.assert_close(fisher["weight"], (x ** 2).mean(0, keepdim=True))
    torch.testing.assert_close(fisher["bias"], torch.ones(1))
    with pytest.raises(ValueError, match="kind"):
        diagonal_fisher(net, x, kind="ranking")


@pytest.mark.parametrize("online", [False, True])
def test_ewc_penalty_zero_at_anchor_positive_away(online):
    net = tiny_net()
    ewc = EWC(net, strength=10.0, online=online, gamma=0.9)
    assert ewc.penalty().item() == 0.0  # nothing consolidated yet
    ewc.consolidate(diagonal_fisher(net, torch.randn(8, 3)))
    assert ewc.penalty().item() == pytest.approx(0.0, abs=1e-12)
    nudge(net)
    assert ewc.penalty().item() > 0.0
    ewc.penalty().backward()  # differentiable w.r.t. the parameters
    assert all(p.grad is not None for p in net.parameters())


def test_ewc_value_and_online_running_fisher():
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ewc = EWC(net, strength=4.0)
    ewc.consolidate({"weight": torch.tensor([[2.0]])})
    with torch.no_grad():
        net.weight.fill_(3.0)
    assert ewc.penalty().item() == pytest.approx(0.5 * 4.0 * 2.0 * (3.0 - 1.0) ** 2)
    ewc.consolidate({"weight": torch.tensor([[1.0]])})
    assert len(ewc.terms) == 2  # offline EWC keeps one term per task

    online = EWC(net, strength=1.0, online=True, gamma=0.5)
    online.consolidate({"weight": torch.tensor([[2.0]])})
    online.consolidate({"weight": torch.tensor([[1.0]])})
    assert len(online.terms) == 1
    torch.testing.assert_close(online.terms[0][1]["weight"], torch.tensor([[0.5 * 2.0 + 1.0]]))


def test_ewc_rejects_bad_arguments():
    with pytest.raises(ValueError, match="strength"):
        EWC(tiny_net(), strength=-1.0)
    with pytest.raises(ValueError, match="gamma"):
        EWC(tiny_net(), strength=1.0, online=True, gamma=1.5)


def test_si_penalty_zero_at_anchor_positive_away():
    net = tiny_net()
    si = SI(net, strength=1.0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    si.begin_task()
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        si.before_step()
        opt.step()
        si.after_step()
    assert si.penalty().item() == 0.0  # no anchor before the first consolidation
    si.consolidate()
    assert all((o >= 0).all() for o in si.omega.values())  # loss went down along the path
    assert sum(o.sum() for o in si.omega.values()) > 0
    assert si.penalty().item() == pytest.approx(0.0, abs=1e-12)
    nudge(net)
    assert si.penalty().item() > 0.0


def test_si_importance_is_path_integral():
    # one SGD step on L = w^2/2 from w=1 with lr 0.5: g = 1, delta = -0.5
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    si = SI(net, strength=2.0, epsilon=0.25)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    si.begin_task()
    opt.zero_grad()
    (net.weight.pow(2).sum() / 2).backward()
    si.before_step()
    opt.step()
    si.after_step()
    si.consolidate()
    # omega = -g*delta / (delta^2 + eps) = 0.5 / (0.25 + 0.25) = 1
    torch.testing.assert_close(si.omega["weight"], torch.tensor([[1.0]]))
    with pytest.raises(RuntimeError, match="before_step"):
        si.after_step()
