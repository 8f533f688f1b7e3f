"""An exponential moving average of G's weights whose averaging horizon grows with training, as in
stylegan2-ada: after ``images`` training images, the half-life is min(``half_life``, ``rampup`` x
images) images, so early on the average follows G closely and later smooths over ``half_life``.

The average is torch's ``AveragedModel``; G's buffers (BatchNorm statistics) are copied, not
averaged, as stylegan2-ada does.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel


def ema_beta(images: int, batch: int, half_life: float, rampup: Optional[float]) -> float:
    """The weight of the old average in the update after ``images`` training images."""
    horizon = half_life if rampup is None else min(half_life, images * rampup)
    return 0.5 ** (batch / max(horizon, 1e-8))


class EmaOfG:
    """``model`` holds the average (``model.module`` is a G); ``update`` after every G update."""

    def __init__(self, G: nn.Module, *, half_life: float, rampup: Optional[float]):
        self.half_life, self.rampup, self.beta = half_life, rampup, 0.0
        self.model = AveragedModel(G, multi_avg_fn=self._blend)
        self.model.requires_grad_(False)

    def _blend(self, averaged: list[Tensor], current: list[Tensor], _count: Tensor) -> None:
        torch._foreach_lerp_(averaged, current, 1.0 - self.beta)

    def update(self, G: nn.Module, images: int, batch: int) -> None:
        """Blend G in, ``images`` being the training images seen once this batch is counted."""
        self.beta = ema_beta(images, batch, self.half_life, self.rampup)
        self.model.update_parameters(G)
