"""Training options: one dataclass with defaults in code, and one function that checks them all."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional

from ..data import DATASETS
from ..errors import GanforgeError
from ..losses import LOSSES
from ..models import MODELS
from .runstate import RunOptions

UNROLL_MODES = ("restore", "differentiable")

# Per-dataset defaults for options the user leaves out. The CelebA learning rates and the 0.9
# real label are what the report found necessary to avoid vanishing gradients there. MNIST's
# pair is the DCGAN one because it was measured best per CPU-minute (docs/benchmarks/quality.md:
# after 10 CPU-minutes FID 219 and all 10 classes, against 721 and 6 for the report's M1/M3 k=4).
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist": dict(generator="M4", discriminator="M5", lr_g=2e-4, lr_d=2e-4, real_label=1.0, batch_size=64),
    "fashion": dict(generator="M1", discriminator="M3", lr_g=2e-4, lr_d=2e-4, real_label=1.0, batch_size=64),
    "stacked-mnist": dict(generator="M4", discriminator="M5", lr_g=2e-4, lr_d=2e-4, real_label=1.0, batch_size=64),
    "celeb": dict(generator="M11", discriminator="M12", lr_g=1e-4, lr_d=4e-4, real_label=0.9, batch_size=128),
    "ring": dict(generator="toy-g", discriminator="toy-d", lr_g=1e-4, lr_d=1e-4, real_label=1.0, batch_size=512),
    "grid": dict(generator="toy-g", discriminator="toy-d", lr_g=1e-4, lr_d=1e-4, real_label=1.0, batch_size=512),
}


@dataclass
class TrainConfig(RunOptions):
    dataset: str = "mnist"
    generator: Optional[str] = None  # None: the dataset's default
    discriminator: Optional[str] = None
    loss: str = "non_saturated"
    unroll_steps: int = 0  # -k
    unroll_mode: str = "restore"
    g_steps: int = 1  # -gs
    d_steps: int = 1  # -ds
    epochs: int = 10
    batch_size: Optional[int] = None
    z_dim: Optional[int] = None  # None: the generator's default
    lr_g: Optional[float] = None
    lr_d: Optional[float] = None
    beta1: float = 0.5
    beta2: float = 0.999
    real_label: Optional[float] = None
    checkpoint_every: int = 0  # iterations; 0: once per epoch
    sample_count: int = 64
    vanish_threshold: float = 1e-3
    vanish_patience: int = 100
    sync_bn: bool = False  # BatchNorm statistics over all processes under torchrun
    compile: bool = False  # torch.compile G and D
    amp: Optional[str] = None  # "bf16": autocast the step to bfloat16
    channels_last: Optional[bool] = None  # None: on for image models on CPU and CUDA

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def resolve(cfg: TrainConfig) -> TrainConfig:
    """Check every option and fill dataset- and model-dependent defaults; GanforgeError if bad."""
    cfg = dataclasses.replace(cfg)
    cfg.dataset = DATASETS.canonical(cfg.dataset)
    cfg.loss = LOSSES.canonical(cfg.loss)
    defaults = DATASET_DEFAULTS[cfg.dataset]
    for key in ("generator", "discriminator", "lr_g", "lr_d", "real_label", "batch_size"):
        if getattr(cfg, key) is None:
            setattr(cfg, key, defaults[key])
    cfg.generator = MODELS.canonical(cfg.generator)
    cfg.discriminator = MODELS.canonical(cfg.discriminator)
    g_meta, d_meta = MODELS.entry(cfg.generator).meta, MODELS.entry(cfg.discriminator).meta
    if g_meta["role"] != "G":
        raise GanforgeError(f"-g {cfg.generator} is not a generator; generators: {_names('G')}")
    if d_meta["role"] != "D":
        raise GanforgeError(f"-d {cfg.discriminator} is not a discriminator; discriminators: {_names('D')}")
    family = DATASETS.entry(cfg.dataset).meta["family"]
    for name, meta in ((cfg.generator, g_meta), (cfg.discriminator, d_meta)):
        if meta["family"] != family:
            fitting = ", ".join(e.name for e in MODELS if e.meta["family"] == family)
            raise GanforgeError(f"model {name} is for {meta['family']} data, not {cfg.dataset}; use one of {fitting}")
    if cfg.z_dim is None:
        cfg.z_dim = g_meta["default_z"]
    if cfg.unroll_mode not in UNROLL_MODES:
        raise GanforgeError(f"unknown unroll mode {cfg.unroll_mode!r}; valid: {', '.join(UNROLL_MODES)}")
    _at_least("-k (unrolling steps)", cfg.unroll_steps, 0)
    _at_least("-gs (generator steps)", cfg.g_steps, 1)
    _at_least("-ds (discriminator steps)", cfg.d_steps, 1)
    _at_least("-e (epochs)", cfg.epochs, 1)
    _at_least("-b (batch size)", cfg.batch_size, 1)
    _at_least("-z (latent size)", cfg.z_dim, 1)
    _at_least("--log-every", cfg.log_every, 1)
    _at_least("--checkpoint-every", cfg.checkpoint_every, 0)
    _at_least("--image-size", cfg.image_size, 16)
    if cfg.image_size & (cfg.image_size - 1):
        raise GanforgeError(f"--image-size must be a power of two, got {cfg.image_size}")
    if cfg.limit is not None:
        _at_least("--limit", cfg.limit, 1)
    for name in ("lr_g", "lr_d"):
        value = getattr(cfg, name)
        if not (math.isfinite(value) and value > 0):
            raise GanforgeError(f"--{name.replace('_', '-')} must be a positive number, got {value}")
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(cfg, name) < 1:
            raise GanforgeError(f"--{name} must be in [0, 1), got {getattr(cfg, name)}")
    if not 0 < cfg.real_label <= 1:
        raise GanforgeError(f"--real-label must be in (0, 1], got {cfg.real_label}")
    if cfg.amp not in (None, "bf16"):
        raise GanforgeError(f"--amp must be bf16, got {cfg.amp!r}")
    if cfg.device not in ("auto", "cpu", "mps") and not cfg.device.startswith("cuda"):
        raise GanforgeError(f"unknown device {cfg.device!r}; valid: auto, cpu, cuda, cuda:N, mps")
    return cfg


def _names(role: str) -> str:
    return ", ".join(e.name for e in MODELS if e.meta["role"] == role)


def _at_least(what: str, value: int, low: int) -> None:
    if not isinstance(value, int) or value < low:
        raise GanforgeError(f"{what} must be an integer >= {low}, got {value}")
