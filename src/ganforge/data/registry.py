"""Datasets held in memory as tensors, selected by name.

Every loader returns a :class:`Dataset`: images as float32 tensors (N, C, H, W) scaled to
[-1, 1] (or points (N, 2) for the 2-D toys), integer labels where the data has them, and one
line saying where the data came from. Training draws batches by index from these tensors:
there is no per-sample PIL or transform work in the loop.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import Tensor

from ..errors import GanforgeError
from ..registry import Registry


@dataclass
class Dataset:
    name: str
    train: Tensor  # (N, C, H, W) in [-1, 1], or (N, 2) for toys
    test: Tensor
    source: str  # one line: where the data came from
    train_labels: Optional[Tensor] = None  # (N,) int64
    test_labels: Optional[Tensor] = None
    extras: dict = field(default_factory=dict)  # e.g. mode centres of the toys, class names

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    def describe(self) -> str:
        return f"{self.name}: {self.source}; {len(self.train):,} train / {len(self.test):,} test"

    def test_picks(self, n: int, seed: int = 0) -> Tensor:
        """(min(n, N),) indices of test items for a figure: class-balanced where the data has labels (each
        class's items in a seeded order, the classes taken in turn), else a seeded random choice."""
        return balanced_order(self.test_labels, len(self.test), seed)[:n]

    def limit(self, n: Optional[int]) -> "Dataset":
        """The first ``n`` training items (a fixed, shuffled-at-load slice), for quick runs."""
        if n is None or n >= len(self.train):
            return self
        labels = None if self.train_labels is None else self.train_labels[:n]
        return Dataset(self.name, self.train[:n], self.test, f"{self.source} (first {n:,} train items)",
                       labels, self.test_labels, self.extras)


@dataclass(frozen=True)
class DataOptions:
    root: Optional[Path] = None  # --data-root
    download: bool = False  # --download
    image_size: int = 64  # side of colour and folder images
    seed: int = 0  # fixes random splits and synthetic data
    images: Optional[Path] = None  # --images: a folder of the user's images
    background: str = "white"  # what transparent pixels are composited on
    fit: str = "crop"  # crop or pad to a square
    channels: Optional[int] = None  # 1 or 3; None: from the data


Loader = Callable[[DataOptions], Dataset]
DATASETS: Registry[Loader] = Registry("dataset")


def register_dataset(name: str, *, family: str, about: str, get: str, classes: Optional[int] = 0, size: int = 64):
    """``family``: the model family that fits its items, or "by-size" (28x28: mnist, else celeb); ``get``:
    one line on how to obtain the full data, shown by ``ganforge data``; ``classes``: how many label values
    its items carry (0: unlabelled; None: as many as the data has), what --conditional trains on; ``size``:
    by-size data's side when --image-size is not given."""
    return DATASETS.register(name, family=family, about=about, get=get, classes=classes, size=size)


def dataset_classes(name: str) -> Optional[int]:
    return DATASETS.entry(name).meta["classes"]


def dataset_family(name: str, image_size: int) -> str:
    """The model family for dataset ``name`` at ``image_size`` (which only by-size datasets read)."""
    family = DATASETS.entry(name).meta["family"]
    return ("mnist" if image_size == 28 else "celeb") if family == "by-size" else family


def load_dataset(name: str, options: DataOptions = DataOptions()) -> Dataset:
    return DATASETS[name](options)


def to_unit_range(images_uint8: Tensor) -> Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images_uint8.float().div_(127.5).sub_(1.0)


def as_pixels(x: Tensor, chunk: int = 4096) -> Optional[Tensor]:
    """Images ``x`` that ``to_unit_range`` made, as the uint8 pixels they came from (a quarter of the
    memory; ``to_unit_range`` of them gives ``x`` back bit for bit); None for anything else."""
    if x.dtype != torch.float32 or x.dim() != 4:
        return None
    out = torch.empty(x.shape, dtype=torch.uint8)
    for start in range(0, len(x), chunk):  # bounded scratch memory for large sets
        part = x[start:start + chunk]
        pixels = part.add(1).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)
        if not torch.equal(to_unit_range(pixels), part):
            return None
        out[start:start + chunk] = pixels
    return out


def missing(what: str, how: str) -> GanforgeError:
    return GanforgeError(f"{what} not found; {how}")


def cache_dir() -> Path:
    """Where unpacked or preprocessed data is kept ($GANFORGE_CACHE, else ~/.cache/ganforge)."""
    return Path(os.environ.get("GANFORGE_CACHE", Path.home() / ".cache" / "ganforge"))


def seeded_permutation(n: int, seed: int) -> Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def balanced_order(labels: Optional[Tensor], n: int, seed: int) -> Tensor:
    """(n,) an order of n items in which every prefix holds the classes as evenly as their sizes allow:
    a seeded shuffle, then each item ranked by how many of its class come before it (first of each class,
    then second of each, ...). Without labels, the seeded shuffle alone."""
    order = seeded_permutation(n, seed)
    if labels is None:
        return order
    shuffled = labels.cpu()[order]
    rank = torch.zeros(n, dtype=torch.long)  # the position of each shuffled item within its class
    for c in shuffled.unique():
        members = (shuffled == c).nonzero().flatten()
        rank[members] = torch.arange(len(members))
    return order[torch.argsort(rank * n + torch.arange(n), stable=True)]
