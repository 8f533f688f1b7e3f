"""One save and one load helper for every checkpoint ganforge writes.

A checkpoint is a single safetensors file: named tensors (model weights, optimiser state,
RNG states) plus a JSON document in the header's metadata under the key "ganforge" (model
names, z size, data shape, dataset, step counters, library versions, and the sha256 of the
tensors, checked on every load: a flipped bit anywhere is one clear error). Writing is atomic.
Nothing is ever unpickled from a user's file; legacy .pt/.pkl state dicts go through
``torch.load(weights_only=True)``, which refuses code-running payloads.
"""
from __future__ import annotations

import hashlib
import json
import platform
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn
from torch.nn.utils import parametrize

from . import __version__
from .errors import GanforgeError
from .io import atomic_write_bytes

FORMAT = "ganforge-checkpoint-1"


def versions() -> dict[str, str]:
    return {"ganforge": __version__, "torch": torch.__version__, "torchvision": version("torchvision"),
            "python": platform.python_version()}


def tensors_digest(tensors: dict[str, Tensor]) -> str:
    """sha256 over every tensor's name and bytes, in name order: any changed bit changes it, the order the
    tensors are stored in does not."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(path: Path | str, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    # safetensors wants contiguous, unshared CPU tensors.
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    meta = {"format": FORMAT, **meta, "versions": versions(), "digest": tensors_digest(flat)}
    atomic_write_bytes(path, st_save(flat, metadata={"ganforge": json.dumps(meta)}))


def load_checkpoint(path: Path | str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(tensors, metadata) of a ganforge checkpoint; GanforgeError if it is not a sound one."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"checkpoint {path} does not exist")
    blob = path.read_bytes()
    try:
        tensors = st_load(blob)
        header_len = int.from_bytes(blob[:8], "little")
        header = json.loads(blob[8 : 8 + header_len])
        meta = json.loads(header.get("__metadata__", {}).get("ganforge", "null"))
    except (SafetensorError, ValueError, UnicodeDecodeError, TypeError) as exc:
        raise GanforgeError(f"{path} is not a readable safetensors checkpoint ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise GanforgeError(f"{path} is a safetensors file but not a ganforge checkpoint (no ganforge metadata)")
    if "digest" in meta and meta["digest"] != tensors_digest(tensors):  # files of ganforge 0.2 have none
        raise GanforgeError(f"{path} is damaged: its tensors are not the ones written (their sha256 differs from "
                            "the digest stored with them)")
    return tensors, meta


def prefixed(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": v for k, v in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def load_weights(model: nn.Module, state: dict[str, Tensor], what: str) -> None:
    """``load_state_dict`` with a one-line error when shapes or names do not fit."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or extra or wrong:
        detail = (f"{len(missing)} missing, {len(extra)} unexpected, {len(wrong)} of the wrong shape"
                  + (f" (e.g. {wrong[0]}: {tuple(state[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)})" if wrong else ""))
        raise GanforgeError(f"{what} does not fit the model: {detail}")
    model.load_state_dict(state)


# ---- optimiser state as flat tensors + JSON --------------------------------------------


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], list[dict[str, Any]]]:
    sd = opt.state_dict()
    tensors = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"{pid}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    # a captured step's rate is a device tensor and its optimiser capturable (cuda_graphs.py): saved as an
    # eager optimiser's, which any device resumes
    groups = [{**g, "lr": float(g["lr"]), "capturable": False} if "capturable" in g else g for g in sd["param_groups"]]
    return tensors, groups


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, Tensor], groups: list[dict[str, Any]]) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    for name, value in tensors.items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    # JSON turns tuples (betas) into lists; Adam accepts either.
    opt.load_state_dict({"state": state, "param_groups": groups})
    # Saved tensors come back contiguous; a fused optimiser walks parameter and state memory in
    # step, so each state tensor must have its parameter's layout (channels-last, say).
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


# ---- generators for later commands (sample, invert, ...) ---------------------------------


def plain_state_dict(module: nn.Module) -> dict[str, Tensor]:
    """``module``'s state with parametrised weights (spectral norm) stored as the weights they make, so
    that the registered model without the parametrisation loads it."""
    state = module.state_dict()
    for prefix, m in module.named_modules():
        if not parametrize.is_parametrized(m):
            continue
        training = m.training
        m.eval()  # no power iteration: reading the weight must not change it
        with torch.no_grad():
            for name in m.parametrizations:
                inner = f"{prefix}.parametrizations.{name}." if prefix else f"parametrizations.{name}."
                for key in [k for k in state if k.startswith(inner)]:
                    del state[key]
                state[f"{prefix}.{name}" if prefix else name] = getattr(m, name).detach().clone()
        m.train(training)
    return state


def save_generator(path: Path | str, G: nn.Module, meta: dict[str, Any], *, ema: nn.Module | None = None) -> None:
    """G's weights under "G.", and those of its moving average (a G too) under "G_ema." when given."""
    tensors = prefixed("G", plain_state_dict(G))
    if ema is not None:
        tensors.update(prefixed("G_ema", plain_state_dict(ema)))
    save_checkpoint(path, tensors, {"kind": "generator", "ema": ema is not None, **meta})
