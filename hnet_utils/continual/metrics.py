"""Continual-learning metrics computed from an accuracy (or MSE) matrix.

The central object is the matrix ``R`` with ``R[i][j]`` = metric on task ``j``
(test split) after training task ``i``. Only the lower triangle ``j <= i`` is
filled: a task that has not been learned yet has no entry (``None``).

Accuracies are in percent (0-100); regression uses the mean squared error,
where lower is better.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

Matrix = Sequence[Sequence[float | None]]

METRICS = ("accuracy", "mse")


def fraction_correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Share (0..1) of rows whose argmax equals the label: logits (..., N, C), labels (N,) -> (...)."""
    return (logits.argmax(dim=-1) == labels).float().mean(dim=-1)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Percentage of rows of ``logits`` (N, C) whose argmax equals ``labels`` (N,)."""
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"logits has {logits.shape[0]} rows but labels has {labels.shape[0]}")
    if labels.numel() == 0:
        raise ValueError("labels is empty: accuracy of zero samples is undefined")
    return 100.0 * fraction_correct(logits, labels).item()


def _check_square(matrix: Matrix) -> int:
    """Validate that ``matrix`` is K x K with a filled lower triangle; return K."""
    k = len(matrix)
    if k == 0:
        raise ValueError("matrix is empty: need at least one task")
    for i, row in enumerate(matrix):
        if len(row) != k:
            raise ValueError(f"matrix must be square ({k} x {k}); row {i} has {len(row)} entries")
        for j in range(i + 1):
            value = row[j]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                raise ValueError(f"matrix[{i}][{j}] is missing; the lower triangle (j <= i) must be filled")
    return k


def final(matrix: Matrix) -> list[float]:
    """Metric on each task after the last task was learned: the last row, (K,)."""
    k = _check_square(matrix)
    return [float(v) for v in matrix[k - 1]]


def during(matrix: Matrix) -> list[float]:
    """Metric on each task right after learning it: the diagonal ``R[j][j]``, (K,)."""
    k = _check_square(matrix)
    return [float(matrix[j][j]) for j in range(k)]


def average_final(matrix: Matrix) -> float:
    """Mean of the last row: the average final accuracy (or MSE) over all tasks."""
    values = final(matrix)
    return sum(values) / len(values)


def average_seen(matrix: Matrix) -> list[float]:
    """Mean metric over the tasks learned so far, after each task: ``mean(R[t][:t+1])``, (K,).

    Its last entry is :func:`average_final`; plotted against t it shows how a method
    holds up as the sequence grows (the paper's PermutedMNIST-100 figure).
    """
    k = _check_square(matrix)
    return [sum(matrix[t][:t + 1]) / (t + 1) for t in range(k)]


def backward_transfer(matrix: Matrix) -> float:
    """Mean change on old tasks from right-after-learning to the end.

    ``BWT = 1/(K-1) * sum_{j<K-1} (R[K-1][j] - R[j][j])`` (Lopez-Paz & Ranzato,
    2017). For accuracy a negative value means forgetting; for MSE (lower is
    better) a *positive* value means forgetting. With a single task there is
    nothing to transfer to and the result is 0.0.
    """
    k = _check_square(matrix)
    if k == 1:
        return 0.0
    return sum(float(matrix[k - 1][j]) - float(matrix[j][j]) for j in range(k - 1)) / (k - 1)


def fits_kept(matrix: Matrix, factor: float = 2.0, ceiling: float = 0.01) -> list[bool]:
    """For an MSE matrix: whether each task's final MSE is at most ``factor`` times its MSE
    right after learning it and at most ``ceiling`` (issue #16's test of "no forgetting" on the
    regression toy; results/README.md says why it is fragile). (K,) booleans."""
    if not factor >= 1 or not ceiling > 0:
        raise ValueError(f"factor must be >= 1 and ceiling > 0, got {factor!r} and {ceiling!r}")
    return [f <= factor * d and f <= ceiling for f, d in zip(final(matrix), during(matrix))]


def summarize(matrix: Matrix) -> dict:
    """All summary numbers of ``matrix`` in one dict: final, during, average_final, backward_transfer."""
    return {
        "final": final(matrix),
        "during": during(matrix),
        "average_final": average_final(matrix),
        "backward_transfer": backward_transfer(matrix),
    }
