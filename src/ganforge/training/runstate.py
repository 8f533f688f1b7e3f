"""What every training loop shares: the run folder, the position in training, devices, data order,
and saving or restoring the complete training state (models, optimisers, RNG states, position)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn

from ..checkpoint import (load_checkpoint, load_weights, optimizer_tensors, prefixed, restore_optimizer,
                          save_checkpoint, unprefixed)
from ..errors import GanforgeError


@dataclass
class RunOptions:
    """Options every training command shares (its config dataclass extends this one)."""

    seed: int = 0
    out: Optional[str] = None
    device: str = "auto"
    data_root: Optional[str] = None
    download: bool = False
    image_size: int = 64
    limit: Optional[int] = None  # use only the first N training items
    log_every: int = 50  # iterations between host syncs (metrics are still per iteration)
    quiet: bool = False


@dataclass
class Position:
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    iteration: int = 0  # batches done in all


class Run:
    """Paths of a run folder."""

    def __init__(self, root: Path):
        self.root = root
        self.config = root / "config.json"
        self.metrics = root / "metrics.csv"
        self.loss_plot = root / "loss.png"
        self.samples = root / "samples"
        self.checkpoints = root / "checkpoints"
        self.last = self.checkpoints / "last.safetensors"
        self.generator = root / "generator.safetensors"
        self.summary = root / "summary.json"

    def prepare(self) -> None:
        made: list[Path] = []
        try:
            for d in (self.root, self.samples, self.checkpoints):
                if not d.exists():
                    d.mkdir(parents=True)
                    made.append(d)
            probe = self.root / ".write-test"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            for d in reversed(made):  # leave no empty run folder behind to block the next try
                try:
                    d.rmdir()
                except OSError:
                    pass
            raise GanforgeError(f"cannot write to output folder {self.root}: {exc.strerror or exc}") from None


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanforgeError(f"--device {name} asked for, but CUDA is not available here")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GanforgeError("--device mps asked for, but MPS is not available here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise GanforgeError(f"unknown device {name!r}; valid: auto, cpu, cuda, cuda:N, mps") from None


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The data order of one epoch: a function of seed and epoch only, so resume can rebuild it."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


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


def say(msg: str) -> None:
    """A progress line on stderr, from rank 0 only when torchrun runs several processes."""
    from .distributed import is_main_process

    if is_main_process():
        print(msg, file=sys.stderr, flush=True)


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


def open_run(out: str, resume: bool) -> Run:
    """The run folder for a fresh run (which must not hold files yet) or for a resumed one."""
    run = Run(Path(out))
    if not resume and run.root.exists() and any(run.root.iterdir()):
        raise GanforgeError(f"output folder {run.root} already holds files; pass --resume {run.root} "
                            "to continue it, or choose another --out")
    if resume and not run.last.is_file():
        raise GanforgeError(f"{run.root} has no checkpoint to resume from ({run.last} is missing)")
    if resume:  # a run killed while writing leaves its temporary file; the finished files are intact
        for folder in (run.root, run.checkpoints, run.samples):
            for stale in folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
    return run


def start_run(cfg, resume: bool):
    """Everything a training loop needs before it builds models: the run folder (not created yet),
    the device, seeded RNGs (global for z and dropout; ``data_rng`` for batch draws) and the data."""
    run = open_run(cfg.out, resume)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    data_rng = torch.Generator().manual_seed(cfg.seed + 1)
    return run, device, data_rng, load_training_data(cfg)


def load_training_data(cfg):
    """The dataset a training config names (fields dataset, data_root, download, image_size, seed, limit)."""
    from ..data import DataOptions, load_dataset

    data = load_dataset(cfg.dataset, DataOptions(root=Path(cfg.data_root) if cfg.data_root else None,
                                                 download=cfg.download, image_size=cfg.image_size,
                                                 seed=cfg.seed)).limit(cfg.limit)
    say(f"data: {data.describe()}")
    if len(data.train) < cfg.batch_size:
        raise GanforgeError(f"-b {cfg.batch_size} is larger than the {len(data.train)} training items")
    return data


def load_config(cls, root: Path):
    """A run folder's config.json as an instance of the config dataclass ``cls``."""
    import dataclasses
    import json

    path = root / "config.json"
    if not path.is_file():
        raise GanforgeError(f"{root} is not a ganforge run folder (no config.json)")
    try:
        saved = json.loads(path.read_text())
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})
    except (ValueError, TypeError) as exc:
        raise GanforgeError(f"{path} is not a readable run configuration ({exc})") from None
