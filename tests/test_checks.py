"""The exercise checks (hnet_utils/checks.py): pass on the package's code, report an
unsolved exercise, fall back to the package's implementation. The hints for wrong
implementations are tested in tests/test_check_hints.py."""

import pytest
import torch

from hnet_utils import checks


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


# Wrong solutions and the hint each one receives: tests/test_check_hints.py.
