"""Data augmentation for CIFAR training batches, batched on the batch's device.

The paper's CIFAR runs augment training images with a random crop of the
zero-padded image and a random horizontal flip (docs/method.md, section 7).
Here both happen for a whole batch in one indexing operation, on the device
that holds the batch, instead of image by image in Python.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Randomly shift and mirror every image of a batch.

    Each image is zero-padded by ``padding`` pixels on every side, a window of
    the original size is cut out at a random offset (0..2*padding in each
    direction), and the result is flipped left-right with probability 1/2.
    Inputs are normalised, so the zero padding is the mean colour.

    Args:
        x: (B, C, H, W) float batch.
        padding: largest shift in pixels, >= 0.
    Returns:
        (B, C, H, W) augmented batch (a new tensor), random numbers from torch's
        generator of ``x``'s device (seeded by the training loop).
    """
    if x.dim() != 4:
        raise ValueError(f"x must be a batch of images (B, C, H, W), got shape {tuple(x.shape)}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an int >= 0, got {padding!r}")
    B, C, H, W = x.shape
    device = x.device
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (B, 1), device=device)
    dx = torch.randint(0, 2 * padding + 1, (B, 1), device=device)
    rows = dy + torch.arange(H, device=device)                        # (B, H)
    cols = dx + torch.arange(W, device=device)                        # (B, W)
    flip = torch.rand(B, 1, device=device) < 0.5
    cols = torch.where(flip, cols.flip(1), cols)
    batch = torch.arange(B, device=device).view(B, 1, 1, 1)
    channel = torch.arange(C, device=device).view(1, C, 1, 1)
    return padded[batch, channel, rows.view(B, 1, H, 1), cols.view(B, 1, 1, W)]
