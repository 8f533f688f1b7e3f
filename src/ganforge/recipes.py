"""Recipes as data: what each option is when a command line leaves it out.

Three tables, read in this order by ``config.resolve`` (a later one wins, an option given wins over all):
the report's method (each option's ``plain`` value in options.py), ``PLAIN_BY_DATASET`` (the report's
own settings for a dataset), then the dataset's recipe in ``RECIPES``, the settings measured best for it.
What was measured to choose each value is in docs/recipes.md and docs/benchmarks/quality.md.
"""
from __future__ import annotations

from typing import Any

# The report's method, per dataset, where it differs from each option's plain value: the CelebA
# rates and the 0.9 real label the report needed there; the toys' batch and rate from the unrolled-GAN papers.
PLAIN_BY_DATASET: dict[str, dict[str, Any]] = {
    "celeb": dict(lr_g=1e-4, lr_d=4e-4, real_label=0.9, batch_size=128),
    "ring": dict(lr_g=1e-4, lr_d=1e-4, batch_size=512),
    "grid": dict(lr_g=1e-4, lr_d=1e-4, batch_size=512),
}

# The models a dataset trains with when neither -g/-d nor a recipe names them: its own pair, else its family's.
MODELS_BY_DATASET: dict[str, tuple[str, str]] = {
    "mnist": ("M4", "M5"), "fashion": ("M1", "M3"), "stacked-mnist": ("M4", "M5"), "celeb": ("M11", "M12"),
    "ring": ("toy-g", "toy-d"), "grid": ("toy-g", "toy-d"),
}

MODELS_BY_FAMILY: dict[str, tuple[str, str]] = {"mnist": ("M4", "M5"), "celeb": ("M11", "M12"),
                                                "toy": ("toy-g", "toy-d")}

# The recipe of a dataset without its own (a folder of your images), by the model family its size takes.
RECIPE_BY_FAMILY: dict[str, str] = {"celeb": "emoji"}

_DIGITS = dict(generator="M4", discriminator="M5", lr_g=1e-3, lr_d=1e-3, ema=10.0)
_MNIST = {**_DIGITS, "pack": 2, "clusters": 20, "r1": 0.01}
_TOYS = dict(generator="pac-g", discriminator="pac-d", pack=4, batch_size=100, lr_g=1e-3, lr_d=1e-3, beta1=0.8,
             ema=10.0)

# Colour pictures at 32-128 px, measured on the emoji set: DCGAN's width-32 pair (a CPU step of about a
# quarter second at 64x64, batch 64), Adam 1e-3, the moving average, and ADA's adaptive augmentation,
# without which D overfits the 3,408 pictures and G collapses between 10 and 30 minutes.
_COLOUR = dict(generator="M10", discriminator="M13", lr_g=1e-3, lr_d=1e-3, batch_size=64, ema=10.0,
               augment="translation,cutout,color", ada_target=0.6, augment_p=0.0)

# `ganforge train --dataset X` runs RECIPES[X] when it names no models (docs/recipes.md says why each value).
RECIPES: dict[str, dict[str, Any]] = {
    "mnist": _MNIST,
    # fewer, broader clusters than MNIST's 20 (recall 0.45 -> 0.64), and D judging single garments: with pairs
    # a step is cheaper but FID at 10 minutes 21.2 against 15.3
    "fashion": {**_MNIST, "clusters": 12, "pack": 1},
    # D judging single triples: KL at 30 minutes 0.038 / 0.044 on seeds 0 / 1, with packs of 2 0.044 / 0.047
    "stacked-mnist": {**_DIGITS, "discriminator": "M5-deep", "pack": 1, "loss": "relativistic", "r1": 1.0, "r2": 1.0},
    "emoji": _COLOUR,
    "cifar10": _COLOUR,  # derived from emoji's, at 32x32; CIFAR-10 cannot be fetched on the measuring machine
    "celeb": {**_COLOUR, "real_label": 1.0},  # the same, for photographs: not measurable offline
    "ring": {**_TOYS, "clusters": 8},
    "grid": {**_TOYS, "clusters": 25, "lr_half_life": 1000.0, "pack_by_class": True},
}

# What a recipe changes under --conditional. Colour categories of a few hundred pictures each: with D
# judging single pictures every category collapsed to one picture (recall 0 at 5 minutes, with or without
# spectral norm or transitional conditioning); D judging pairs of one category sees how varied it is.
# G draws each category as often as the data holds it (emoji's range from 5 pictures to 2,261), takes it in
# every BatchNorm (the category drawn right 81 -> 106 % of the evaluator's rate on real pictures), and the
# rates halve every 200k images (without, recall fell from 0.64 to 0.47 between 10 and 30 minutes).
_CONDITIONAL_COLOUR = dict(pack=2, pack_by_class=True, class_prior="data", class_batchnorm=True, lr_half_life=200.0)
CONDITIONAL_RECIPES: dict[str, dict[str, Any]] = {name: _CONDITIONAL_COLOUR for name in ("emoji", "cifar10", "celeb")}
