"""``ganforge train`` and ``ganforge train-ae``: flags from the options schema, one library call."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import AEConfig, TrainConfig
from ..console import is_main_process
from ..options import AE_OPTIONS, RUN_OPTIONS, TRAIN_OPTIONS
from .common import add_options


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a GAN (the report's ex2.py flags work as they are)",
                       description="Train a GAN. Without -g/-d, options left out take the dataset's recipe (the "
                       "settings measured best for it); with them, or with --recipe none, the report's method.",
                       argument_default=argparse.SUPPRESS)
    _resume_flag(p)
    add_options(p, TRAIN_OPTIONS + RUN_OPTIONS)
    p.set_defaults(func=cmd_train)


def add_ae_parser(sub) -> None:
    p = sub.add_parser("train-ae", help="train the report's autoencoder, optionally moment-matching z to N(0, 1)",
                       description="Train an autoencoder. --latent-reg moments adds factor * MSE([mean, variance, "
                       "kurtosis] of z, [0, 1, 3]) to the image MSE.", argument_default=argparse.SUPPRESS)
    _resume_flag(p)
    add_options(p, AE_OPTIONS + RUN_OPTIONS)
    p.set_defaults(func=cmd_train_ae)


def _resume_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its last checkpoint; "
                   "only the options marked so in docs/training-options.md may change")


def given_options(args: argparse.Namespace) -> dict:
    """The options a command line gave (the parser leaves the others out)."""
    return {k: v for k, v in vars(args).items() if k not in ("func", "command", "resume")}


# Training is imported inside the command functions: see cli/latent.py.


def cmd_train(args: argparse.Namespace) -> int:
    from ..training import train

    return _train(train, TrainConfig, args)


def cmd_train_ae(args: argparse.Namespace) -> int:
    from ..training import train_ae

    return _train(train_ae, AEConfig, args)


def _train(train, cls, args: argparse.Namespace) -> int:
    """Start a run with the options given, or continue the ``--resume`` run with them."""
    resume = Path(args.resume) if getattr(args, "resume", None) else None
    run = train(cls(**given_options(args)), resume=resume)
    if is_main_process():
        print(f"outputs in {run}")
    return 0
