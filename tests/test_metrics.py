"""Accuracy-matrix metrics on hand-made matrices."""

import math

import pytest
import torch

from hnet_utils.continual.metrics import (accuracy, average_final, average_seen, backward_transfer, during,
                                         final, fits_kept, summarize)

# R[i][j]: accuracy on task j after training task i (None: not learned yet)
R = [
    [90.0, None, None],
    [80.0, 95.0, None],
    [70.0, 85.0, 99.0],
]


def test_final_during_average():
    assert final(R) == [70.0, 85.0, 99.0]
    assert during(R) == [90.0, 95.0, 99.0]
    assert average_final(R) == pytest.approx((70 + 85 + 99) / 3)


def test_average_seen_is_the_mean_over_tasks_learned_so_far():
    assert average_seen(R) == pytest.approx([90.0, (80 + 95) / 2, (70 + 85 + 99) / 3])
    assert average_seen(R)[-1] == pytest.approx(average_final(R))


def test_backward_transfer_is_mean_change_on_old_tasks():
    # task 0: 70 - 90 = -20, task 1: 85 - 95 = -10 -> mean -15 (forgetting)
    assert backward_transfer(R) == pytest.approx(-15.0)
    no_forgetting = [[90.0, None], [92.0, 95.0]]
    assert backward_transfer(no_forgetting) == pytest.approx(2.0)
    assert backward_transfer([[50.0]]) == 0.0


def test_summarize_matches_parts():
    s = summarize(R)
    assert s["final"] == final(R) and s["during"] == during(R)
    assert s["average_final"] == average_final(R)
    assert s["backward_transfer"] == backward_transfer(R)


def test_bad_matrices_are_clear_errors():
    with pytest.raises(ValueError, match="square"):
        average_final([[1.0, None], [2.0]])
    with pytest.raises(ValueError, match=r"matrix\[1\]\[1\] is missing"):
        average_final([[1.0, None], [2.0, None]])
    with pytest.raises(ValueError, match="missing"):
        during([[math.nan]])
    with pytest.raises(ValueError, match="empty"):
        final([])


def test_accuracy_in_percent():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 1])) == pytest.approx(75.0)
    with pytest.raises(ValueError, match="rows"):
        accuracy(logits, torch.tensor([0, 1]))


def test_fits_kept_needs_both_the_factor_and_the_ceiling():
    mse = [[0.001, None, None],
           [0.0025, 0.002, None],
           [0.0019, 0.005, 0.02]]
    assert fits_kept(mse) == [True, False, False]        # 1.9x; 2.5x; the last task above 0.01
    assert fits_kept(mse, factor=3.0) == [True, True, False]
    assert fits_kept(mse, factor=3.0, ceiling=0.05) == [True, True, True]
    with pytest.raises(ValueError, match="factor must be >= 1"):
        fits_kept(mse, factor=0.5)
