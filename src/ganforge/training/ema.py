"""An exponential moving average of G's weights whose averaging horizon grows with training, as in
stylegan2-ada: after ``images`` training images, the half-life is min(``half_life``, ``rampup`` x
images) images, so early on the average follows G closely and later smooths over ``half_life``.

The average is torch's ``AveragedModel``. G's buffers (BatchNorm statistics) are copied, not
averaged, as stylegan2-ada does; they belong to G's weights, not to the average's, so before the
average makes samples ``refresh_batchnorm`` measures them again on the average itself, as SWA's
``update_bn`` does.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .distributed import GlooSyncBatchNorm
from torch.optim.swa_utils import AveragedModel, update_bn

from ..models.conditional import WithClasses


def ema_beta(images: int, batch: int, half_life: float, rampup: Optional[float]) -> float:
    """The weight of the old average in the update after ``images`` training images."""
    horizon = half_life if rampup is None else min(half_life, images * rampup)
    return 0.5 ** (batch / max(horizon, 1e-8))


class EmaOfG:
    """``model`` holds the average (``model.module`` is a G); ``update`` after every G update."""

    def __init__(self, G: nn.Module, *, half_life: float, rampup: Optional[float]):
        self.half_life, self.rampup, self.beta = half_life, rampup, 0.0
        self.model = AveragedModel(G)  # the container (checkpoints' "G_ema."); ``blend`` updates it
        self.model.requires_grad_(False)
        device = next(G.parameters()).device
        self.model.n_averaged = self.model.n_averaged.to(device)  # counted by the step, on the device
        self.mix = torch.tensor([0.0, 1.0], device=device)  # (old, new): the weights of the next blend

    def set_position(self, images: int, batch: int) -> None:
        """The weights of the next ``blend``, ``images`` being the training images seen once its batch is
        counted: on the host, before a step, so that the step itself reads them as data. The first
        blend (``images`` no more than a batch) copies G."""
        self.beta = 0.0 if images <= batch else ema_beta(images, batch, self.half_life, self.rampup)
        self.mix.copy_(torch.tensor([self.beta, 1.0 - self.beta]), non_blocking=True)

    @torch.no_grad()
    def blend(self, G: nn.Module) -> None:
        """average = beta * average + (1 - beta) * G for the weights (a weight of 1 copies them exactly),
        G's buffers copied: the same operators every step, no host sync."""
        averaged, current = list(self.model.module.parameters()), list(G.parameters())
        torch._foreach_mul_(averaged, self.mix[0])
        torch._foreach_add_(averaged, torch._foreach_mul(current, self.mix[1]))
        for mine, its in zip(self.model.module.buffers(), G.buffers()):
            mine.copy_(its)
        self.model.n_averaged += 1

    @torch.no_grad()
    def refresh_batchnorm(self, z_dim: int, batch: int, device: torch.device, classes: int = 0,
                          batches: int = 16, prior: Optional[Tensor] = None) -> None:
        """BatchNorm statistics of the average, from ``batches`` batches of latents of its own RNG (the
        training's random streams are left alone; a conditional G's classes cycle over each batch, or
        follow the clusters' ``prior``). Training overwrites them at the next update."""
        rng = torch.Generator().manual_seed(0)
        latents = [torch.randn(batch, z_dim, generator=rng).to(device) for _ in range(batches)]
        G = WithClasses(self.model.module, prior=prior) if classes else self.model.module
        synced = [m for m in G.modules() if isinstance(m, GlooSyncBatchNorm)]
        for m in synced:  # rank 0 alone refreshes the average: no all-reduce another rank would have to join
            m.local = True
        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # dropout stays apart
                update_bn(latents, G)
        finally:
            for m in synced:
                m.local = False

    def update(self, G: nn.Module, images: int, batch: int) -> None:
        """Blend G in, ``images`` being the training images seen once this batch is counted."""
        self.set_position(images, batch)
        self.blend(G)
