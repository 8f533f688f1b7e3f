"""A task's training data and the orders it is read in: each epoch's order (a function of seed and
epoch alone, so that resume rebuilds it), batches by index as this process's share, fresh random
batches for look-ahead D steps, and orders in runs of one class (D's packs of one class)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..data.registry import to_unit_range
from .distributed import SINGLE, World

EPOCH_SEED_STRIDE = 1_000_003  # a prime: the (seed, epoch) pairs of any run give distinct generator seeds


def _epoch_rng(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * EPOCH_SEED_STRIDE + epoch)


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The data order of one epoch: a function of seed and epoch only, so resume can rebuild it."""
    return torch.randperm(n, generator=_epoch_rng(seed, epoch))


class ClassRuns:
    """Data orders in runs of ``run`` items of one class, so that each of D's packs holds one class
    (--pack-by-class): D then sees how varied a class's samples are, which a pack mixing classes hides."""

    def __init__(self, labels: Tensor, run: int):
        labels = labels.cpu()
        self.labels, self.run = labels, run
        self.sorted = torch.argsort(labels, stable=True)  # items grouped by class
        self.counts = torch.bincount(labels)
        self.starts = torch.cumsum(self.counts, 0) - self.counts

    def epoch_order(self, seed: int, epoch: int) -> Tensor:
        """One epoch's order, a function of seed and epoch only: each class's items shuffled and cut into
        runs, a class's last run filled up with the first of its items again, and the runs shuffled. It
        holds every item at least once and is a little longer than the data."""
        g = _epoch_rng(seed, epoch)
        perm = torch.randperm(len(self.labels), generator=g)
        grouped = perm[torch.argsort(self.labels[perm], stable=True)]
        blocks = [b for b in torch.split(grouped, self.counts.tolist()) if len(b)]
        runs = torch.cat([torch.cat([b, b[torch.arange((-len(b)) % self.run) % len(b)]]) for b in blocks])
        runs = runs.view(-1, self.run)
        return runs[torch.randperm(len(runs), generator=g)].flatten()

    def draw(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` items drawn at random in runs of one class: each run's class is that of an item drawn
        uniformly (so classes come as often as they occur), its items drawn from that class."""
        anchors = torch.randint(len(self.labels), (n // self.run,), generator=generator)
        classes = self.labels[anchors].repeat_interleave(self.run)
        within = (torch.rand(n, generator=generator, dtype=torch.float64) * self.counts[classes]).long()
        return self.sorted[self.starts[classes] + within]


class Batches:
    """Training items ``x`` (N, ...) on the device, images as uint8 pixels where they are, and their classes
    ``y`` (N,) where the task reads them."""

    def __init__(self, x: Tensor, y: Optional[Tensor] = None, *, batch_size: int, seed: int,
                 draw_rng: torch.Generator, world: World = SINGLE, class_runs: Optional[ClassRuns] = None):
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.draw_rng = draw_rng  # saved in checkpoints, so look-ahead draws continue exactly on resume
        self.world, self.class_runs = world, class_runs

    def __len__(self) -> int:
        return len(self.x)

    def epoch_order(self, epoch: int) -> Tensor:
        """(N',) the item indices of one epoch, on the device; under ``class_runs`` in runs of one class."""
        order = (self.class_runs.epoch_order(self.seed, epoch) if self.class_runs else
                 epoch_order(len(self.x), self.seed, epoch))
        return order.to(self.x.device)

    def take(self, index: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """The global batch ``index`` names: this process's share of its items (images held as uint8 pixels
        become floats in [-1, 1] here, batch by batch) and their classes."""
        x = self.world.shard(self.x[index])
        y = None if self.y is None else self.world.shard(self.y[index])
        return (to_unit_range(x) if x.dtype == torch.uint8 else x), y

    def draw(self) -> tuple[Tensor, Optional[Tensor]]:
        """A fresh random global batch (this process's share), for look-ahead D steps."""
        index = (self.class_runs.draw(self.batch_size, self.draw_rng) if self.class_runs else
                 torch.randint(len(self.x), (self.batch_size,), generator=self.draw_rng))
        return self.take(index.to(self.x.device))
