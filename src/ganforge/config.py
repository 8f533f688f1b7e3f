"""Training options as config dataclasses made from the options schema (options.py), one function per
command that checks them all and fills what was left out before any work starts, the rules of what
may change on ``--resume``, and reading a run folder's options back."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from .data import DATASETS
from .data.folder import parse_background
from .data.registry import dataset_classes, dataset_family
from .device import DEVICE_CHOICES
from .errors import GanforgeError
from .losses import LOSSES
from .models import MODELS, require_model
from .options import AE_OPTIONS, AUGMENT_KINDS, RUN_OPTIONS, TRAIN_OPTIONS, Option
from .recipes import (CONDITIONAL_RECIPES, MODELS_BY_DATASET, MODELS_BY_FAMILY, PLAIN_BY_DATASET, RECIPE_BY_FAMILY,
                      RECIPES)
from .records import read_record


def _config_class(name: str, options: list[Option], doc: str) -> type:
    """A config dataclass with one field per option, defaulting to the option's ``default`` (None for the
    options a recipe may set: ``resolve`` fills them)."""
    fields = [(o.name, Any, dataclasses.field(default=None if o.recipe else o.default)) for o in options]
    return dataclasses.make_dataclass(name, fields, namespace={"__module__": __name__, "__doc__": doc,
                                                               "to_dict": dataclasses.asdict})


RunOptions = _config_class("RunOptions", RUN_OPTIONS, "Options every training command shares.")
TrainConfig = _config_class("TrainConfig", RUN_OPTIONS + TRAIN_OPTIONS, "The options of ``ganforge train``.")
AEConfig = _config_class("AEConfig", RUN_OPTIONS + AE_OPTIONS, "The options of ``ganforge train-ae``.")
SCHEMA = {TrainConfig: RUN_OPTIONS + TRAIN_OPTIONS, AEConfig: RUN_OPTIONS + AE_OPTIONS}
RECORD_KIND = {TrainConfig: "gan-run", AEConfig: "ae-run"}

# The report's method: what each option a recipe may set is when neither the options given nor a recipe set it.
PLAIN: dict[str, Any] = {o.name: o.plain for o in TRAIN_OPTIONS if o.recipe and o.plain is not None}


def resolve(cfg: TrainConfig) -> TrainConfig:
    """Check every option and fill dataset- and model-dependent defaults; GanforgeError if bad."""
    cfg = dataclasses.replace(cfg)
    _data(cfg)
    family = dataset_family(cfg.dataset, cfg.image_size)
    if cfg.recipe is None:
        own = cfg.dataset if cfg.dataset in RECIPES else RECIPE_BY_FAMILY.get(family, "none")
        cfg.recipe = "none" if cfg.generator or cfg.discriminator else own
    if cfg.recipe != "none" and cfg.recipe not in RECIPES:
        raise GanforgeError(f"unknown --recipe {cfg.recipe!r}; valid: {', '.join(RECIPES)}, none")
    g, d = MODELS_BY_DATASET.get(cfg.dataset) or MODELS_BY_FAMILY[family]
    chosen = {"generator": g, "discriminator": d, **PLAIN, **PLAIN_BY_DATASET.get(cfg.dataset, {}),
              **RECIPES.get(cfg.recipe, {}), **(CONDITIONAL_RECIPES.get(cfg.recipe, {}) if cfg.conditional else {})}
    if cfg.conditional and cfg.clusters is None:
        cfg.clusters = 0  # labels, where asked for, take the place of a recipe's clusters
    asked_class_packs, asked_label, asked_pack = cfg.pack_by_class, cfg.real_label is not None, cfg.pack is not None
    asked_class_bn = cfg.class_batchnorm
    for key, value in chosen.items():
        if getattr(cfg, key) is None:
            setattr(cfg, key, value)
    cfg.loss = LOSSES.canonical(cfg.loss)
    cfg.generator = require_model(cfg.generator, role="G", family=family, dataset=cfg.dataset, flag="-g")
    cfg.discriminator = require_model(cfg.discriminator, role="D", family=family, dataset=cfg.dataset, flag="-d")
    if cfg.z_dim is None:
        cfg.z_dim = MODELS.entry(cfg.generator).meta["default_z"]
    _epochs_and_time(cfg, 10)
    check_options(cfg)
    if cfg.real_label != 1 and cfg.loss == "relativistic":
        if asked_label:
            raise GanforgeError(f"-l relativistic compares logits and has no real label to smooth; drop "
                                f"--real-label {cfg.real_label:g}")
        cfg.real_label = 1.0  # the report's CelebA smoothing has no meaning for a paired loss
    kinds = [k for k in cfg.augment.split(",") if k]
    if cfg.augment != "none" and (not kinds or any(k not in AUGMENT_KINDS for k in kinds)):
        raise GanforgeError(f"--augment takes none or comma-separated kinds of {', '.join(AUGMENT_KINDS)}, "
                            f"got {cfg.augment!r}")
    if cfg.conditional and dataset_classes(cfg.dataset) == 0:  # None: the data says (class subfolders)
        labelled = ", ".join(e.name for e in DATASETS if e.meta["classes"] != 0)
        raise GanforgeError(f"--conditional needs a labelled dataset ({labelled}); {cfg.dataset} has no labels")
    if cfg.clusters == 1:
        raise GanforgeError("--clusters must be 0 (none) or at least 2, got 1")
    if cfg.clusters and cfg.conditional:
        raise GanforgeError("--clusters conditions on clusters of the data and --conditional on its labels: give "
                            "one of them")
    if cfg.batch_size % cfg.pack:
        whose = "" if asked_pack else f"the {cfg.recipe} recipe's "
        raise GanforgeError(f"-b {cfg.batch_size} must be divisible by {whose}--pack {cfg.pack} (D judges packs of "
                            "samples)" + ("" if asked_pack else "; give another -b, or --pack 1"))
    if cfg.pack_by_class and (cfg.pack < 2 or not (cfg.clusters or cfg.conditional)):
        if asked_class_packs:
            raise GanforgeError("--pack-by-class needs --pack of at least 2 and classes (--conditional or --clusters)")
        cfg.pack_by_class = False  # the recipe's, for packs of classes the options given leave out
    if cfg.class_batchnorm and not (cfg.clusters or cfg.conditional):
        if asked_class_bn:
            raise GanforgeError("--class-batchnorm needs classes (--conditional or --clusters)")
        cfg.class_batchnorm = False
    return cfg


def resolve_ae(cfg: AEConfig) -> AEConfig:
    """``resolve`` for ``train-ae``."""
    cfg = dataclasses.replace(cfg)
    _data(cfg)
    family = dataset_family(cfg.dataset, cfg.image_size)
    if family == "toy":
        raise GanforgeError(f"the autoencoder is for images; {cfg.dataset} is 2-D points")
    cfg.model = require_model(cfg.model or ("AE" if family == "mnist" else "AE64"), role="AE", family=family,
                              dataset=cfg.dataset, flag="--model")
    _epochs_and_time(cfg, 20)
    check_options(cfg)
    return cfg


def _data(cfg: Any) -> None:
    """The dataset's name, with --images; the image size it can take."""
    cfg.dataset = DATASETS.canonical(cfg.dataset)
    if cfg.images is not None:
        if cfg.dataset not in ("mnist", "images"):  # mnist: the default, not a choice
            raise GanforgeError(f"--images trains on a folder of images; give it without --dataset {cfg.dataset}")
        cfg.dataset = "images"
    parse_background(cfg.background)
    entry = DATASETS.entry(cfg.dataset)
    if cfg.image_size is None:
        cfg.image_size = entry.meta["size"]
    size = cfg.image_size
    by_size = entry.meta["family"] == "by-size"
    if isinstance(size, int) and not (size & (size - 1) == 0 or (size == 28 and by_size)):
        raise GanforgeError(f"--image-size must be a power of two (or 28, for folder and emoji images), got {size}")


