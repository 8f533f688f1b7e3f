"""A task's training data and the orders it is read in: each epoch's order (a function of seed and
epoch alone, so that resume rebuilds it), batches by index as this process's share, fresh random
batches for look-ahead D steps, and orders in runs of one class (D's packs of one class).

Images are held as uint8 pixels (one byte per pixel and channel, a quarter of float32's memory) and
become floats batch by batch. They sit on the device when they fit its budget (``--data-memory``);
otherwise they stay in host memory and each batch is gathered there (into pinned memory for a GPU)
and copied over, the next one prefetched on a worker thread while the step runs. Both give the same batches,
so the same weights bit for bit."""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional

import torch
from torch import Tensor

from ..console import say
from ..data.registry import as_pixels, to_unit_range
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


GIB = 2 ** 30


def data_budget(data_memory: Optional[float], device: torch.device) -> float:
    """Bytes of device memory the training items may take: ``--data-memory`` GB when given, else half of
    a GPU's free memory; on the CPU, where host and device are one, all of it."""
    if data_memory is not None:
        return data_memory * GIB
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0] / 2
    return float("inf")


def hold(x: Tensor, device: torch.device, budget: float,
         memory_format: torch.memory_format = torch.contiguous_format) -> tuple[Tensor, bool]:
    """The training items where ``Batches`` reads them, and whether they stream: images as uint8 pixels, on
    ``device`` when they fit ``budget`` bytes, else left in host memory for ``Batches`` to stream."""
    pixels = as_pixels(x)
    x = (x if pixels is None else pixels).contiguous(memory_format=memory_format)
    size = x.numel() * x.element_size()
    if size <= budget:
        return x.to(device), False
    say(f"the training images take {size / GIB:.2f} GB, more than the {budget / GIB:.2f} GB they may take on "
        f"{device}: they stay in host memory and stream to it batch by batch")
    return x, True


class Batches:
    """Training items ``x`` (N, ...), images as uint8 pixels where they are, and their classes ``y`` (N,) where
    the task reads them. ``x`` lives on ``device`` or, ``streamed`` (it did not fit there, ``hold``), in host
    memory, from which each batch is gathered on a worker thread and copied to ``device``, the loop naming the
    next batch ahead (``prefetch``)."""

    def __init__(self, x: Tensor, y: Optional[Tensor] = None, *, batch_size: int, seed: int,
                 draw_rng: torch.Generator, world: World = SINGLE, class_runs: Optional[ClassRuns] = None,
                 device: Optional[torch.device] = None, streamed: bool = False):
        self.x, self.batch_size, self.seed = x, batch_size, seed
        self.device = x.device if device is None else torch.device(device)
        self.y = None if y is None else y.to(self.device)
        self.draw_rng = draw_rng  # saved in checkpoints, so look-ahead draws continue exactly on resume
        self.world, self.class_runs = world, class_runs
        self.streamed = streamed
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="ganforge-batches") if self.streamed else None
        self._coming: deque[tuple[Tensor, Future]] = deque()

    def __len__(self) -> int:
        return len(self.x)

    def epoch_order(self, epoch: int) -> Tensor:
        """(N',) the item indices of one epoch, where ``x`` is; under ``class_runs`` in runs of one class."""
        order = (self.class_runs.epoch_order(self.seed, epoch) if self.class_runs else
                 epoch_order(len(self.x), self.seed, epoch))
        return order.to(self.x.device)

    def prefetch(self, index: Tensor) -> None:
        """Start gathering the batch ``index`` names, which ``take`` asks for next (streamed data only)."""
        if self._worker is not None:
            self._coming.append((index, self._worker.submit(self._items, index)))

    def _items(self, index: Tensor) -> Tensor:
        """This process's share of the items ``index`` names, on the device."""
        rows = self.x[self.world.shard(index)]
        if not self.streamed:
            return rows
        return (rows.pin_memory() if self.device.type == "cuda" else rows).to(self.device, non_blocking=True)

    def take(self, index: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """The global batch ``index`` names: this process's share of its items (images held as uint8 pixels
        become floats in [-1, 1] here, batch by batch) and their classes."""
        x = None
        while self._coming and x is None:  # a prefetched batch, if it is this one
            coming, future = self._coming.popleft()
            if coming is index or torch.equal(coming, index):
                x = future.result()
        if x is None:
            x = self._items(index)
        y = None if self.y is None else self.world.shard(self.y[index.to(self.device)])
        return (to_unit_range(x) if x.dtype == torch.uint8 else x), y

    def draw(self) -> tuple[Tensor, Optional[Tensor]]:
        """A fresh random global batch (this process's share), for look-ahead D steps."""
        index = (self.class_runs.draw(self.batch_size, self.draw_rng) if self.class_runs else
                 torch.randint(len(self.x), (self.batch_size,), generator=self.draw_rng))
        return self.take(index.to(self.x.device))

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._coming.clear()
