"""``ganforge train``."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import LATENT_REGS, MOMENTS_OVER, RECIPES, SPECTRAL_NORM, UNROLL_MODES, AEConfig, TrainConfig, load_config
from ..console import is_main_process
from ..data import DATASETS
from ..errors import GanforgeError
from ..losses import LOSSES
from ..models import MODELS
from .common import finite_float, int_at_least, registry_type

# Options that may change when a run is resumed; everything else must stay as the run had it.
RESUMABLE = {"epochs", "time_limit", "device", "quiet", "tensorboard", "log_every", "checkpoint_every", "vanish_threshold",
             "vanish_patience",
             "compile", "amp", "channels_last"}


# The stabilisers' flags: (flag, type or choices, metavar, help). Each defaults to the recipe's value.
STABILISERS = [
    ("--r1", finite_float, "GAMMA",
     "R1 gradient penalty on real samples, gamma/2 * E|grad D(x)|^2 (default: the recipe's, else 0: none)"),
    ("--r2", finite_float, "GAMMA", "R2: the same on generated samples (default: the recipe's, else 0)"),
    ("--reg-every", int_at_least(1), "N",
     "lazy regularisation: the penalties every N iterations, scaled by N (default: the recipe's, else 16)"),
    ("--spectral-norm", SPECTRAL_NORM, None,
     "spectral normalisation of every weight layer of D, G or both (default: the recipe's, else none)"),
    ("--pack", int_at_least(1), "M",
     "PacGAN: D judges M samples at a time, concatenated along channels (default: the recipe's, else 1)"),
    ("--augment", None, "KINDS", "differentiable augmentation of all D sees: none, or comma-separated translation, "
     "cutout, color (default: the recipe's, else none)"),
    ("--augment-p", finite_float, "P",
     "probability of each augmentation per sample (default 1; the start value with --ada-target)"),
    ("--ada-target", finite_float, "R",
     "adapt the probability so that E[sign D(real)] stays near R, as ADA does (0.6 there)"),
    ("--ema", finite_float, "KIMG", "keep a moving average of G's weights with this half-life in thousands of "
     "images, used by sample grids and every later command (default: the recipe's, else 0: none)"),
    ("--ema-rampup", finite_float, "R",
     "warm-up: the half-life is at most R times the images seen so far (default 0.05)"),
    ("--lr-half-life", finite_float, "KIMG", "both learning rates halve every KIMG thousand training images "
     "(default: the recipe's, else 0: constant)"),
]


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a GAN (the report's ex2.py flags work as they are)",
                       description="Train a GAN. Without -g/-d, options left out take the dataset's recipe (the "
                       "settings measured best for it); with them, or with --recipe none, the report's method.",
                       argument_default=argparse.SUPPRESS)
    p.add_argument("--dataset", type=registry_type(DATASETS),
                   help=f"dataset, case-insensitive: {', '.join(DATASETS.names())} (default mnist)")
    p.add_argument("--recipe", choices=[*RECIPES, "none"],
                   help="whose recipe fills the options left out: a dataset's, or none (the report's method); "
                   "default: the dataset's, unless -g or -d is given")
    p.add_argument("-g", "--generator", type=registry_type(MODELS), help="generator model (see `ganforge models`)")
    p.add_argument("-d", "--discriminator", type=registry_type(MODELS), help="discriminator model")
    p.add_argument("-l", "--loss", type=registry_type(LOSSES), help=f"loss: {', '.join(LOSSES.names())} "
                   "(default: the recipe's, else non_saturated)")
    p.add_argument("-k", "--unroll-steps", type=int_at_least(0), help="unrolling steps k (default 0: off)")
    p.add_argument("--unroll-mode", choices=UNROLL_MODES,
                   help="restore: the report's look-ahead-and-restore (default); differentiable: Metz et al.")
    p.add_argument("-gs", "--g-steps", type=int_at_least(1), help="generator steps per batch (default 1)")
    p.add_argument("-ds", "--d-steps", type=int_at_least(1), help="discriminator steps per batch (default 1)")
    p.add_argument("-e", "--epochs", type=int_at_least(1),
                   help="epochs (default 10; with --time-limit, as many as fit)")
    p.add_argument("-b", "--batch-size", type=int_at_least(1),
                   help="batch size (default: the recipe's, else 64; CelebA 128, toys 512)")
    p.add_argument("-z", "--z-dim", type=int_at_least(1), help="latent size (default: the generator's)")
    p.add_argument("--lr-g", type=finite_float,
                   help="generator learning rate (default: the recipe's, else 2e-4; CelebA 1e-4, toys 1e-4)")
    p.add_argument("--lr-d", type=finite_float,
                   help="discriminator learning rate (default: the recipe's, else 2e-4; CelebA 4e-4, toys 1e-4)")
    p.add_argument("--beta1", type=finite_float, help="Adam beta1 (default: the recipe's, else 0.5)")
    p.add_argument("--beta2", type=finite_float, help="Adam beta2 (default: the recipe's, else 0.999)")
    p.add_argument("--real-label", type=finite_float,
                   help="target for real images, one-sided label smoothing (default: the recipe's, else 1.0; "
                   "CelebA 0.9)")
    _run_options(p, out="runs/<time>-<dataset>-<G>-<D>-<loss>-k<k>")
    p.add_argument("--vanish-threshold", type=finite_float,
                   help="G gradient norm below which gradients count as vanishing (default 1e-3)")
    p.add_argument("--vanish-patience", type=int_at_least(1),
                   help="iterations in a row below the threshold before warning (default 100)")
    for flag, kind, metavar, text in STABILISERS:
        p.add_argument(flag, metavar=metavar, help=text, **({"choices": kind} if isinstance(kind, tuple) else
                                                            {"type": kind} if kind else {}))
    p.add_argument("--conditional", action="store_true",
                   help="class-conditional: G takes a class too, D gets a projection head (mnist, fashion, "
                   "stacked-mnist)")
    p.add_argument("--clusters", type=int_at_least(0), metavar="K",
                   help="self-conditioning: class-conditional on K k-means clusters of the training data, found "
                   "before training (no labels used); G draws clusters as often as they occur (default: the "
                   "recipe's, else 0: none)")
    p.add_argument("--pack-by-class", action=argparse.BooleanOptionalAction,
                   help="with --pack and classes (--conditional or --clusters): each pack D judges holds samples of "
                   "one class, so D sees how varied a class is (default: the recipe's, else off)")
    p.add_argument("--sync-bn", action="store_true",
                   help="under torchrun: BatchNorm statistics over the global batch of all processes")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile G and D (D stays eager under --r1/--r2 and differentiable unrolling, "
                        "which differentiate twice; worth it for long GPU runs)")
    p.add_argument("--amp", choices=("bf16",), help="autocast the training step to bfloat16 (CUDA GPUs with bf16)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                   help="channels-last memory format for image models (default: on for CPU and CUDA)")
    p.set_defaults(func=cmd_train)


def _run_options(p: argparse.ArgumentParser, *, out: str) -> None:
    """The flags of ``RunOptions``, which every training command has."""
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("-o", "--out", help=f"run folder (default {out})")
    p.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its last checkpoint; "
                   "only -e, --time-limit, --device and logging options may change")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--data-root", help="folder holding the dataset (torchvision's layout, or images for celeb)")
    p.add_argument("--download", action="store_true", help="download MNIST/Fashion-MNIST through torchvision")
    p.add_argument("--image-size", type=int_at_least(16), help="CelebA image side (default 64)")
    p.add_argument("--limit", type=int_at_least(1), help="train on the first N training images only")
    p.add_argument("--log-every", type=int_at_least(1),
                   help="iterations between metric flushes to CSV and progress bar (default 50)")
    p.add_argument("--checkpoint-every", type=int_at_least(0),
                   help="also checkpoint every N iterations (default 0: at the end of each epoch)")
    p.add_argument("--time-limit", type=finite_float, metavar="MINUTES",
                   help="stop after this much training time, writing checkpoint, generator, figures and summary "
                   "as at an epoch end; --resume continues")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files (curves, sample grids, options) into RUN/tensorboard")


def resumed_config(cls, kind: str, args: argparse.Namespace):
    """The config of the run ``args.resume`` (a ``kind`` record), with the options given now checked and applied."""
    root = Path(args.resume)
    cfg = load_config(cls, root, kind)
    for key, value in given_options(args).items():
        if key == "out" and Path(value) == root:
            continue
        if key == "z_dim" and cfg.z_dim != value:
            raise GanforgeError(f"latent size -z {value} does not match the checkpoint in {root} (z = {cfg.z_dim})")
        if key not in RESUMABLE and getattr(cfg, key) != value:
            raise GanforgeError(f"--{key.replace('_', '-')} {value} differs from the run being resumed "
                                f"({getattr(cfg, key)}); only -e, --time-limit, --device and logging options "
                                "may change")
        setattr(cfg, key, value)
    cfg.out = str(root)
    return cfg


def given_options(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if k not in ("func", "command", "resume")}


# Training is imported inside the command functions: see cli/latent.py.


def cmd_train(args: argparse.Namespace) -> int:
    from ..training import train

    return _train(train, TrainConfig, "gan-run", args)


def _train(train, cls, kind: str, args: argparse.Namespace) -> int:
    """Start a run with the options given, or continue the ``--resume`` run (a ``kind`` record)."""
    if getattr(args, "resume", None):
        run = train(resumed_config(cls, kind, args), resume=Path(args.resume))
    else:
        run = train(cls(**given_options(args)))
    if is_main_process():
        print(f"outputs in {run}")
    return 0


def add_ae_parser(sub) -> None:
    p = sub.add_parser("train-ae", help="train the report's autoencoder, optionally moment-matching z to N(0, 1)",
                       description="Train an autoencoder. --latent-reg moments adds factor * MSE([mean, variance, "
                       "kurtosis] of z, [0, 1, 3]) to the image MSE.", argument_default=argparse.SUPPRESS)
    p.add_argument("--dataset", type=registry_type(DATASETS), help="dataset (default mnist)")
    p.add_argument("--model", type=registry_type(MODELS), help="AE (28x28, default) or AE64")
    p.add_argument("-e", "--epochs", type=int_at_least(1),
                   help="epochs (default 20; with --time-limit, as many as fit)")
    p.add_argument("-b", "--batch-size", type=int_at_least(2), help="batch size (default 64)")
    p.add_argument("-z", "--z-dim", type=int_at_least(1), help="latent size (default 100)")
    p.add_argument("--lr", type=finite_float, help="Adam learning rate (default 1e-3)")
    p.add_argument("--latent-reg", choices=LATENT_REGS, help="none (default) or moments")
    p.add_argument("--moments-over", choices=MOMENTS_OVER,
                   help="dims: per latent dimension over the batch, then averaged (default); all: pooled values")
    p.add_argument("--factor-start", type=finite_float, help="z-term weight in epoch 1 (default 0.001)")
    p.add_argument("--factor-growth", type=finite_float, help="its growth per epoch (default 2)")
    p.add_argument("--factor-cap", type=finite_float, help="its maximum (default 2.048, reached in epoch 12)")
    _run_options(p, out="runs/<time>-ae-<dataset>-<reg>")
    p.set_defaults(func=cmd_train_ae)


def cmd_train_ae(args: argparse.Namespace) -> int:
    from ..training import train_ae

    return _train(train_ae, AEConfig, "ae-run", args)
