"""Latent interpolation: decode(a*z1 + (1-a)*z2) for a row of a values, as in the report.

``interpolate`` takes any "image to z" map (GAN inversion, or an autoencoder's encoder) and
any "z to image" map (a generator, or a decoder).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

REPORT_ALPHAS = tuple(i / 8 for i in range(9))  # 0, 0.125, ..., 1: nine images per row


@dataclass
class Interpolation:
    alphas: tuple[float, ...]
    z1: Tensor  # (P, z) latents of the first images (a = 1)
    z2: Tensor  # (P, z) latents of the second images (a = 0)
    rows: Tensor  # (P, A, C, H, W): rows[p, i] = decode(alphas[i]*z1[p] + (1-alphas[i])*z2[p])


def slerp(a: float, z1: Tensor, z2: Tensor) -> Tensor:
    """Spherical interpolation, a = 1 gives z1 and a = 0 gives z2 (as the linear formula)."""
    u1, u2 = z1 / z1.norm(dim=-1, keepdim=True), z2 / z2.norm(dim=-1, keepdim=True)
    omega = torch.acos((u1 * u2).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin(a * omega) / so) * z1 + (torch.sin((1 - a) * omega) / so) * z2


def mix(a: float, z1: Tensor, z2: Tensor, *, spherical: bool = False) -> Tensor:
    if spherical:
        return slerp(a, z1, z2)
    return a * z1 + (1 - a) * z2


@torch.no_grad()
def interpolate_latents(decode: Callable[[Tensor], Tensor], z1: Tensor, z2: Tensor,
                        alphas: Sequence[float] = REPORT_ALPHAS, *, spherical: bool = False) -> Interpolation:
    alphas = tuple(float(a) for a in alphas)
    zs = torch.stack([mix(a, z1, z2, spherical=spherical) for a in alphas], 1)  # (P, A, z)
    p, n_a = zs.shape[:2]
    images = decode(zs.flatten(0, 1))  # (P*A, C, H, W)
    return Interpolation(alphas, z1, z2, images.view(p, n_a, *images.shape[1:]))


def interpolate(decode: Callable[[Tensor], Tensor], encode: Callable[[Tensor], Tensor], first: Tensor,
                second: Tensor, alphas: Sequence[float] = REPORT_ALPHAS, *, spherical: bool = False) -> Interpolation:
    """Encode both batches of images (P, C, H, W) in one call, then interpolate pairwise."""
    z = encode(torch.cat([first, second]))
    z1, z2 = z[: len(first)], z[len(first):]
    return interpolate_latents(decode, z1, z2, alphas, spherical=spherical)


@torch.no_grad()
def walk(decode: Callable[[Tensor], Tensor], stops: Tensor, steps: int, *, spherical: bool = False,
         closed: bool = False) -> Tensor:
    """(T, P, C, H, W): P walks through latent space, decoded. ``stops`` (S, P, z): each walk goes from
    stop to stop in ``steps`` frames a leg (linear or spherical), ending on the last stop, or, ``closed``,
    going on from it back to the first, so that the animation loops without a jump. T is (S - 1) *
    steps + 1, or S * steps when closed."""
    legs = [(stops[i], stops[(i + 1) % len(stops)]) for i in range(len(stops) if closed else len(stops) - 1)]
    zs = [mix(t / steps, b, a, spherical=spherical) for a, b in legs for t in range(steps)]  # from a towards b
    if not closed:
        zs.append(stops[-1])
    zs = torch.stack(zs)  # (T, P, z)
    images = torch.cat([decode(chunk.flatten(0, 1)) for chunk in zs.split(max(1, 512 // zs.shape[1]))])
    return images.view(*zs.shape[:2], *images.shape[1:])
