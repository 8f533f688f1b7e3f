"""The complete training state (models, optimisers, RNG states, position) saved to and restored
from one checkpoint."""
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


# What a resumed run must share with its checkpoint, as the metadata names it, and the option that sets it.
SAME_ON_RESUME = {"dataset": "--dataset", "generator": "-g", "discriminator": "-d", "model": "--model",
                  "loss": "-l", "z_dim": "-z", "classes": "the classes (--conditional)", "shape": "the image shape",
                  "latent_reg": "--latent-reg"}


def restore_state(path: Path, *, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                  data_rng: torch.Generator, device: torch.device,
                  expect: dict[str, Any]) -> tuple[Position, dict[str, Any]]:
    """Load what ``save_state`` wrote into the given objects, once its metadata agrees with ``expect`` (the
    run's own metadata: dataset, models, loss, latent size, classes, image shape); returns the position and
    metadata."""
    tensors, meta = load_checkpoint(path)
    if meta.get("kind") != "training":
        raise GanforgeError(f"{path} is not a training checkpoint")
    differ = [f"{flag} {_shown(expect[key])} here, {_shown(meta.get(key))} in the checkpoint"
              for key, flag in SAME_ON_RESUME.items() if key in expect and _same(meta.get(key)) != _same(expect[key])]
    if differ:
        raise GanforgeError(f"cannot resume from {path}: " + "; ".join(differ)
                            + " (resume with the options the run started with)")
    try:
        for name, module in modules.items():
            load_weights(module, unprefixed(name, tensors), f"{path} ({name})")
        for name, opt in optimizers.items():
            restore_optimizer(opt, unprefixed(name, tensors), meta["optimizer_groups"][name])
        _restore_rng(tensors, data_rng, device)
        return Position(**meta["position"]), meta
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise GanforgeError(f"{path} is a damaged or foreign training checkpoint ({exc})") from None


def _same(value: Any) -> Any:
    """A metadata value as JSON gives it back (tuples as lists; no classes as 0)."""
    if isinstance(value, tuple):
        return list(value)
    return 0 if value is None else value


def _shown(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
