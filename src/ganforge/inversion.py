"""GAN inversion: find z with G(z) close to an image, from several random starts at once.

``invert`` optimises all restarts of all images as one batch of latents, shape (N*S, z).
Each latent's loss is its own image's mean squared error (over visible pixels when a mask is
given), and the batch loss is their sum, so every restart follows exactly the trajectory it
would follow alone: the batch only shares the generator's forward and backward passes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from .errors import GanforgeError

OPTIMIZERS = ("adam", "sgd")
DEFAULT_LR = {"adam": 0.05, "sgd": 1.0}


@dataclass
class InversionResult:
    z: Tensor  # (N, z) the chosen latent of each image
    reconstructions: Tensor  # (N, C, H, W) G(z)
    best: Tensor  # (N,) index of the chosen restart
    final: Tensor  # (N, S) final loss of every restart
    losses: Tensor  # (N, S, iters) loss of every restart at every iteration (before its step)
    z_all: Tensor  # (N, S, z) final latents of every restart
    z_init: Tensor  # (N, S, z) where each restart started


def masked_mse(x: Tensor, target: Tensor, visible: Optional[Tensor]) -> Tensor:
    """Per-image MSE over visible pixels: (B, C, H, W) -> (B,). ``visible``: 1 where the pixel counts."""
    sq = (x - target) ** 2
    if visible is None:
        return sq.flatten(1).mean(1)
    visible = visible.expand_as(sq).to(sq.dtype)
    return (sq * visible).flatten(1).sum(1) / visible.flatten(1).sum(1).clamp_min(1)


def invert(G: nn.Module, images: Tensor, *, restarts: int = 5, iters: int = 500, optimizer: str = "adam",
           lr: Optional[float] = None, prior: float = 0.0, mask: Optional[Tensor] = None,
           seed: int = 0, z_init: Optional[Tensor] = None, z_dim: Optional[int] = None) -> InversionResult:
    """Invert ``G`` on ``images`` (N, C, H, W) in [-1, 1].

    mask: bool, True = hidden, shape (H, W) or (N, H, W); hidden pixels do not enter the loss.
    prior: weight of mean(z^2), pulling latents towards the typical set of N(0, I).
    z_init: (N, S, z) starting latents; otherwise drawn from N(0, I) with ``seed``.
    """
    if restarts < 1 or iters < 0:
        raise GanforgeError(f"need restarts >= 1 and iterations >= 0, got {restarts} and {iters}")
    if optimizer not in OPTIMIZERS:
        raise GanforgeError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    n, device = len(images), images.device
    z_dim = z_dim or _latent_size(G)
    if z_init is None:
        z_init = torch.randn(n, restarts, z_dim, generator=torch.Generator().manual_seed(seed))
    z_init = z_init.to(device=device, dtype=images.dtype)
    s = z_init.shape[1]
    target = images.repeat_interleave(s, 0)  # (N*S, C, H, W)
    visible = None
    if mask is not None:
        hidden = mask if mask.dim() == 2 else mask.repeat_interleave(s, 0)
        visible = ~(hidden[None, None] if hidden.dim() == 2 else hidden[:, None])

    was_training = G.training
    G.eval()  # BatchNorm from running statistics: no coupling between restarts
    flags = [p.requires_grad for p in G.parameters()]
    G.requires_grad_(False)
    z = z_init.reshape(n * s, z_dim).clone().requires_grad_(True)  # (N*S, z)
    opt = torch.optim.Adam([z], lr=lr) if optimizer == "adam" else torch.optim.SGD([z], lr=lr)
    losses = torch.empty(n * s, iters, device=device)
    try:
        for t in range(iters):
            err = masked_mse(G(z), target, visible)  # (N*S,)
            total = err + prior * (z**2).mean(1) if prior else err
            opt.zero_grad(set_to_none=True)
            total.sum().backward()
            opt.step()
            losses[:, t] = err.detach()
        with torch.no_grad():
            final = masked_mse(G(z), target, visible)  # (N*S,)
    finally:
        for p, f in zip(G.parameters(), flags):
            p.requires_grad_(f)
        G.train(was_training)
    final = final.view(n, s)
    best = final.argmin(1)  # (N,)
    z_all = z.detach().view(n, s, z_dim)
    z_best = z_all[torch.arange(n, device=device), best]
    with torch.no_grad():
        G.eval()
        recon = G(z_best)
        G.train(was_training)
    return InversionResult(z_best, recon, best, final, losses.view(n, s, iters), z_all, z_init)


def _latent_size(G: nn.Module) -> int:
    first = next(m for m in G.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d, nn.Conv2d)))
    return first.in_features if isinstance(first, nn.Linear) else first.in_channels
