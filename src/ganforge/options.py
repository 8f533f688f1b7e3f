"""Every training option, declared once: its flags, type, allowed values, help, group, default,
the report's plain value (for options a recipe may set) and whether it may change on ``--resume``.

The config dataclasses (config.py), the argument parsers (cli/common.py ``add_options``), the
checks of ``resolve``, the resume rules and the docs' flag table (docs/training-options.md) are
all made from these lists; nothing else states a default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Union

from .data import DATASETS
from .losses import LOSSES
from .models import MODELS
from .recipes import MODELS_BY_DATASET, MODELS_BY_FAMILY, PLAIN_BY_DATASET, RECIPES
from .registry import Registry

GROUPS = {"data": "data", "model": "models and loss", "optimiser": "optimisation", "stabilisers": "stabilisers",
          "run": "the run"}
UNROLL_MODES = ("restore", "differentiable")
SPECTRAL_NORM = ("none", "d", "g", "both")
AUGMENT_KINDS = ("translation", "cutout", "color")
LATENT_REGS = ("none", "moments")
MOMENTS_OVER = ("dims", "all")
FITS = ("crop", "pad")
CLASS_PRIORS = ("uniform", "data")


@dataclass(frozen=True)
class Range:
    """The values a number may take; ``str`` reads as the end of "must be ..."."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    noun: str = "number"

    def __contains__(self, x: float) -> bool:
        above = x > self.low if self.low_open else x >= self.low
        below = x < self.high if self.high_open else x <= self.high
        return math.isfinite(x) and above and below

    def __str__(self) -> str:
        if math.isfinite(self.high):
            low, high = (f"{int(x):,}" if self.noun == "integer" else f"{x:g}" for x in (self.low, self.high))
            return f"in {'[('[self.low_open]}{low}, {high}{'])'[self.high_open]}"
        article = "an" if self.noun[0] in "aeiou" else "a"
        if self.low == 0 and self.low_open:
            return f"{article} positive {self.noun}"
        return f"{article} {self.noun} {'>' if self.low_open else '>='} {self.low:g}"


def at_least(n: int) -> Range:
    return Range(n, noun="integer")


SEEDS = Range(0, 2**32 - 1, noun="integer")  # what every generator it reaches takes (scikit-learn's k-means)
LATENT_SIZES = Range(1, 4096, noun="integer")
POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
HALF_LIFE = Range(0, noun="half-life")  # thousands of images
UNIT = Range(0, 1)

# Kinds of value: int, float, str, "switch" (a flag that turns something on), "toggle" (--x / --no-x).
Kind = Union[type, str]


@dataclass(frozen=True)
class Option:
    name: str  # the config field
    flags: tuple[str, ...]
    group: str  # a key of GROUPS
    help: str  # what it does; the default is added from the fields below
    kind: Kind = str
    default: Any = None  # the field's value when the option is not given
    plain: Any = None  # options a recipe may set: the report's method's value where the recipe is silent
    recipe: bool = False  # whether a recipe may set it (the field then stays None until resolve fills it)
    valid: Optional[Range] = None  # numbers: the values allowed
    choices: Union[tuple[str, ...], Registry, None] = None
    metavar: Optional[str] = None
    resumable: bool = False  # may change when a run is resumed
    shown: Optional[str] = None  # the default in words, where it is not a value ("the generator's")

    @property
    def flag(self) -> str:
        return "/".join(self.flags)

    def default_text(self) -> str:
        """The default as --help and the docs state it."""
        if self.shown is not None:
            return self.shown
        if self.recipe:
            by_dataset = ", ".join(f"{d} {_value(o[self.name])}" for d, o in PLAIN_BY_DATASET.items() if self.name in o)
            return f"the recipe's, else {_value(self.plain)}" + (f" ({by_dataset})" if by_dataset else "")
        return _value(self.default)


def _value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "on" if v else "off"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _opt(name: str, flags: Union[str, tuple[str, ...]], group: str, help: str, **kw: Any) -> Option:
    return Option(name, (flags,) if isinstance(flags, str) else flags, group, help, **kw)


_MODELS_SHOWN = ("the recipe's, else " + ", ".join(f"{d} {g}/{dd}" for d, (g, dd) in MODELS_BY_DATASET.items())
                 + "; other data: " + ", ".join(f"{f} family {g}/{d}" for f, (g, d) in MODELS_BY_FAMILY.items()))

