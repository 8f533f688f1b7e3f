"""Class-conditional wrappers for any registered image G and D.

- ``ConditionalG``: G(z, y) = G'([z, embed(y)]), the registered G built for a latent input
  ``embed_dim`` wider (the input-concatenation of conditional GANs, Mirza and Osindero 2014); with
  ``batchnorm``, every BatchNorm of G' also takes its gain and bias from embed(y) (``ClassBatchNorm``).
- ``ProjectionD``: D(x, y) = D'(x) + <embed(y), phi(x)>, phi(x) being what D's last linear layer
  reads (the projection discriminator, Miyato and Koyama 2018). Under PacGAN packing D judges m
  samples at once; their class embeddings are summed.
- Both carry ``strength``, the weight of the class in their output (1: fully conditional); transitional
  conditioning (``set_class_strength``) raises it from 0 during training.
- ``WithClasses``: a conditional G seen as a plain G z -> x, with the classes fixed, or cycled
  over the batch (0, 1, ..., C-1, 0, 1, ...), or in proportion to a prior over the classes (a
  self-conditioned G's cluster sizes): what sampling, evaluation and inversion use.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ..errors import GanforgeError
from .registry import build_model


def embed_dim(classes: int) -> int:
    """Width of G's class embedding: a one-hot's width for few classes, at most 32."""
    return min(classes, 32)


class ClassBatchNorm(nn.Module):
    """BatchNorm whose gain and bias also depend on the class (conditional BatchNorm, de Vries et al. 2017,
    the G of Miyato and Koyama): bn(x) * (1 + W_g e) + W_b e, e being the class embedding ConditionalG
    hands its layers before each pass. W_g and W_b start at 0, so the layer starts as the stock one."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, width: int):
        super().__init__()
        self.bn = bn
        self.gain = nn.Linear(width, bn.num_features, bias=False)
        self.shift = nn.Linear(width, bn.num_features, bias=False)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.shift.weight)
        self.e: Optional[Tensor] = None  # (N, width), set by ConditionalG for one pass

    def forward(self, x: Tensor) -> Tensor:
        over = (slice(None), slice(None)) + (None,) * (x.dim() - 2)  # (N, C, 1, 1) for maps, (N, C) for vectors
        gain, shift = self.gain(self.e).to(x.dtype)[over], self.shift(self.e).to(x.dtype)[over]
        return self.bn(x) * (1 + gain) + shift


class ConditionalG(nn.Module):
    def __init__(self, g: nn.Module, classes: int, z_dim: int, batchnorm: bool = False):
        super().__init__()
        self.g, self.classes, self.z_dim, self.batchnorm = g, classes, z_dim, batchnorm
        self.embed = nn.Embedding(classes, embed_dim(classes))
        # not saved: training sets it every iteration, and a finished G is fully conditional
        self.register_buffer("strength", torch.ones(()), persistent=False)
        if batchnorm:
            _class_batchnorm(g, embed_dim(classes))

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        return self.from_embedding(z, self.embed(y))

    def from_embedding(self, z: Tensor, e: Tensor) -> Tensor:
        """G at class embeddings ``e`` (N, embed_dim): a blend of two classes' rows interpolates between them."""
        e = (self.strength * e).to(z.dtype)
        layers = [m for m in self.g.modules() if isinstance(m, ClassBatchNorm)]
        for m in layers:
            m.e = e
        try:
            return self.g(torch.cat([z, e], 1))
        finally:
            for m in layers:
                m.e = None  # no pass may read another's classes


def _class_batchnorm(module: nn.Module, width: int) -> None:
    """Swap every BatchNorm of ``module`` for a ClassBatchNorm around it, in place."""
    swapped = 0
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, ClassBatchNorm(child, width))
                swapped += 1
    if not swapped:
        raise GanforgeError("--class-batchnorm needs a generator with BatchNorm layers; this one has none")


def conditional_generator(name: str, *, shape: tuple[int, ...], z_dim: int, classes: int,
                          batchnorm: bool = False) -> ConditionalG:
    g = build_model(name, role="G", shape=shape, z_dim=z_dim + embed_dim(classes))
    return ConditionalG(g, classes, z_dim, batchnorm)


