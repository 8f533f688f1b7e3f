"""The model registry: every generator and discriminator, selected by name.

A builder takes ``z_dim`` (generators only) and ``shape``: the data's shape without the batch
dimension, (C, H, W) for images or (2,) for the 2-D toys. Generators end in tanh (images in
[-1, 1]) or a linear layer (toys); discriminators return one logit per sample, shape (B,).
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from ..errors import GanforgeError
from ..registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

# Which data shapes a model family accepts, for a clear error before anything is built.
FAMILY_SHAPES = {
    "mnist": "28x28 images (mnist, fashion, stacked-mnist)",
    "celeb": "square images with a power-of-two side >= 16 (celeb)",
    "toy": "2-D points (ring, grid)",
}


def register_model(name: str, *, role: str, family: str, default_z: int | None = None, about: str = ""):
    assert role in ("G", "D", "AE") and family in FAMILY_SHAPES
    return MODELS.register(name, role=role, family=family, default_z=default_z, about=about)


ROLE_NAMES = {"G": "generator", "D": "discriminator", "AE": "autoencoder"}


def require_model(name: str, *, role: str, family: str | None = None, dataset: str | None = None,
                  flag: str = "model") -> str:
    """The registered spelling of a model that has ``role`` (and ``family``, when given); otherwise a
    GanforgeError that names the models that would fit. ``flag`` and ``dataset`` word the message."""
    entry = MODELS.entry(name)
    if entry.meta["role"] != role:
        kind = ROLE_NAMES[role]
        valid = ", ".join(e.name for e in MODELS if e.meta["role"] == role)
        raise GanforgeError(f"{flag} {entry.name} is not a{'n' if kind[0] in 'aeiou' else ''} {kind}; "
                            f"{kind}s: {valid}")
    if family is not None and entry.meta["family"] != family:
        fitting = ", ".join(e.name for e in MODELS if e.meta["family"] == family and e.meta["role"] == role)
        raise GanforgeError(f"model {entry.name} is for {entry.meta['family']} data, not {dataset or family}; "
                            f"use one of {fitting}")
    return entry.name


def family_of_shape(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return "toy"
    _, h, w = shape
    if (h, w) == (28, 28):
        return "mnist"
    if h == w and h >= 16 and h & (h - 1) == 0:
        return "celeb"
    return "?"


def build_model(name: str, *, role: str, shape: tuple[int, ...], z_dim: int | None = None) -> nn.Module:
    """Build a registered model, checking its role and that it fits the data shape."""
    entry = MODELS.entry(require_model(name, role=role))
    family = entry.meta["family"]
    if family_of_shape(tuple(shape)) != family:
        dims = "x".join(map(str, shape))
        raise GanforgeError(f"model {entry.name} takes {FAMILY_SHAPES[family]}, but the data is {dims}")
    if role in ("G", "AE"):
        return entry.obj(z_dim=z_dim, shape=tuple(shape))
    return entry.obj(shape=tuple(shape))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def default_shape(family: str) -> tuple[int, ...]:
    return {"mnist": (1, 28, 28), "celeb": (3, 64, 64), "toy": (2,)}[family]
