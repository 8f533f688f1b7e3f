"""GAN losses as pure functions of discriminator logits.

Each loss is a pair: ``d(real_logits, fake_logits, real_label)`` for the discriminator and
``g(fake_logits)`` for the generator; a paired (relativistic) loss's generator also reads D on
real data, ``g(fake_logits, real_logits)``, element by element. ``real_label`` below 1 is
one-sided label smoothing (the report used 0.9 on CelebA): only the real targets move, fake
targets stay at 0.
The softplus forms are the numerically stable ``-log sigmoid``: softplus(-l) = -log σ(l),
softplus(l) = -log(1 - σ(l)).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch.nn.functional as F
from torch import Tensor

from .registry import Registry


class GanLoss(NamedTuple):
    d: Callable[[Tensor, Tensor, float], Tensor]
    g: Callable[..., Tensor]
    paired: bool = False  # g also takes D's logits on a real batch: g(fake_logits, real_logits)


LOSSES: Registry[GanLoss] = Registry("loss")


def _bce(logits: Tensor, target: float) -> Tensor:
    # Binary cross-entropy against a constant target, from logits.
    return (target * F.softplus(-logits) + (1.0 - target) * F.softplus(logits)).mean()


def _d_cross_entropy(real: Tensor, fake: Tensor, real_label: float = 1.0) -> Tensor:
    return _bce(real, real_label) + _bce(fake, 0.0)


def _g_minimax(fake: Tensor) -> Tensor:
    # G minimises log(1 - D(G(z))) = -softplus(l): saturates when D rejects fakes confidently.
    return -F.softplus(fake).mean()


def _g_non_saturated(fake: Tensor) -> Tensor:
    # G maximises log D(G(z)), i.e. minimises -log σ(l) = softplus(-l).
    return F.softplus(-fake).mean()


def _d_least_squares(real: Tensor, fake: Tensor, real_label: float = 1.0) -> Tensor:
    # LSGAN (Mao et al. 2017) with targets a=0 (fake), b=real_label (real), on raw outputs.
    return 0.5 * ((real - real_label) ** 2).mean() + 0.5 * (fake**2).mean()


def _g_least_squares(fake: Tensor) -> Tensor:
    return 0.5 * ((fake - 1.0) ** 2).mean()


def _d_hinge(real: Tensor, fake: Tensor, real_label: float = 1.0) -> Tensor:
    # real_label scales the real margin so that smoothing still means "less confident".
    return F.relu(real_label - real).mean() + F.relu(1.0 + fake).mean()


def _g_hinge(fake: Tensor) -> Tensor:
    return -fake.mean()


def _d_relativistic(real: Tensor, fake: Tensor, real_label: float = 1.0) -> Tensor:
    # Relativistic pairing (RpGAN; Jolicoeur-Martineau 2018, with R1 and R2 in R3GAN, Huang et al.
    # 2024): D learns that each real sample is more real than its paired fake, -log σ(l_r - l_f).
    # Only differences of logits matter, so there is no target to smooth (config refuses --real-label).
    return F.softplus(fake - real).mean()


def _g_relativistic(fake: Tensor, real: Tensor) -> Tensor:
    # G: each fake more real than its paired real sample, -log σ(l_f - l_r).
    return F.softplus(real - fake).mean()


LOSSES.register("cross_entropy", help="minimax: G minimises log(1 - D(G(z)))")(
    GanLoss(_d_cross_entropy, _g_minimax)
)
LOSSES.register("non_saturated", help="G maximises log D(G(z))")(
    GanLoss(_d_cross_entropy, _g_non_saturated)
)
LOSSES.register("mse", help="least squares (LSGAN)")(GanLoss(_d_least_squares, _g_least_squares))
LOSSES.register("hinge", help="hinge loss (SAGAN/BigGAN)")(GanLoss(_d_hinge, _g_hinge))
LOSSES.register("relativistic", help="relativistic pairing (RpGAN): each fake judged against a real sample")(
    GanLoss(_d_relativistic, _g_relativistic, paired=True)
)


def get_loss(name: str) -> GanLoss:
    return LOSSES[name]