class ProjectionD(nn.Module):
    """D(x, y) = D(x) + <e(y), phi(x)> (Miyato and Koyama 2018), phi(x) being the input of D's last weight
    layer: a linear layer to one logit, or, for a convolution to one map of 1x1 (DCGAN's), its input map
    summed over positions (the paper's global sum pooling): one weight per channel and class, where the
    whole map flattened gave D 16 per channel and class, enough to learn each class's few pictures
    (measured on the emoji set: every category collapsed to one picture)."""

    def __init__(self, d: nn.Module, classes: int):
        super().__init__()
        layers = [m for m in d.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        last = layers[-1] if layers else None
        if isinstance(last, nn.Linear) and last.out_features == 1:
            features = last.in_features
        elif isinstance(last, nn.Conv2d) and last.out_channels == 1:
            features = last.in_channels
        else:
            raise GanforgeError("--conditional needs a discriminator whose last weight layer is a linear layer to "
                                "one logit, or a convolution to one 1x1 map")
        self.d, self.classes = d, classes
        self.embed = nn.Embedding(classes, features)
        nn.init.normal_(self.embed.weight, std=0.02)  # start near the unconditional D
        self.register_buffer("strength", torch.ones(()), persistent=False)
        self._phi: Optional[Tensor] = None
        last.register_forward_hook(self._keep_features)

    def _keep_features(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        if output.dim() == 4 and output.shape[-2:] != (1, 1):
            raise GanforgeError(f"--conditional: D's last convolution makes a {tuple(output.shape[-2:])} map, "
                                "not one logit per sample")
        x = inputs[0]
        self._phi = x.sum((2, 3)) if x.dim() == 4 else x.flatten(1)  # (B, C): pooled over positions

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        logits = self.d(x)  # (B,) or (B/m,) under packing
        phi, self._phi = self._phi, None
        e = self.embed(y).view(len(logits), -1, phi.shape[1]).sum(1)
        return logits + self.strength * (e.to(phi.dtype) * phi).sum(1)


def class_strength(iteration: int, ramp: int) -> float:
    """The weight of the class at ``iteration`` under transitional conditioning (Shahbazi et al. 2023):
    0 for the first ``ramp`` iterations, then rising linearly to 1 over the next ``ramp``."""
    return 1.0 if ramp == 0 else min(max(iteration / ramp - 1.0, 0.0), 1.0)


def set_class_strength(value: float, *modules: nn.Module) -> None:
    """Set ``strength`` of every conditional part of ``modules`` (in place: no host sync, no new tensor)."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, (ConditionalG, ProjectionD)):
                m.strength.fill_(value)


def class_shares(labels: Tensor, classes: int) -> Tensor:
    """(classes,) float: each class's share of ``labels`` (N,), the prior G draws a class from."""
    return (torch.bincount(labels.cpu(), minlength=classes).double() / len(labels)).float()


GOLDEN = (5 ** 0.5 - 1) / 2


def classes_in_turn(n: int, classes: int, prior: Optional[Tensor] = None, device=None) -> Tensor:
    """(n,) classes for n samples in a row: cycled, or, given a prior, sample i gets the class whose
    share of the prior's cumulative sum holds frac(1/2 + i * golden ratio) (a low-discrepancy sequence:
    every prefix of the row has each class about as often as the prior says)."""
    i = torch.arange(n, device=device)
    if prior is None:
        return i % classes
    u = torch.frac(0.5 + i.double() * GOLDEN)
    edges = torch.cumsum(prior.double().to(device), 0)
    return torch.searchsorted(edges, u, right=True).clamp_(max=classes - 1)


class WithClasses(nn.Module):
    """z -> G(z, y): ``y`` all ``fixed`` when given, else ``classes_in_turn`` over the batch."""

    def __init__(self, g: ConditionalG, fixed: Optional[int] = None, prior: Optional[Tensor] = None):
        super().__init__()
        if fixed is not None and not 0 <= fixed < g.classes:
            raise GanforgeError(f"--class {fixed} is not one of the generator's classes 0..{g.classes - 1}")
        self.g, self.fixed, self.prior = g, fixed, prior

    def forward(self, z: Tensor) -> Tensor:
        y = (torch.full((len(z),), self.fixed, device=z.device) if self.fixed is not None
             else classes_in_turn(len(z), self.g.classes, self.prior, z.device))
        return self.g(z, y)
