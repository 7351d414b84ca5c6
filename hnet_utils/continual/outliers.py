"""Mosaic outliers: an optional aid to HNET+ENT task inference (not in the paper).

HNET+ENT (``inference.py``) picks, for an input without task identity, the
task whose weights give the least uncertain prediction. That works only if a
task's weights are *unsure* on the inputs of the other tasks. Trained on its
own two digits only, a ReLU network is often confident on anything, so the
task is frequently inferred wrong (SplitMNIST CL3, see results/README.md).

With ``ExperimentConfig.outlier_weight`` > 0, the task loss gets a second
term: the network should predict the uniform distribution on *mosaics* of the
current batch, images whose four quadrants come from random images and
quadrants of that batch. A mosaic keeps the strokes of the task's digits but
is not one of them. Only the current task's data is used, so continual
learning's rule (no data of old tasks) is kept.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(C, H, W)`` of an input shape: itself for images, ``(1, s, s)`` for a flat square image.

    Raises ``ValueError`` for shapes that are neither (e.g. regression inputs)
    or whose height or width is odd (no quadrants).
    """
    if len(input_shape) == 3:
        c, h, w = input_shape
    elif len(input_shape) == 1 and math.isqrt(input_shape[0]) ** 2 == input_shape[0] > 1:
        c, h, w = 1, math.isqrt(input_shape[0]), math.isqrt(input_shape[0])
    else:
        raise ValueError(f"mosaic outliers need image inputs (C, H, W) or flat square images "
                         f"(H*W,), got input shape {tuple(input_shape)}")
    if h % 2 or w % 2:
        raise ValueError(f"mosaic outliers need an even image height and width, got {h}x{w}")
    return c, h, w


def mosaic(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Mosaics of a batch: each quadrant taken from a random image and quadrant of ``x``.

    Args:
        x: a batch (B, *input_shape) of images, flat or (C, H, W).
        shape: ``(C, H, W)`` of one image (see :func:`image_shape`).

    Returns:
        A tensor of the same shape as ``x``; the quadrants are a random
        permutation (torch's global generator) of the batch's 4·B quadrants.
    """
    c, h, w = shape
    b = x.shape[0]
    quads = (x.reshape(b, c, 2, h // 2, 2, w // 2).permute(0, 2, 4, 1, 3, 5)
             .reshape(b * 4, c, h // 2, w // 2))
    quads = quads[torch.randperm(b * 4, device=x.device)]
    out = quads.reshape(b, 2, 2, c, h // 2, w // 2).permute(0, 3, 1, 4, 2, 5)
    return out.reshape(x.shape)


def uniform_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between ``softmax(logits)`` (N, C) and the uniform distribution (scalar).

    Minimal (log C) when every prediction is uniform, i.e. maximally unsure.
    """
    return -F.log_softmax(logits, dim=-1).mean()
