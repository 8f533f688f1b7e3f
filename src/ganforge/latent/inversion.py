"""GAN inversion: find z with G(z) close to an image, from several random starts at once.

``invert`` optimises all restarts of all images as one batch of latents, shape (N*S, z).
Each latent's loss is its own image's mean squared error (over the visible pixels when some are
hidden), and the batch loss is their sum, so every restart follows exactly the trajectory it
would follow alone: the batch only shares the generator's forward and backward passes.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from ..errors import GanforgeError
from ..models.conditional import ConditionalG

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
           lr: Optional[float] = None, prior: float = 0.0, hidden: Optional[Tensor] = None,
           seed: int = 0, z_init: Optional[Tensor] = None, z_dim: Optional[int] = None,
           prune_after: Optional[float] = None, seconds: Optional[float] = None) -> InversionResult:
    """Invert ``G`` on ``images`` (N, C, H, W) in [-1, 1].

    hidden: bool, True where a pixel is hidden, shape (H, W) or (N, H, W); hidden pixels do not enter
    the loss.
    prior: weight of mean(z^2), pulling latents towards the typical set of N(0, I).
    z_init: (N, S, z) starting latents; otherwise drawn from N(0, I) with ``seed``.
    prune_after: a fraction of ``iters``; from there on only each image's best restart so far
    continues (the others' trajectories end there, as NaN). Restarts cost about
    ``prune_after * S + (1 - prune_after)`` single runs instead of ``S``.
    seconds: a time budget; the iterations stop once it is spent (the rest of ``losses`` stays NaN).
    """
    if restarts < 1 or iters < 0:
        raise GanforgeError(f"need restarts >= 1 and iterations >= 0, got {restarts} and {iters}")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise GanforgeError(f"learning rate must be a positive number, got {lr}")
    if not (math.isfinite(prior) and prior >= 0):
        raise GanforgeError(f"prior weight must be >= 0, got {prior}")
    if prune_after is not None and not 0 <= prune_after <= 1:
        raise GanforgeError(f"prune_after must be a fraction in [0, 1], got {prune_after}")
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
    if hidden is not None:
        hidden = hidden if hidden.dim() == 2 else hidden.repeat_interleave(s, 0)
        visible = ~(hidden[None, None] if hidden.dim() == 2 else hidden[:, None])

    was_training = G.training
    G.eval()  # BatchNorm from running statistics: no coupling between restarts
    flags = [p.requires_grad for p in G.parameters()]
    G.requires_grad_(False)
    z = z_init.reshape(n * s, z_dim).clone().requires_grad_(True)  # (N*S, z)
    opt = _optimizer(optimizer, z, lr)
    losses = torch.full((n * s, iters), float("nan"), device=device)
    rows = torch.arange(n * s, device=device)  # which (image, restart) each row of z still is
    prune_at = None if prune_after is None or s == 1 else max(1, round(prune_after * iters))
    pruned_final = torch.full((n * s,), float("inf"), device=device)
    z_final = z.detach().clone()
    err = torch.empty(0)  # each row's loss at the previous iteration (pruning reads it)
    deadline = time.monotonic() + seconds if seconds is not None else math.inf
    try:
        for t in range(iters):
            if t == prune_at:
                # Keep each image's best restart so far; the others stop here with their current loss.
                pruned_final[rows] = err.detach()
                z_final[rows] = z.detach()
                keep = err.detach().view(n, s).argmin(1) + torch.arange(n, device=device) * s  # (N,)
                z, opt = _select_rows(z, opt, keep, optimizer, lr)
                target = target[keep]
                visible = None if visible is None or visible.shape[0] == 1 else visible[keep]
                rows = rows[keep]
            err = masked_mse(G(z), target, visible)  # (rows,)
            total = err + prior * (z**2).mean(1) if prior else err
            opt.zero_grad(set_to_none=True)
            total.sum().backward()
            opt.step()
            losses[rows, t] = err.detach()
            if time.monotonic() > deadline:
                break
        with torch.no_grad():
            final = pruned_final.clone()
            final[rows] = masked_mse(G(z), target, visible)
            z_final[rows] = z.detach()
    finally:
        for p, f in zip(G.parameters(), flags):
            p.requires_grad_(f)
        G.train(was_training)
    z = z_final
    final = final.view(n, s)
    best = final.argmin(1)  # (N,)
    z_all = z.detach().view(n, s, z_dim)
    z_best = z_all[torch.arange(n, device=device), best]
    with torch.no_grad():
        G.eval()
        recon = G(z_best)
        G.train(was_training)
    return InversionResult(z_best, recon, best, final, losses.view(n, s, iters), z_all, z_init)


def _optimizer(kind: str, z: Tensor, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam([z], lr=lr) if kind == "adam" else torch.optim.SGD([z], lr=lr)


def _select_rows(z: Tensor, opt: torch.optim.Optimizer, keep: Tensor, kind: str, lr: float):
    """A new latent holding rows ``keep`` of ``z``, with the optimiser state of those rows."""
    new = z.detach()[keep].clone().requires_grad_(True)
    new_opt = _optimizer(kind, new, lr)
    old_state = opt.state.get(z, {})
    if old_state:
        new_opt.state[new] = {k: (v[keep].clone() if torch.is_tensor(v) and v.dim() > 0 else v)
                              for k, v in old_state.items()}
    return new, new_opt


def _latent_size(G: nn.Module) -> int:
    conditional = next((m for m in G.modules() if isinstance(m, ConditionalG)), None)
    if conditional is not None:  # its first layer also reads the class embedding
        return conditional.z_dim
    first = next(m for m in G.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d, nn.Conv2d)))
    return first.in_features if isinstance(first, nn.Linear) else first.in_channels