# What every training command has (train, train-ae).
RUN_OPTIONS: list[Option] = [
    _opt("seed", "--seed", "run", "random seed", kind=int, default=0, valid=SEEDS),
    _opt("out", ("-o", "--out"), "run", "run folder; never overwritten", metavar="RUN",
         shown="runs/<time>-<what it trains>"),
    _opt("device", "--device", "run", "auto, cpu, cuda, cuda:N or mps", default="auto", resumable=True),
    _opt("data_root", "--data-root", "data", "folder holding the dataset (torchvision's layout, or images for celeb)",
         metavar="DIR"),
    _opt("download", "--download", "data", "download MNIST, Fashion-MNIST or CIFAR-10 through torchvision",
         kind="switch",
         default=False),
    _opt("images", "--images", "data", "train on your own images: a folder of them, or of class subfolders (the "
         "labels --conditional trains on); sets --dataset images", metavar="DIR"),
    _opt("image_size", "--image-size", "data", "side of colour and folder images: a power of two from 16, or 28 "
         "(folder and emoji images, with the digit models)", kind=int, valid=at_least(16),
         shown="the dataset's own: 32 for cifar10, else 64"),
    _opt("background", "--background", "data", "what transparent pixels are composited on: white, black or "
         "#rrggbb", default="white", metavar="COLOUR"),
    _opt("fit", "--fit", "data", "how an image becomes square: crop its centre, or pad it with the background",
         choices=FITS, default="crop"),
    _opt("channels", "--channels", "data", "1 (grey) or 3 (RGB) for folder and emoji images", kind=int,
         choices=(1, 3), shown="grey if every image is, else RGB"),
    _opt("data_memory", "--data-memory", "data", "GB of device memory the training images may take (uint8, one "
         "byte per pixel and channel); larger data stays in host memory and streams to the device batch by batch, "
         "the next batch prefetched, with the same result", kind=float, valid=NON_NEGATIVE, metavar="GB",
         resumable=True, shown="half a GPU's free memory; on the CPU, no limit"),
    _opt("limit", "--limit", "data", "train on the first N training items only", kind=int, valid=at_least(1),
         metavar="N", shown="all"),
    _opt("log_every", "--log-every", "run", "iterations between metric flushes to CSV and progress bar", kind=int,
         default=50, valid=at_least(1), metavar="N", resumable=True),
    _opt("checkpoint_every", "--checkpoint-every", "run", "also checkpoint every N iterations (0: at the end of "
         "each epoch only)", kind=int, default=0, valid=at_least(0), metavar="N", resumable=True),
    _opt("time_limit", "--time-limit", "run", "stop after this much training time, writing checkpoint, generator, "
         "figures and summary as at an epoch end; --resume continues; without -e, epochs run until the limit",
         kind=float, valid=Range(0, low_open=True, noun="number of minutes"), metavar="MINUTES", resumable=True),
    _opt("quiet", ("-q", "--quiet"), "run", "no progress bar", kind="switch", default=False, resumable=True),
    _opt("tensorboard", "--tensorboard", "run", "also write TensorBoard event files (curves, sample grids, "
         "options) into RUN/tensorboard", kind="switch", default=False, resumable=True),
]

