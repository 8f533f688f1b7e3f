"""The 2-D toys of the unrolled-GAN literature (Metz et al. 2017)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .registry import DataOptions, Dataset, register_dataset

N_TRAIN, N_TEST = 50_000, 10_000


def ring_centres(n: int = 8, radius: float = 2.0) -> Tensor:
    angles = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    return torch.stack([radius * angles.cos(), radius * angles.sin()], 1).float()  # (n, 2)


def grid_centres(side: int = 5, spacing: float = 2.0) -> Tensor:
    coords = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing  # -4 .. 4
    return torch.cartesian_prod(coords, coords)  # (side*side, 2)


def mixture(centres: Tensor, std: float, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    modes = torch.randint(len(centres), (n,), generator=generator)
    points = centres[modes] + std * torch.randn(n, 2, generator=generator)
    return points, modes


def _toy(name: str, centres: Tensor, std: float, options: DataOptions) -> Dataset:
    g = torch.Generator().manual_seed(options.seed)
    xtr, ytr = mixture(centres, std, N_TRAIN, g)
    xte, yte = mixture(centres, std, N_TEST, g)
    source = f"{len(centres)} Gaussians, std {std} (synthetic, seed {options.seed})"
    return Dataset(name, xtr, xte, source, ytr, yte, {"centres": centres, "std": std})


@register_dataset("ring", family="toy", about="8 Gaussians on a circle of radius 2, std 0.02", get="synthetic")
def load_ring(options: DataOptions) -> Dataset:
    return _toy("ring", ring_centres(), 0.02, options)


@register_dataset("grid", family="toy", about="25 Gaussians on a 5x5 grid, std 0.05", get="synthetic")
def load_grid(options: DataOptions) -> Dataset:
    return _toy("grid", grid_centres(), 0.05, options)
