"""Data augmentation for CIFAR training batches, batched on the batch's device.

The paper's CIFAR runs augment training images with a random crop of the
zero-padded image and a random horizontal flip (docs/method.md, section 7).
Here both happen for a whole batch in one indexing operation, on the device
that holds the batch, instead of image by image in Python:
:func:`crop_flip` does it for given offsets, :func:`random_crop_flip` draws them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_inputs(x: torch.Tensor, padding: int) -> None:
    if x.dim() != 4:
        raise ValueError(f"x must be a batch of images (B, C, H, W), got shape {tuple(x.shape)}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an int >= 0, got {padding!r}")


def crop_flip(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor,
              padding: int) -> torch.Tensor:
    """Shift and mirror every image of a batch by the given amounts, in one gather.

    Image ``i`` is zero-padded by ``padding`` pixels on every side, the
    window of the original size starting at row ``dy[i]`` and column ``dx[i]``
    of the padded image is cut out and, where ``flip[i]``, mirrored left-right.

    Args:
        x: (B, C, H, W) float batch.
        dy, dx: (B,) int64 offsets in [0, 2 * padding].
        flip: (B,) bool.
        padding: pixels of zero padding, >= 0.
    Returns:
        (B, C, H, W), a new tensor on ``x``'s device.
    """
    _check_inputs(x, padding)
    B, C, H, W = x.shape
    assert dy.shape == dx.shape == flip.shape == (B,), "one offset pair and flip flag per image"
    device = x.device
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = dy.view(B, 1) + torch.arange(H, device=device)             # (B, H)
    cols = dx.view(B, 1) + torch.arange(W, device=device)             # (B, W)
    cols = torch.where(flip.view(B, 1), cols.flip(1), cols)
    batch = torch.arange(B, device=device).view(B, 1, 1, 1)
    channel = torch.arange(C, device=device).view(1, C, 1, 1)
    return padded[batch, channel, rows.view(B, 1, H, 1), cols.view(B, 1, 1, W)]


def random_crop_flip(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Random crop of the zero-padded images (offsets uniform in 0..2*padding) and a
    horizontal flip with probability 1/2, for a (B, C, H, W) batch (see :func:`crop_flip`).

    Random numbers come from torch's generator of ``x``'s device (seeded by the
    training loop). Inputs are normalised, so the zero padding is the mean colour.
    """
    _check_inputs(x, padding)
    B, device = x.shape[0], x.device
    dy = torch.randint(0, 2 * padding + 1, (B,), device=device)
    dx = torch.randint(0, 2 * padding + 1, (B,), device=device)
    flip = torch.rand(B, device=device) < 0.5
    return crop_flip(x, dy, dx, flip, padding)