TRAIN_OPTIONS: list[Option] = [
    _opt("dataset", "--dataset", "data", "dataset, any case: " + ", ".join(DATASETS.names()), choices=DATASETS,
         default="mnist"),
    _opt("recipe", "--recipe", "model", "whose settings fill the options left out: a dataset's recipe, or none "
         "(the report's method)", choices=(*RECIPES, "none"),
         shown="the dataset's; none when -g or -d is given, or the dataset has none"),
    _opt("generator", ("-g", "--generator-model"), "model", "generator model (see `ganforge models`); naming a model "
         "turns the recipe off", choices=MODELS, recipe=True, shown=_MODELS_SHOWN),
    _opt("discriminator", ("-d", "--discriminator-model"), "model", "discriminator model", choices=MODELS, recipe=True,
         shown="the recipe's, else the dataset's, as for -g"),
    _opt("loss", ("-l", "--loss"), "model", "loss: " + ", ".join(LOSSES.names()), choices=LOSSES, recipe=True,
         plain="non_saturated"),
    _opt("z_dim", ("-z", "--z-dim"), "model", "latent size", kind=int, valid=LATENT_SIZES, shown="the generator's"),
    _opt("conditional", "--conditional", "model", "class-conditional: G takes a class too, D gets a projection "
         "head (labelled data: mnist, fashion, stacked-mnist, emoji, cifar10, --images with class subfolders)",
         kind="switch", default=False),
    _opt("class_prior", "--class-prior", "model", "with --conditional: how often G draws each class, in training "
         "and wherever it picks the class itself (sample grids, sample, evaluate): uniform, or as often as the "
         "training data holds it (data)", choices=CLASS_PRIORS, recipe=True, plain="uniform"),
    _opt("class_batchnorm", "--class-batchnorm", "model", "with classes (--conditional or --clusters): every "
         "BatchNorm of G also takes its gain and bias from the class (conditional BatchNorm, as in Miyato and "
         "Koyama's G), not only G's input", kind="toggle", recipe=True, plain=False),
    _opt("condition_ramp", "--condition-ramp", "model", "transitional conditioning (Shahbazi et al. 2023): with "
         "classes (--conditional or --clusters), the first N iterations train without them and the next N blend "
         "them in, so that few images per class do not collapse each class to one picture (0: classes from the "
         "start)", kind=int, valid=at_least(0), recipe=True, plain=0, metavar="N"),
    _opt("unroll_steps", ("-k", "--unroll-steps"), "optimiser", "unrolling steps k (0: off)", kind=int, default=0,
         valid=at_least(0)),
    _opt("unroll_mode", "--unroll-mode", "optimiser", "restore: the report's look-ahead-and-restore; "
         "differentiable: Metz et al.'s", choices=UNROLL_MODES, default="restore"),
    _opt("g_steps", ("-gs", "--g-steps"), "optimiser", "generator steps per batch", kind=int, default=1,
         valid=at_least(1)),
    _opt("d_steps", ("-ds", "--d-steps"), "optimiser", "discriminator steps per batch", kind=int, default=1,
         valid=at_least(1)),
    _opt("epochs", ("-e", "--epochs"), "optimiser", "epochs", kind=int, valid=at_least(1), resumable=True,
         shown="10; with --time-limit, as many as fit"),
    _opt("batch_size", ("-b", "--batch-size"), "optimiser", "batch size", kind=int, valid=at_least(1), recipe=True,
         plain=64),
    _opt("lr_g", "--lr-g", "optimiser", "generator learning rate (Adam)", kind=float, valid=POSITIVE, recipe=True,
         plain=2e-4),
    _opt("lr_d", "--lr-d", "optimiser", "discriminator learning rate (Adam)", kind=float, valid=POSITIVE,
         recipe=True, plain=2e-4),
    _opt("beta1", "--beta1", "optimiser", "Adam beta1", kind=float, valid=Range(0, 1, high_open=True), recipe=True,
         plain=0.5),
    _opt("beta2", "--beta2", "optimiser", "Adam beta2", kind=float, valid=Range(0, 1, high_open=True), recipe=True,
         plain=0.999),
    _opt("lr_half_life", "--lr-half-life", "optimiser", "both learning rates halve every KIMG thousand training "
         "images (0: constant)", kind=float, valid=HALF_LIFE, recipe=True, plain=0.0, metavar="KIMG"),
    _opt("real_label", "--real-label", "stabilisers", "target for real images: one-sided label smoothing",
         kind=float, valid=Range(0, 1, low_open=True), recipe=True, plain=1.0),
    _opt("r1", "--r1", "stabilisers", "R1 gradient penalty on real samples, gamma/2 * E|grad D(x)|^2 (0: none)",
         kind=float, valid=NON_NEGATIVE, recipe=True, plain=0.0, metavar="GAMMA"),
    _opt("r2", "--r2", "stabilisers", "R2: the same on generated samples", kind=float, valid=NON_NEGATIVE,
         recipe=True, plain=0.0, metavar="GAMMA"),
    _opt("reg_every", "--reg-every", "stabilisers", "lazy regularisation: the penalties every N iterations, "
         "scaled by N", kind=int, valid=at_least(1), recipe=True, plain=16, metavar="N"),
    _opt("top_k", "--top-k", "stabilisers", "top-k training (Sinha et al. 2020): G learns only from the fakes D "
         "rates most real, a share of each batch falling from all of them to SHARE (1: all, always)",
         kind=float, valid=Range(0, 1, low_open=True), recipe=True, plain=1.0, metavar="SHARE"),
    _opt("top_k_half_life", "--top-k-half-life", "stabilisers", "with --top-k below 1: the share of fakes G "
         "learns from halves every KIMG thousand images until it reaches --top-k's", kind=float, default=800.0,
         valid=POSITIVE, metavar="KIMG"),
    _opt("spectral_norm", "--spectral-norm", "stabilisers", "spectral normalisation of every weight layer of D, G "
         "or both", choices=SPECTRAL_NORM, recipe=True, plain="none"),
    _opt("pack", "--pack", "stabilisers", "PacGAN: D judges M samples at a time, concatenated along channels",
         kind=int, valid=at_least(1), recipe=True, plain=1, metavar="M"),
    _opt("pack_by_class", "--pack-by-class", "stabilisers", "with --pack and classes (--conditional or "
         "--clusters): each pack D judges holds samples of one class, so D sees how varied a class is",
         kind="toggle", recipe=True, plain=False),
    _opt("clusters", "--clusters", "stabilisers", "self-conditioning: class-conditional on K k-means clusters of "
         "the training data, found before training (no labels used); G draws clusters as often as they occur "
         "(0: none)", kind=int, valid=at_least(0), recipe=True, plain=0, metavar="K"),
    _opt("augment", "--augment", "stabilisers", "differentiable augmentation of all D sees: none, or "
         "comma-separated " + ", ".join(AUGMENT_KINDS), recipe=True, plain="none", metavar="KINDS"),
    _opt("augment_p", "--augment-p", "stabilisers", "probability of each augmentation per sample (the start value "
         "with --ada-target)", kind=float, valid=UNIT, recipe=True, plain=1.0, metavar="P"),
    _opt("ada_target", "--ada-target", "stabilisers", "adapt the augmentation probability so that E[sign D(real)] "
         "stays near R, as ADA does (0.6 there)", kind=float, valid=Range(0, 1, True, True), metavar="R",
         shown="none: a fixed probability"),
    _opt("ema", "--ema", "stabilisers", "a moving average of G's weights with this half-life in thousands of "
         "images, used by sample grids and every later command (0: none)", kind=float, valid=HALF_LIFE,
         recipe=True, plain=0.0, metavar="KIMG"),
    _opt("ema_rampup", "--ema-rampup", "stabilisers", "warm-up: the moving average's half-life is at most R times "
         "the images seen so far", kind=float, default=0.05, valid=POSITIVE, metavar="R"),
    _opt("sample_count", "--sample-count", "run", "images in each epoch's sample grid", kind=int, default=64,
         valid=at_least(1), metavar="N"),
    _opt("vanish_threshold", "--vanish-threshold", "run", "G gradient norm below which gradients count as "
         "vanishing", kind=float, default=1e-3, resumable=True),
    _opt("vanish_patience", "--vanish-patience", "run", "iterations in a row below the threshold before warning",
         kind=int, default=100, valid=at_least(1), resumable=True),
    _opt("sync_bn", "--sync-bn", "run", "under torchrun: BatchNorm statistics over the global batch of all "
         "processes", kind="switch", default=False),
    _opt("compile", "--compile", "run", "torch.compile G and D (D stays eager under --r1/--r2 and differentiable "
         "unrolling, which differentiate twice; worth it for long GPU runs)", kind="switch", default=False,
         resumable=True),
    _opt("progress_video", "--progress-video", "run", "at the end, every epoch's sample grid as one animation, "
         "progress.gif in the run folder", kind="toggle", default=False, resumable=True),
    _opt("cuda_graphs", "--cuda-graphs", "run", "capture the GAN step as CUDA graphs and replay it: one launch a "
         "step instead of hundreds, for small models on a GPU (one CUDA process; otherwise a note and the eager "
         "step)", kind="toggle", default=False, resumable=True),
    _opt("amp", "--amp", "run", "autocast the training step to bfloat16 (CUDA GPUs with bf16)", choices=("bf16",),
         resumable=True),
    _opt("channels_last", "--channels-last", "run", "channels-last memory format for image models", kind="toggle",
         resumable=True, shown="on for CPU and CUDA"),
]

