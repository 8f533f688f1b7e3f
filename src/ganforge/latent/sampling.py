"""Drawing latents and images, with BigGAN's truncation trick."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from ..errors import GanforgeError


def truncated_normal(n: int, z_dim: int, psi: Optional[float] = None, *,
                     generator: Optional[torch.Generator] = None) -> Tensor:
    """(n, z_dim) from N(0, I) truncated to [-psi, psi]: the distribution BigGAN's trick gives by
    redrawing each component with |z| > psi, drawn here by inverse CDF, so that it takes the same
    time for any psi (redrawing would take practically forever for a tiny psi)."""
    if psi is None or math.isinf(psi):
        return torch.randn(n, z_dim, generator=generator)
    if not psi > 0:
        raise GanforgeError(f"--truncation must be > 0, got {psi}")
    return torch.nn.init.trunc_normal_(torch.empty(n, z_dim), 0.0, 1.0, -psi, psi, generator=generator)


@torch.no_grad()
def sample(G: nn.Module, n: int, z_dim: int, *, psi: Optional[float] = None, seed: int = 0,
           device: str | torch.device = "cpu") -> tuple[Tensor, Tensor]:
    """(images (n, C, H, W), latents (n, z)) from a generator in eval mode."""
    z = truncated_normal(n, z_dim, psi, generator=torch.Generator().manual_seed(seed)).to(device)
    G.eval()
    return G(z), z
