"""``ganforge models`` and ``ganforge data``."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import torch

from ..data import DATASETS, DataOptions, load_dataset
from ..errors import GanforgeError
from ..models import MODELS, build_model, count_parameters, default_shape


def add_parsers(sub) -> None:
    p = sub.add_parser("models", help="list registered models with parameter counts")
    p.add_argument("--pretrained", action="store_true",
                   help="the generators that ship with ganforge instead, with their model cards")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("data", help="which datasets are present, their sizes, how to get the full ones")
    p.add_argument("folder", nargs="?", metavar="DIR", help="describe the images in DIR as --images DIR reads them")
    p.add_argument("--data-root", help="also look for datasets in this folder")
    p.set_defaults(func=cmd_data)


def cmd_models(args: argparse.Namespace) -> int:
    if args.pretrained:
        from ..pretrained import cards

        rows = [(name, c["model"], c["dataset"], f"{c['parameters']:,}", c["precision"],
                 ", ".join(f"{k} {v:g}" for k, v in c["metrics"].items()), c["command"]) for name, c in cards().items()]
        table(("name", "model", "dataset", "parameters", "stored as", "measured", "made by"), rows, right={3})
        return 0
    rows = []
    for e in MODELS:
        shape = default_shape(e.meta["family"])
        model = build_model(e.name, role=e.meta["role"], shape=shape, z_dim=e.meta["default_z"])
        z = f"z={e.meta['default_z']}" if e.meta["role"] in ("G", "AE") else ""
        rows.append((e.name, e.meta["role"], e.meta["family"], f"{count_parameters(model):,}", z, e.meta["about"]))
    table(("name", "role", "dataset", "parameters", "at", "about"), rows, right={3})
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    if args.folder:
        return describe_folder(Path(args.folder))
    options = DataOptions(root=Path(args.data_root) if args.data_root else None)
    width = max(len(n) for n in DATASETS.names())
    for e in DATASETS:
        try:
            d = load_dataset(e.name, options)
            status = f"{len(d.train):,} train / {len(d.test):,} test: {d.source}"
        except GanforgeError as exc:
            status = f"missing: {exc}"
        print(f"{e.name:<{width}}  {e.meta['about']}")
        print(f"{'':<{width}}  {status}")
        if e.meta["get"] != "synthetic":
            print(f"{'':<{width}}  full data: {e.meta['get']}")
    return 0


def describe_folder(folder: Path) -> int:
    """What ``--images DIR`` would train on: the split, and each class with its image count."""
    d = load_dataset("images", DataOptions(images=folder))
    print(d.describe())
    if d.train_labels is not None:
        counts = torch.bincount(torch.cat([d.train_labels, d.test_labels]), minlength=len(d.extras["classes"]))
        table(("label", "class", "images"), [(i, name, f"{int(n):,}") for i, (name, n) in
                                              enumerate(zip(d.extras["classes"], counts))], right={0, 2})
    return 0


def table(header: Sequence[str], rows: list[Sequence[str]], right: set[int] = frozenset()) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        print("  ".join(cells).rstrip())
