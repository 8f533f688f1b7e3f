"""The complete training state (models, optimisers, RNG states, position) saved to and restored
from one checkpoint, and the data order that resume rebuilds from seed and epoch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..checkpoint import (load_checkpoint, load_weights, optimizer_tensors, prefixed, restore_optimizer,
                          save_checkpoint, unprefixed)
from ..errors import GanforgeError


@dataclass
class Position:
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    iteration: int = 0  # batches done in all


def _epoch_rng(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


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


def _rng_tensors(data_rng: torch.Generator, device: torch.device) -> dict[str, Tensor]:
    states = {"rng.torch": torch.get_rng_state(), "rng.data": data_rng.get_state()}
    if device.type == "cuda":
        states["rng.cuda"] = torch.cuda.get_rng_state(device)
    return states


def _restore_rng(tensors: dict[str, Tensor], data_rng: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    data_rng.set_state(tensors["rng.data"])
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)


def save_state(path: Path, *, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               data_rng: torch.Generator, device: torch.device, pos: Position, meta: dict[str, Any]) -> None:
    tensors: dict[str, Tensor] = {}
    groups = {}
    for name, module in modules.items():
        tensors.update(prefixed(name, module.state_dict()))
    for name, opt in optimizers.items():
        state, groups[name] = optimizer_tensors(opt)
        tensors.update(prefixed(name, state))
    tensors.update(_rng_tensors(data_rng, device))
    save_checkpoint(path, tensors, {"kind": "training", "position": vars(pos), "optimizer_groups": groups, **meta})


def restore_state(path: Path, *, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                  data_rng: torch.Generator, device: torch.device) -> tuple[Position, dict[str, Any]]:
    """Load what ``save_state`` wrote into the given objects; returns the position and metadata."""
    tensors, meta = load_checkpoint(path)
    if meta.get("kind") != "training":
        raise GanforgeError(f"{path} is not a training checkpoint")
    try:
        for name, module in modules.items():
            load_weights(module, unprefixed(name, tensors), f"{path} ({name})")
        for name, opt in optimizers.items():
            restore_optimizer(opt, unprefixed(name, tensors), meta["optimizer_groups"][name])
        _restore_rng(tensors, data_rng, device)
        return Position(**meta["position"]), meta
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise GanforgeError(f"{path} is a damaged or foreign training checkpoint ({exc})") from None
