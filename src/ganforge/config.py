"""Training options: a dataclass per command with defaults in code, one function per command that
checks them all before any work starts, and reading them back from a run folder."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, TypeVar

from .data import DATASETS
from .data.registry import dataset_classes
from .device import DEVICE_CHOICES
from .errors import GanforgeError
from .losses import LOSSES
from .models import MODELS, require_model
from .records import read_record

UNROLL_MODES = ("restore", "differentiable")
SPECTRAL_NORM = ("none", "d", "g", "both")
AUGMENT_KINDS = ("translation", "cutout", "color")
LATENT_REGS = ("none", "moments")
MOMENTS_OVER = ("dims", "all")


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
    checkpoint_every: int = 0  # iterations; 0: once per epoch
    time_limit: Optional[float] = None  # minutes of training after which the run stops as at an epoch end
    quiet: bool = False
    tensorboard: bool = False  # also write TensorBoard event files into the run folder's tensorboard/

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

# The report's method: what a run gets for each option it leaves out when it names its models
# (-g/-d) or asks for --recipe none. The CelebA learning rates and the 0.9 real label are what the
# report found necessary there; the toys' batch and rate are the unrolled-GAN papers'.
PLAIN: dict[str, Any] = dict(loss="non_saturated", lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, real_label=1.0,
                             batch_size=64, r1=0.0, r2=0.0, reg_every=16, spectral_norm="none", pack=1, ema=0.0,
                             augment="none", augment_p=1.0, clusters=0, lr_half_life=0.0, pack_by_class=False)
PLAIN_BY_DATASET: dict[str, dict[str, Any]] = {
    "celeb": dict(lr_g=1e-4, lr_d=4e-4, real_label=0.9, batch_size=128),
    "ring": dict(lr_g=1e-4, lr_d=1e-4, batch_size=512),
    "grid": dict(lr_g=1e-4, lr_d=1e-4, batch_size=512),
}
MODELS_BY_DATASET = {"mnist": ("M4", "M5"), "fashion": ("M1", "M3"), "stacked-mnist": ("M4", "M5"),
                     "celeb": ("M11", "M12"), "ring": ("toy-g", "toy-d"), "grid": ("toy-g", "toy-d")}

# Recipes: per dataset, the settings measured best (README, "Recipes"; docs/benchmarks/quality.md).
# `ganforge train --dataset X` runs X's recipe when it names no models; any option given on the
# command line overrides the part of the recipe it names.
_DIGITS = dict(generator="M4", discriminator="M5", lr_g=1e-3, lr_d=1e-3, ema=10.0)
_MNIST = {**_DIGITS, "pack": 2, "clusters": 20, "r1": 0.01}
_TOYS = dict(generator="pac-g", discriminator="pac-d", pack=4, batch_size=100, lr_g=1e-3, lr_d=1e-3, beta1=0.8,
             ema=10.0)
RECIPES: dict[str, dict[str, Any]] = {
    # 5-minute screens, FID in the evaluator's features: Adam 2e-4 92 (the report's probes), 1e-3 102 -> EMA 96;
    # ADA augmentation 122 (it pays off later, if at all); self-conditioned on 10 / 20 / 50 clusters 49 / 24 / 32,
    # and with PacGAN's packing of 2 (recall 0.61 -> 0.68) 21; with R1 at gamma 0.01, 10-minute screens: FID
    # 18.7 -> 16.5, recall 0.67 -> 0.74 (the last part of the goal); see README "Recipes" for the measured table.
    "mnist": _MNIST,
    "fashion": {**_MNIST, "r1": 0.0},  # the MNIST recipe as it was measured on Fashion-MNIST, before R1
    # with PacDCGAN2's packing (Lin et al. 2018) and R3GAN's relativistic pairing loss with R1 and R2 (Huang et al.
    # 2024); 8-epoch probes, KL over 26,000 samples: R1 alone 0.118 / 0.145 (seeds 0 / 1), relativistic with R1 and
    # R2 at 0.01 / 0.1 / 1: 0.158 / 0.124 / 0.081; then M5-deep as D (one stride-2 stage more), KL at 30 minutes
    # 0.044 / 0.047 (seeds 0 / 1) against M5's 0.064 / 0.072
    "stacked-mnist": {**_DIGITS, "discriminator": "M5-deep", "pack": 2, "loss": "relativistic", "r1": 1.0, "r2": 1.0},
    # the DCGAN paper's 64x64 settings (Radford et al. 2016), with the moving average
    "celeb": dict(generator="M11", discriminator="M12", lr_g=2e-4, lr_d=2e-4, real_label=1.0, batch_size=128,
                  ema=10.0),
    # PacGAN's toy models, packing and beta1, at a 10x rate, with the moving average: 2-minute screens on the
    # ring, 8/8 modes and 88 % high quality against 0/8 for the plain toy-g/toy-d
    # and self-conditioned on 8 clusters (a 5-minute screen: 100 % high quality against 93 %)
    "ring": {**_TOYS, "clusters": 8},
    # self-conditioned on its 25 modes, the rates halving every million images (10-minute screens: 22/25 modes and
    # 5 % high quality without either, 11/25 and 28 % at 5 minutes with the clusters alone, 22/25 and 88 % with both),
    # each of D's packs holding one cluster (at 5 minutes: 25/25 and 99.8 % against 17/25 and 54 %)
    "grid": {**_TOYS, "clusters": 25, "lr_half_life": 1000.0, "pack_by_class": True},
}


@dataclass
class TrainConfig(RunOptions):
    dataset: str = "mnist"
    generator: Optional[str] = None  # None: the dataset's default
    discriminator: Optional[str] = None
    recipe: Optional[str] = None  # a dataset's recipe, or "none"; None: the dataset's, unless -g/-d are given
    loss: Optional[str] = None
    unroll_steps: int = 0  # -k
    unroll_mode: str = "restore"
    g_steps: int = 1  # -gs
    d_steps: int = 1  # -ds
    epochs: Optional[int] = None  # None: 10, or until --time-limit when one is given
    batch_size: Optional[int] = None
    z_dim: Optional[int] = None  # None: the generator's default
    lr_g: Optional[float] = None
    lr_d: Optional[float] = None
    beta1: Optional[float] = None
    beta2: Optional[float] = None
    real_label: Optional[float] = None
    sample_count: int = 64
    vanish_threshold: float = 1e-3
    vanish_patience: int = 100
    sync_bn: bool = False  # BatchNorm statistics over all processes under torchrun
    compile: bool = False  # torch.compile G and D
    amp: Optional[str] = None  # "bf16": autocast the step to bfloat16
    channels_last: Optional[bool] = None  # None: on for image models on CPU and CUDA
    conditional: bool = False  # class-conditional: G(z, y) and a projection D, on a labelled dataset
    clusters: Optional[int] = None  # self-conditioning: conditional on this many k-means clusters; 0: none
    # Options left at None take the recipe's value, or the report's method's (PLAIN).
    r1: Optional[float] = None  # gamma of the R1 gradient penalty on real samples; 0: none
    r2: Optional[float] = None  # gamma of the R2 gradient penalty on generated samples; 0: none
    reg_every: Optional[int] = None  # lazy regularisation: the penalties every N iterations, scaled by N
    spectral_norm: Optional[str] = None  # "d", "g", "both" or "none": spectral norm of the weight layers
    pack: Optional[int] = None  # PacGAN: D judges this many samples at a time, concatenated along channels
    pack_by_class: Optional[bool] = None  # each of D's packs holds samples of one class (conditional runs)
    augment: Optional[str] = None  # comma-separated kinds D's inputs go through (translation, cutout, color); "none"
    augment_p: Optional[float] = None  # probability of each kind per sample (the start, with --ada-target)
    ada_target: Optional[float] = None  # adapt p so that E[sign D(real)] stays near this (ADA: 0.6); None: fixed p
    ema: Optional[float] = None  # half-life of the moving average of G's weights, thousands of images; 0: none
    ema_rampup: Optional[float] = 0.05  # the half-life is at most this times the images seen; None: no warm-up
    lr_half_life: Optional[float] = None  # both learning rates halve every this many thousand images; 0: constant


@dataclass
class AEConfig(RunOptions):
    dataset: str = "mnist"
    model: Optional[str] = None  # default: AE (28x28) or AE64
    epochs: Optional[int] = None  # None: 20, or until --time-limit when one is given
    batch_size: int = 64
    z_dim: int = 100
    lr: float = 1e-3
    latent_reg: str = "none"
    moments_over: str = "dims"
    factor_start: float = 0.001
    factor_growth: float = 2.0
    factor_cap: float = 2.048
    cdf_samples: int = 2000  # test images whose latents make the per-epoch CDF and KS statistic


def resolve(cfg: TrainConfig) -> TrainConfig:
    """Check every option and fill dataset- and model-dependent defaults; GanforgeError if bad."""
    cfg = dataclasses.replace(cfg)
    cfg.dataset = DATASETS.canonical(cfg.dataset)
    if cfg.recipe is None:
        cfg.recipe = "none" if cfg.generator or cfg.discriminator else cfg.dataset
    if cfg.recipe != "none" and cfg.recipe not in RECIPES:
        raise GanforgeError(f"unknown --recipe {cfg.recipe!r}; valid: {', '.join(RECIPES)}, none")
    g, d = MODELS_BY_DATASET[cfg.dataset]
    chosen = {"generator": g, "discriminator": d, **PLAIN, **PLAIN_BY_DATASET.get(cfg.dataset, {}),
              **RECIPES.get(cfg.recipe, {})}
    if cfg.conditional and cfg.clusters is None:
        cfg.clusters = 0  # labels, where asked for, take the place of a recipe's clusters
    asked_class_packs, asked_label = cfg.pack_by_class, cfg.real_label is not None
    for key, value in chosen.items():
        if getattr(cfg, key) is None:
            setattr(cfg, key, value)
    cfg.loss = LOSSES.canonical(cfg.loss)
    family = DATASETS.entry(cfg.dataset).meta["family"]
    cfg.generator = require_model(cfg.generator, role="G", family=family, dataset=cfg.dataset, flag="-g")
    cfg.discriminator = require_model(cfg.discriminator, role="D", family=family, dataset=cfg.dataset, flag="-d")
    if cfg.z_dim is None:
        cfg.z_dim = MODELS.entry(cfg.generator).meta["default_z"]
    if cfg.unroll_mode not in UNROLL_MODES:
        raise GanforgeError(f"unknown unroll mode {cfg.unroll_mode!r}; valid: {', '.join(UNROLL_MODES)}")
    _at_least("-k (unrolling steps)", cfg.unroll_steps, 0)
    _at_least("-gs (generator steps)", cfg.g_steps, 1)
    _at_least("-ds (discriminator steps)", cfg.d_steps, 1)
    _epochs_and_time(cfg, 10)
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
    if cfg.real_label != 1 and cfg.loss == "relativistic":
        if asked_label:
            raise GanforgeError(f"-l relativistic compares logits and has no real label to smooth; drop "
                                f"--real-label {cfg.real_label:g}")
        cfg.real_label = 1.0  # the report's CelebA smoothing has no meaning for a paired loss
    for name in ("r1", "r2"):
        if not (math.isfinite(getattr(cfg, name)) and getattr(cfg, name) >= 0):
            raise GanforgeError(f"--{name} must be a penalty weight >= 0, got {getattr(cfg, name)}")
    _at_least("--reg-every", cfg.reg_every, 1)
    if cfg.spectral_norm not in SPECTRAL_NORM:
        raise GanforgeError(f"unknown --spectral-norm {cfg.spectral_norm!r}; valid: {', '.join(SPECTRAL_NORM)}")
    _at_least("--pack", cfg.pack, 1)
    kinds = [k for k in cfg.augment.split(",") if k]
    if cfg.augment != "none" and (not kinds or any(k not in AUGMENT_KINDS for k in kinds)):
        raise GanforgeError(f"--augment takes none or comma-separated kinds of {', '.join(AUGMENT_KINDS)}, "
                            f"got {cfg.augment!r}")
    if not 0 <= cfg.augment_p <= 1:
        raise GanforgeError(f"--augment-p must be in [0, 1], got {cfg.augment_p}")
    if cfg.ada_target is not None and not 0 < cfg.ada_target < 1:
        raise GanforgeError(f"--ada-target must be in (0, 1), got {cfg.ada_target}")
    if cfg.conditional and not dataset_classes(cfg.dataset):
        labelled = ", ".join(e.name for e in DATASETS if e.meta["classes"])
        raise GanforgeError(f"--conditional needs a labelled dataset ({labelled}); {cfg.dataset} has no labels")
    _at_least("--clusters", cfg.clusters, 0)
    if cfg.clusters == 1:
        raise GanforgeError("--clusters must be 0 (none) or at least 2, got 1")
    if cfg.clusters and cfg.conditional:
        raise GanforgeError("--clusters conditions on clusters of the data and --conditional on its labels: give "
                            "one of them")
    if cfg.batch_size % cfg.pack:
        raise GanforgeError(f"-b {cfg.batch_size} must be divisible by --pack {cfg.pack} (D judges packs of samples)")
    if cfg.pack_by_class and (cfg.pack < 2 or not (cfg.clusters or cfg.conditional)):
        if asked_class_packs:
            raise GanforgeError("--pack-by-class needs --pack of at least 2 and classes (--conditional or --clusters)")
        cfg.pack_by_class = False  # the recipe's, for packs of classes the options given leave out
    if not (math.isfinite(cfg.ema) and cfg.ema >= 0):
        raise GanforgeError(f"--ema must be a half-life >= 0 (thousands of images), got {cfg.ema}")
    if cfg.ema_rampup is not None and not (math.isfinite(cfg.ema_rampup) and cfg.ema_rampup > 0):
        raise GanforgeError(f"--ema-rampup must be a positive number, got {cfg.ema_rampup}")
    if not (math.isfinite(cfg.lr_half_life) and cfg.lr_half_life >= 0):
        raise GanforgeError(f"--lr-half-life must be a half-life >= 0 (thousands of images), got {cfg.lr_half_life}")
    if cfg.amp not in (None, "bf16"):
        raise GanforgeError(f"--amp must be bf16, got {cfg.amp!r}")
    _check_device(cfg.device)
    return cfg


def resolve_ae(cfg: AEConfig) -> AEConfig:
    """``resolve`` for ``train-ae``."""
    cfg = dataclasses.replace(cfg)
    cfg.dataset = DATASETS.canonical(cfg.dataset)
    family = DATASETS.entry(cfg.dataset).meta["family"]
    if family == "toy":
        raise GanforgeError(f"the autoencoder is for images; {cfg.dataset} is 2-D points")
    cfg.model = require_model(cfg.model or ("AE" if family == "mnist" else "AE64"), role="AE", family=family,
                              dataset=cfg.dataset, flag="--model")
    if cfg.latent_reg not in LATENT_REGS:
        raise GanforgeError(f"unknown --latent-reg {cfg.latent_reg!r}; valid: {', '.join(LATENT_REGS)}")
    if cfg.moments_over not in MOMENTS_OVER:
        raise GanforgeError(f"unknown --moments-over {cfg.moments_over!r}; valid: {', '.join(MOMENTS_OVER)}")
    _epochs_and_time(cfg, 20)
    for name, low in (("batch_size", 2), ("z_dim", 1), ("log_every", 1), ("checkpoint_every", 0),
                      ("cdf_samples", 10)):
        if getattr(cfg, name) < low:
            raise GanforgeError(f"--{name.replace('_', '-')} must be >= {low}, got {getattr(cfg, name)}")
    for name in ("lr", "factor_start", "factor_growth", "factor_cap"):
        v = getattr(cfg, name)
        if not (math.isfinite(v) and v > 0):
            raise GanforgeError(f"--{name.replace('_', '-')} must be a positive number, got {v}")
    _check_device(cfg.device)
    return cfg


Config = TypeVar("Config", bound=RunOptions)


def load_config(cls: type[Config], root: Path, kind: str) -> Config:
    """A run folder's config.json (a record of ``kind``) as an instance of the config dataclass ``cls``;
    fields it does not have, such as the data source, are left out, except training options newer than
    the run: it trained without them, so they take the report's method's value (none)."""
    path = root / "config.json"
    if not path.is_file():
        raise GanforgeError(f"{root} is not a ganforge run folder (no config.json)")
    saved = read_record(path, expect=(kind,)).data
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        older = {k: v for k, v in PLAIN.items() if k not in saved} if cls is TrainConfig else {}
        return cls(**{**older, **{k: v for k, v in saved.items() if k in names}})
    except TypeError as exc:
        raise GanforgeError(f"{path} is not a readable run configuration ({exc})") from None


def _epochs_and_time(cfg: Any, default_epochs: int) -> None:
    """Epochs default to ``default_epochs``, or to as many as fit in --time-limit when one is given."""
    if cfg.time_limit is not None and not (math.isfinite(cfg.time_limit) and cfg.time_limit > 0):
        raise GanforgeError(f"--time-limit must be a positive number of minutes, got {cfg.time_limit}")
    if cfg.epochs is None and cfg.time_limit is None:
        cfg.epochs = default_epochs
    if cfg.epochs is not None:
        _at_least("-e (epochs)", cfg.epochs, 1)


def _check_device(name: str) -> None:
    if name not in ("auto", "cpu", "mps") and not name.startswith("cuda"):
        raise GanforgeError(f"unknown device {name!r}; valid: {DEVICE_CHOICES}")


def _at_least(what: str, value: int, low: int) -> None:
    if not isinstance(value, int) or value < low:
        raise GanforgeError(f"{what} must be an integer >= {low}, got {value}")
