"""Differentiable augmentation of everything D sees, real and generated alike (DiffAugment, Zhao et
al. 2020), with an optional adaptive strength that follows D's overfitting (ADA, Karras et al. 2020).

Each kind is applied to each sample with probability ``p``: translation by up to 1/8 of the image
side and cutout of a square half the side, both filling with the image's background (the mean of
its border pixels, black for digits) rather than mid-grey; colour (brightness, saturation,
contrast) for colour images. All are tensor operations, so G's gradient flows through them.

With a target, ``p`` adapts as ADA does: every ``interval`` D steps, r = E[sign(D(real))] is
compared with the target and ``p`` moves by (batch * interval) / ``speed`` images towards more
augmentation when r is above it. ``p`` stays a tensor on the device: no host sync.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .distributed import SINGLE, World, all_reduce


def background(x: Tensor) -> Tensor:
    """(B, C, 1, 1): the mean of each image's border pixels per channel."""
    border = torch.cat([x[:, :, 0], x[:, :, -1], x[:, :, 1:-1, 0], x[:, :, 1:-1, -1]], dim=2)  # (B, C, 2H+2W-4)
    return border.mean(2)[:, :, None, None]


def translate(x: Tensor, shift: Tensor, fill: Tensor, reach: tuple[int, int]) -> Tensor:
    """Shift each image by ``shift`` (B, 2) whole pixels (rows, columns), at most ``reach``, filling with
    ``fill``. The padding is the reach, not the largest shift drawn: the same shapes every step, no host sync."""
    b, c, h, w = x.shape
    ph, pw = reach
    padded = F.pad(x - fill, [pw, pw, ph, ph]) + fill  # (B, C, H + 2ph, W + 2pw), border = fill
    rows = (torch.arange(h, device=x.device)[None] + ph - shift[:, :1])[:, :, None]  # (B, H, 1)
    cols = (torch.arange(w, device=x.device)[None] + pw - shift[:, 1:])[:, None, :]  # (B, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: Tensor, centre: Tensor, size: int, fill: Tensor) -> Tensor:
    """Fill a ``size`` x ``size`` square at ``centre`` (B, 2) of each image with ``fill``."""
    h, w = x.shape[-2:]
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    top, left = centre[:, :1, None] - size // 2, centre[:, 1:, None] - size // 2
    hole = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)  # (B, H, W)
    return torch.where(hole[:, None], fill.expand_as(x), x)


def colour(x: Tensor, u: Tensor) -> Tensor:
    """DiffAugment's brightness, saturation and contrast, from ``u`` (B, 3) uniform in [0, 1)."""
    x = x + (u[:, 0, None, None, None] - 0.5)
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * (u[:, 1, None, None, None] * 2) + mean
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * (u[:, 2, None, None, None] + 0.5) + mean


ADA_INTERVAL = 4  # iterations between adjustments of p (ADA's)
ADA_SPEED = 500_000  # images over which p can move from 0 to 1 (ADA's "ada_kimg" of 500)


class Augment(nn.Module):
    """The augmentation pipeline; ``p`` is a buffer, so checkpoints keep it."""

    def __init__(self, kinds: Sequence[str], *, p: float = 1.0, target: Optional[float] = None,
                 interval: int = ADA_INTERVAL, speed: float = ADA_SPEED, batch: int = 64, world: World = SINGLE):
        super().__init__()
        self.kinds, self.target, self.interval, self.world = tuple(kinds), target, interval, world
        self.step_size = batch * interval / speed
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("signs", torch.zeros(2))  # sum of sign(D(real)), and count, since the last adjustment

    def _draw(self, x: Tensor, *shape: int) -> Tensor:
        """Uniform [0, 1) numbers for this rank's samples, drawn for the global batch (see World.shard)."""
        return self.world.shard(torch.rand(len(x) * self.world.size, *shape, device=x.device))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            return x
        h, w = x.shape[-2:]
        fill = background(x)
        for kind in self.kinds:
            on = self._draw(x, 1)[:, 0] < self.p  # (B,) which samples this kind touches
            if kind == "translation":
                reach = torch.tensor([h // 8, w // 8], device=x.device)
                shift = (self._draw(x, 2) * (2 * reach + 1)).long() - reach
                moved = translate(x, shift * on[:, None], fill, (h // 8, w // 8))
            elif kind == "cutout":
                centre = (self._draw(x, 2) * torch.tensor([h, w], device=x.device)).long()
                moved = cutout(x, centre, h // 2, fill)
            elif x.shape[1] == 3:
                moved = colour(x, self._draw(x, 3))
            else:
                continue
            x = torch.where(on[:, None, None, None], moved, x)
        return x

    def observe(self, real_logits: Tensor) -> None:
        """ADA: note D's outputs on real samples; after every ``interval`` iterations, move ``p``. Which
        iteration that is, the count of outputs noted says, on the device: every step runs the same operators."""
        if self.target is None:
            return
        seen = torch.stack([real_logits.detach().sign().sum(), real_logits.new_tensor(len(real_logits))])
        # summed over ranks as they come, so every rank holds the same sums and rank 0's checkpoint is all of them
        seen = all_reduce(seen) if self.world.enabled else seen
        self.signs += seen
        due = self.signs[1] > (self.interval - 0.5) * seen[1]  # this is the interval's last iteration
        overfit = self.signs[0] / self.signs[1]  # r_t: near 1 when D is sure of every real sample
        moved = (self.p + torch.sign(overfit - self.target) * self.step_size).clamp(0, 1)
        self.p.copy_(torch.where(due, moved, self.p))
        self.signs.mul_(~due)


class Augmented(nn.Module):
    """D that sees its input through ``augment`` first."""

    def __init__(self, D: nn.Module, augment: Augment):
        super().__init__()
        self.d, self.augment = D, augment

    def forward(self, x: Tensor, *labels: Tensor) -> Tensor:
        return self.d(self.augment(x), *labels)
