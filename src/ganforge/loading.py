"""Loading a trained generator from whatever the user hands in, without running their code.

Accepted: a run folder (its generator.safetensors), a ganforge safetensors checkpoint, or a
legacy PyTorch state dict (.pt/.pth/.pkl) read with ``torch.load(weights_only=True)``, which
refuses any pickle that would build objects other than tensors and plain containers. A
legacy file has no metadata, so its model name and latent size come from the caller.
"""
from __future__ import annotations

import dataclasses
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from .checkpoint import load_checkpoint, load_weights, unprefixed
from .errors import GanforgeError
from .models import MODELS, build_model, default_shape, require_model
from .models.conditional import ConditionalG, WithClasses, conditional_generator
from .models.fast import speed_up

LEGACY_SUFFIXES = {".pt", ".pth", ".pkl", ".bin"}


@dataclass
class OpenedGenerator:
    G: nn.Module  # in eval mode, parameters frozen
    z_dim: int
    shape: tuple[int, ...]  # (C, H, W)
    model: str
    dataset: Optional[str]
    source: str
    meta: dict[str, Any] = field(default_factory=dict)
    encoder: Optional[Callable[[Tensor], Tensor]] = None  # images -> z, for autoencoders
    device: torch.device = torch.device("cpu")  # where G lives
    conditional: Optional[ConditionalG] = None  # G(z, y) of a class-conditional run; G then cycles the classes
    label: Optional[int] = None  # the class G draws, when fixed (with_class)

    @property
    def classes(self) -> int:
        return 0 if self.conditional is None else self.conditional.classes

    @property
    def prior(self) -> Optional[Tensor]:
        """How often G draws each class when it picks them itself: the clusters' sizes of a
        self-conditioned run (--clusters), the labels' of a --class-prior data run; None: the classes in turn."""
        prior = (self.meta.get("clusters") or {}).get("prior") or self.meta.get("class_prior")
        return None if not prior else torch.tensor(prior)

    @property
    def labelled(self) -> bool:
        """Whether G's classes are the dataset's labels (--conditional), not clusters."""
        return bool(self.classes) and not self.meta.get("clusters")

    def with_class(self, label: int) -> "OpenedGenerator":
        """This generator with G drawing class ``label`` only (a conditional generator's ``--class``)."""
        if self.conditional is None:
            raise GanforgeError(f"{self.source} is not class-conditional (train with --conditional); --class needs "
                                "a generator that takes a class")
        return dataclasses.replace(self, G=WithClasses(self.conditional, label), label=label)


class _Decoder(nn.Module):
    """An autoencoder's decoder seen as a generator z -> image."""

    def __init__(self, ae: nn.Module):
        super().__init__()
        self.ae = ae

    def forward(self, z: Tensor) -> Tensor:
        return self.ae.decode(z)


def open_generator(spec: str | Path, *, model: Optional[str] = None, z_dim: Optional[int] = None,
                   dataset: Optional[str] = None, device: str | torch.device = "cpu",
                   raw: bool = False, fast: bool = True) -> OpenedGenerator:
    """G from ``spec``, in eval mode with frozen parameters: the moving average of its weights when the
    run kept one (``raw``: G's own weights instead). ``fast``: with the device's fast layers
    (models/fast.py); without, the registered model as it is (for export)."""
    path = Path(spec)
    if path.is_dir():
        path = path / "generator.safetensors"
        if not path.exists():
            raise GanforgeError(f"{spec} holds no generator.safetensors (is it a finished run folder?)")
    if not path.is_file():
        raise GanforgeError(f"generator {spec} does not exist")
    device = torch.device(device)
    if path.suffix.lower() in LEGACY_SUFFIXES:
        opened = _open_legacy(path, model, z_dim, dataset)
    else:
        tensors, meta = load_checkpoint(path)
        if meta.get("kind") == "autoencoder":
            return _open_autoencoder(path, tensors, meta, z_dim, device, fast)
        name, zd, shape = _model_fields(path, meta, "generator", z_dim)
        if not isinstance(name, str) or name not in MODELS:
            raise GanforgeError(f"{path} names an unknown model {name!r}")
        classes = _classes(path, meta)
        G = (conditional_generator(name, shape=shape, z_dim=zd, classes=classes,
                                   batchnorm=meta.get("class_batchnorm") is True) if classes
             else build_model(name, role="G", shape=shape, z_dim=zd))
        averaged = unprefixed("G_ema", tensors)
        if "n_averaged" in averaged:  # a training checkpoint holds the whole AveragedModel
            averaged = unprefixed("module", averaged)
        weights = "raw" if raw or not averaged else "ema"
        chosen = averaged if weights == "ema" else unprefixed("G", tensors)
        _finite(path, chosen)
        load_weights(G, chosen, str(path))
        opened = OpenedGenerator(G, zd, shape, MODELS.canonical(name), meta.get("dataset"), str(path),
                                 {**meta, "weights": weights})
    opened.G = (speed_up(opened.G.to(device), device) if fast else opened.G.to(device)).eval().requires_grad_(False)
    opened.device = device
    if isinstance(opened.G, ConditionalG):
        opened.conditional, opened.G = opened.G, WithClasses(opened.G, prior=opened.prior)
    return opened


