"""Masks that hide pixels, as the report's Q3 used them. A mask is a bool tensor (H, W), True = hidden."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import Tensor

from ..errors import GanforgeError
from ..images import load_image

MASK_KINDS = ("pepper", "crosswalk", "square")
BACKGROUND = -1.0  # "blackened": the background value of images in [-1, 1]


def make_mask(kind: str, shape: tuple[int, int], *, generator: Optional[torch.Generator] = None,
              fraction: float = 0.3, size: int = 8) -> Tensor:
    """A (H, W) bool mask, True where pixels are hidden.

    pepper: exactly round(fraction * H * W) pixels chosen at random; crosswalk: every second row
    (rows 1, 3, 5, ...); square: one random size x size patch, wholly inside the image.
    """
    h, w = shape
    hidden = torch.zeros(h, w, dtype=torch.bool)
    if kind == "pepper":
        if not 0 <= fraction <= 1:
            raise GanforgeError(f"--pepper-fraction must be in [0, 1], got {fraction}")
        n = round(fraction * h * w)
        hidden.view(-1)[torch.randperm(h * w, generator=generator)[:n]] = True
    elif kind == "crosswalk":
        hidden[1::2] = True
    elif kind == "square":
        if not 1 <= size <= min(h, w):
            raise GanforgeError(f"--square-size must be between 1 and {min(h, w)}, got {size}")
        top = int(torch.randint(h - size + 1, (1,), generator=generator))
        left = int(torch.randint(w - size + 1, (1,), generator=generator))
        hidden[top:top + size, left:left + size] = True
    else:
        raise GanforgeError(f"unknown mask {kind!r}; valid: {', '.join(MASK_KINDS)}")
    return hidden


def mask_from_file(path: Path | str, shape: tuple[int, int]) -> Tensor:
    """A mask image: black (< 128 in grey) marks hidden pixels. Resized to ``shape`` if needed."""
    grey = load_image(path, shape, channels=1)[0]  # (H, W) uint8
    return grey < 128


def apply_mask(images: Tensor, hidden: Tensor) -> Tensor:
    """Blacken hidden pixels. images (N, C, H, W); hidden (H, W) or (N, H, W) or (N, 1, H, W)."""
    return images.masked_fill(_broadcastable(hidden, images), BACKGROUND)


def _broadcastable(hidden: Tensor, images: Tensor) -> Tensor:
    if hidden.dim() == 2:
        return hidden[None, None]
    if hidden.dim() == 3:
        return hidden[:, None]
    return hidden