def check_options(cfg: Any) -> None:
    """Every option of ``cfg`` against its declaration: integers and numbers in range, choices among
    the allowed ones, a known device. GanforgeError naming the flag if one is bad."""
    for o in SCHEMA[type(cfg)]:
        value = getattr(cfg, o.name)
        if value is None:
            continue
        if o.valid is not None:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or (o.kind is int and not isinstance(value, int)) or value not in o.valid:
                raise GanforgeError(f"{o.flag} must be {o.valid}, got {value}")
        if isinstance(o.choices, tuple) and value not in o.choices:
            raise GanforgeError(f"unknown {o.flag} {value!r}; valid: {', '.join(o.choices)}")
    if cfg.device not in ("auto", "cpu", "mps") and not cfg.device.startswith("cuda"):
        raise GanforgeError(f"unknown device {cfg.device!r}; valid: {DEVICE_CHOICES}")


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


def given_options(cfg: Any) -> dict[str, Any]:
    """The options of ``cfg`` that differ from their defaults: what a caller asked for."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != f.default}


def resumed(cfg: Config, root: Path) -> Config:
    """The options of the run in folder ``root``, with those ``cfg`` gives (its options that differ from
    the defaults) applied where they may change on --resume; GanforgeError where one may not."""
    saved = load_config(type(cfg), root, RECORD_KIND[type(cfg)])
    declared = {o.name: o for o in SCHEMA[type(cfg)]}
    for key, value in given_options(cfg).items():
        if key == "out" and Path(value) == root:
            continue
        if key == "z_dim" and saved.z_dim != value:
            raise GanforgeError(f"latent size -z {value} does not match the checkpoint in {root} (z = {saved.z_dim})")
        if not declared[key].resumable and getattr(saved, key) != value:
            raise GanforgeError(f"{declared[key].flags[-1]} {value} differs from the run being resumed "
                                f"({getattr(saved, key)}); only " + ", ".join(o.flags[-1] for o in declared.values()
                                                                             if o.resumable) + " may change")
        setattr(saved, key, value)
    saved.out = str(root)
    return saved


def _epochs_and_time(cfg: Any, default_epochs: int) -> None:
    """Epochs default to ``default_epochs``, or to as many as fit in --time-limit when one is given."""
    if cfg.epochs is None and cfg.time_limit is None:
        cfg.epochs = default_epochs