AE_OPTIONS: list[Option] = [
    _opt("dataset", "--dataset", "data", "dataset, any case: " + ", ".join(DATASETS.names()), choices=DATASETS,
         default="mnist"),
    _opt("model", "--model", "model", "autoencoder model", choices=MODELS, shown="AE (28x28), AE64 (64x64)"),
    _opt("z_dim", ("-z", "--z-dim"), "model", "latent size", kind=int, default=100, valid=LATENT_SIZES),
    _opt("latent_reg", "--latent-reg", "model", "none, or moments: add factor * MSE([mean, variance, kurtosis] of "
         "z, [0, 1, 3]) to the image MSE", choices=LATENT_REGS, default="none"),
    _opt("moments_over", "--moments-over", "model", "dims: moments per latent dimension over the batch, then "
         "averaged; all: over the pooled values", choices=MOMENTS_OVER, default="dims"),
    _opt("factor_start", "--factor-start", "model", "z-term weight in epoch 1", kind=float, default=0.001,
         valid=POSITIVE),
    _opt("factor_growth", "--factor-growth", "model", "its growth per epoch", kind=float, default=2.0,
         valid=POSITIVE),
    _opt("factor_cap", "--factor-cap", "model", "its maximum (reached in epoch 12 by default)", kind=float,
         default=2.048, valid=POSITIVE),
    _opt("epochs", ("-e", "--epochs"), "optimiser", "epochs", kind=int, valid=at_least(1), resumable=True,
         shown="20; with --time-limit, as many as fit"),
    _opt("batch_size", ("-b", "--batch-size"), "optimiser", "batch size", kind=int, default=64, valid=at_least(2)),
    _opt("lr", "--lr", "optimiser", "Adam learning rate", kind=float, default=1e-3, valid=POSITIVE),
    _opt("cdf_samples", "--cdf-samples", "run", "test images whose latents make the per-epoch CDF and KS statistic",
         kind=int, default=2000, valid=at_least(10), metavar="N"),
]


