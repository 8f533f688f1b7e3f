"""Choosing the device a command runs on from ``--device``."""
from __future__ import annotations

import torch

from .errors import GanforgeError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N, mps"


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA, else MPS, else the CPU; otherwise the named device, if this machine has it."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanforgeError(f"--device {name} asked for, but CUDA is not available here")
    if name == "mps" and not _mps_available():
        raise GanforgeError("--device mps asked for, but MPS is not available here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise GanforgeError(f"unknown device {name!r}; valid: {DEVICE_CHOICES}") from None