def _open_legacy(path: Path, model: Optional[str], z_dim: Optional[int], dataset: Optional[str]) -> OpenedGenerator:
    if model is None:
        raise GanforgeError(f"{path} is a plain state dict without metadata; say which model it is with --model "
                            "(and -z if not the model's default)")
    entry = MODELS.entry(require_model(model, role="G", flag="--model"))
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols would precede our one line
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "not plain weights"
        raise GanforgeError(f"refused to load {path}: it is not a plain weights file and loading it could run "
                            f"code ({first[:120]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:  # KeyError: torch's legacy format
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GanforgeError(f"{path} is not a readable PyTorch weights file ({first[:120]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise GanforgeError(f"{path} does not hold a state dict of tensors")
    shape = default_shape(entry.meta["family"])
    if dataset == "stacked-mnist" or (dataset == "celeb" and shape[0] != 3):
        shape = (3, *shape[1:])
    zd = z_dim or entry.meta["default_z"]
    G = build_model(entry.name, role="G", shape=shape, z_dim=zd)
    _finite(path, state)
    load_weights(G, {k.removeprefix("module."): v for k, v in state.items()}, str(path))
    return OpenedGenerator(G, zd, shape, entry.name, dataset, str(path))


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _model_fields(path: Path, meta: dict[str, Any], name_key: str,
                  z_dim: Optional[int]) -> tuple[str, int, tuple[int, ...]]:
    """(model name, z size, data shape) from checkpoint metadata, checked (types and ranges) before they size
    anything, and against a requested z size."""
    name, zd, shape = meta.get(name_key), meta.get("z_dim"), meta.get("shape")
    if not isinstance(name, str):
        raise GanforgeError(f"{path}: checkpoint metadata lacks the {name_key}'s name")
    if not _whole(zd, 1, 4096):
        raise GanforgeError(f"{path}: checkpoint metadata holds a latent size of {zd!r}, not an integer in [1, 4096]")
    if not (isinstance(shape, list) and len(shape) in (1, 3) and _whole(shape[0], 1, 4)
            and all(_whole(side, 2, 1024) for side in shape[1:])):
        raise GanforgeError(f"{path}: checkpoint metadata holds a data shape of {shape!r}, not [channels 1-4, "
                            "height, width] (or [2] for points)")
    shape = tuple(shape)
    if z_dim is not None and z_dim != zd:
        raise GanforgeError(f"latent size -z {z_dim} does not match the checkpoint {path} (z = {zd})")
    return name, zd, shape


def _classes(path: Path, meta: dict[str, Any]) -> int:
    """A conditional generator's class count (0: none), and its clusters' sizes when it has them, checked."""
    classes = meta.get("classes") or 0
    if not _whole(classes, 0, 100_000):
        raise GanforgeError(f"{path}: checkpoint metadata holds {classes!r} classes, not an integer in [0, 100000]")
    for key, what in (("clusters", "clusters are"), ("class_prior", "class prior is")):
        if meta.get(key) is None:
            continue
        prior = meta[key] if key == "class_prior" else meta[key].get("prior") if isinstance(meta[key], dict) else None
        if not (isinstance(prior, list) and len(prior) == classes
                and all(isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 1 for p in prior)):
            raise GanforgeError(f"{path}: checkpoint metadata's {what} not {classes} shares in [0, 1]")
    return classes


def _finite(path: Path, tensors: dict[str, Tensor]) -> None:
    """GanforgeError naming the first tensor holding NaN or infinity: such a generator draws nothing."""
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise GanforgeError(f"{path} holds non-finite weights ({name}); it cannot draw images")


def _open_autoencoder(path: Path, tensors: dict[str, Tensor], meta: dict[str, Any], z_dim: Optional[int],
                      device, fast: bool) -> OpenedGenerator:
    name, zd, shape = _model_fields(path, meta, "model", z_dim)
    if name not in MODELS:
        raise GanforgeError(f"{path} names an unknown model {name!r}")
    ae = build_model(name, role="AE", shape=shape, z_dim=zd)
    _finite(path, unprefixed("AE", tensors))
    load_weights(ae, unprefixed("AE", tensors), str(path))
    ae = (speed_up(ae.to(device), device) if fast else ae.to(device)).eval().requires_grad_(False)

    @torch.no_grad()
    def encode(x: Tensor) -> Tensor:
        return ae.encode(x.to(next(ae.parameters()).device))

    return OpenedGenerator(_Decoder(ae), zd, shape, name, meta.get("dataset"), str(path), meta, encoder=encode,
                           device=device)