def grouped(options: list[Option]) -> dict[str, list[Option]]:
    """``options`` by group, in the order of GROUPS."""
    return {g: [o for o in options if o.group == g] for g in GROUPS if any(o.group == g for o in options)}


def options_markdown(command: str, options: list[Option]) -> str:
    """The flag table of ``command`` for the docs, one table per group."""
    lines = [f"## `ganforge {command}`", ""]
    for group, members in grouped(options).items():
        lines += [f"### {GROUPS[group].capitalize()}", "", "| flag | meaning | default | on `--resume` |",
                  "|---|---|---|---|"]
        for o in members:
            flag = ", ".join(f"`{f}{' ' + o.metavar if o.metavar else ''}`" for f in o.flags)
            if o.kind == "toggle":
                flag += ", " + ", ".join(f"`--no-{f[2:]}`" for f in o.flags if f.startswith("--"))
            allowed = (" One of " + ", ".join(f"`{c}`" for c in o.choices) + "."
                       if isinstance(o.choices, tuple) and o.kind is str
                       else "")
            lines.append(f"| {flag} | {o.help}.{allowed} | {o.default_text()} | "
                         f"{'may change' if o.resumable else 'kept'} |")
        lines.append("")
    return "\n".join(lines)


def options_page() -> str:
    """docs/training-options.md, made from the declarations above (scripts/build_docs.py writes it)."""
    intro = ["# Training options", "",
             "Generated from `src/ganforge/options.py` by `python scripts/build_docs.py`; do not edit by hand.", "",
             "A default that reads \"the recipe's, else …\" comes from the dataset's recipe when the command line "
             "names no models (`-g`/`-d`); with them, or with `--recipe none`, it is the report's method's value "
             "(per dataset where one is given). The recipes are in [recipes.md](recipes.md). The last column says "
             "whether an option may be given a new value with `--resume RUN`; the others must stay as the run "
             "had them.", ""]
    return "\n".join(intro + [options_markdown("train", TRAIN_OPTIONS + RUN_OPTIONS),
                              options_markdown("train-ae", AE_OPTIONS + RUN_OPTIONS)])
