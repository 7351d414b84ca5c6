"""The exercise checks (hnet_utils/checks.py): pass on the package's code, fail
with a helpful hint on deliberately wrong implementations."""

import math

import pytest
import torch
import torch.nn.functional as F

from hnet_utils import checks
from hnet_utils.checks import CheckFailed


@pytest.mark.parametrize("notebook", sorted(checks.EXERCISES))
def test_each_check_passes_on_the_reference(notebook, capsys):
    for name, check, reference in checks.EXERCISES[notebook]:
        assert check(reference) is True
        assert f"PASS {name}" in capsys.readouterr().out


def test_not_implemented_is_reported_not_failed(capsys):
    def todo(*args):
        raise NotImplementedError()
    for exercises in checks.EXERCISES.values():
        for name, check, _ in exercises:
            assert check(todo) is False
            assert "not implemented yet" in capsys.readouterr().out


def test_use_or_fallback(capsys):
    def todo(x):
        raise NotImplementedError()
    f = checks.use_or_fallback(todo, checks.reference_entropy)
    x = torch.randn(3, 4)
    assert torch.equal(f(x), checks.reference_entropy(x))
    assert "not implemented yet" in capsys.readouterr().out
    f(x)
    assert capsys.readouterr().out == ""                        # said once
    g = checks.use_or_fallback(lambda x: x.sum(-1), checks.reference_entropy)
    assert torch.equal(g(x), x.sum(-1))                         # the learner's own


# ------------------------------------------------------------------- wrong code

def test_target_forward_wrong():
    def own_weights(net, flat, x):                              # ignores flat
        return net(x)
    with pytest.raises(CheckFailed, match="values differ|depend on `flat`"):
        checks.check_target_forward(own_weights)

    def transposed(net, flat, x):                               # shape error
        return checks.reference_target_forward(net, flat, x).T
    with pytest.raises(CheckFailed, match="shape"):
        checks.check_target_forward(transposed)


def test_compression_ratio_wrong():
    with pytest.raises(CheckFailed, match="upside down"):
        checks.check_compression_ratio(lambda h, n: n / h)


def test_adam_delta_wrong():
    def missing_lookahead(opt, params):                         # no step at all
        return [torch.zeros_like(p) for p in params]
    with pytest.raises(CheckFailed, match="all zeros"):
        checks.check_adam_delta(missing_lookahead)

    def sign_error(opt, params):
        return [-d for d in checks.reference_adam_delta(opt, params)]
    with pytest.raises(CheckFailed, match="wrong sign"):
        checks.check_adam_delta(sign_error)

    def sgd(opt, params):                                       # forgets Adam's scaling
        return [-opt.param_groups[0]["lr"] * p.grad for p in params]
    with pytest.raises(CheckFailed, match="plain gradient descent|values differ"):
        checks.check_adam_delta(sgd)

    def steps(opt, params):                                     # takes the step
        d = checks.reference_adam_delta(opt, params)
        opt.step()
        return d
    with pytest.raises(CheckFailed, match="changed"):
        checks.check_adam_delta(steps)


def test_output_regularizer_wrong():
    def no_mean(h, params, e, w, beta):                         # forgets 1/(T-1)
        return checks.reference_output_regularizer(h, params, e, w, beta) * len(e)
    with pytest.raises(CheckFailed, match="times it"):
        checks.check_output_regularizer(no_mean)

    def ignores_lookahead(h, params, e, w, beta):               # missing lookahead
        plain = {name: p for name, p in h.named_theta_parameters()}
        return checks.reference_output_regularizer(h, plain, e, w, beta)
    with pytest.raises(CheckFailed, match="with lookahead"):
        checks.check_output_regularizer(ignores_lookahead)

    def detached(h, params, e, w, beta):
        return checks.reference_output_regularizer(h, params, e, w, beta).detach()
    with pytest.raises(CheckFailed, match="no gradient"):
        checks.check_output_regularizer(detached)


def test_gram_matrix_wrong():
    def pairwise(z, zs):                                        # N x N instead of (2d+2)^2
        u = torch.cat([z, torch.ones_like(z[:, :1]), -zs, -torch.ones_like(z[:, :1])], 1)
        return u @ u.T
    with pytest.raises(CheckFailed, match="shape"):
        checks.check_gram_matrix(pairwise)

    def sign(z, zs):                                            # u = [z; 1; z*; 1]
        u = torch.cat([z, torch.ones_like(z[:, :1]), zs, torch.ones_like(z[:, :1])], 1)
        return u.T @ u
    with pytest.raises(CheckFailed, match="differ"):
        checks.check_gram_matrix(sign)


def test_exact_reg_sum_wrong():
    def sign(W, b, Ws, bs, z, zs):                              # A = [W | b | -W* | -b*] with u's signs
        A = torch.cat([W, b[:, None], -Ws, -bs[:, None]], 1)
        return torch.trace(A @ checks.reference_gram_matrix(z, zs) @ A.T)
    with pytest.raises(CheckFailed):
        checks.check_exact_reg_sum(sign)


def test_entropy_wrong():
    def naive(logits):                                          # unstable edge case
        p = logits.softmax(-1)
        return -(p * p.log()).sum(-1)
    with pytest.raises(CheckFailed, match="log_softmax"):
        checks.check_entropy(naive)

    def sign(logits):
        return -checks.reference_entropy(logits)
    with pytest.raises(CheckFailed, match="wrong sign"):
        checks.check_entropy(sign)


def test_choose_task_wrong():
    def most_uncertain(logits):
        return checks.reference_entropy(logits).argmax(0)
    with pytest.raises(CheckFailed, match="most"):
        checks.check_choose_task(most_uncertain)

    def wrong_axis(logits):                                     # shape error
        return checks.reference_entropy(logits).argmin(1)
    with pytest.raises(CheckFailed, match="shape"):
        checks.check_choose_task(wrong_axis)
