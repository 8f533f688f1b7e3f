"""The ``ganforge`` command line. Each subcommand is a thin layer over a library function."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from . import __version__
from .errors import GanforgeError


class Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line and exit code 2, without the usage block."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _registry_type(registry) -> Callable[[str], str]:
    def convert(value: str) -> str:
        try:
            return registry.canonical(value)
        except GanforgeError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = registry.kind
    return convert


def _int_at_least(low: int) -> Callable[[str], int]:
    def convert(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {n}")
        return n

    convert.__name__ = "integer"
    return convert


def _finite_float(value: str) -> float:
    import math

    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return x


# Options that may change when a run is resumed; everything else must stay as the run had it.
RESUMABLE = {"epochs", "device", "quiet", "log_every", "checkpoint_every", "vanish_threshold", "vanish_patience"}


def add_train_parser(sub) -> None:
    from .data import DATASETS
    from .losses import LOSSES
    from .models import MODELS
    from .training.config import UNROLL_MODES

    p = sub.add_parser("train", help="train a GAN (the report's ex2.py flags work as they are)",
                       description="Train a GAN. Options left out take the dataset's defaults.",
                       argument_default=argparse.SUPPRESS)
    p.add_argument("--dataset", type=_registry_type(DATASETS),
                   help=f"dataset, case-insensitive: {', '.join(DATASETS.names())} (default mnist)")
    p.add_argument("-g", "--generator", type=_registry_type(MODELS), help="generator model (see `ganforge models`)")
    p.add_argument("-d", "--discriminator", type=_registry_type(MODELS), help="discriminator model")
    p.add_argument("-l", "--loss", type=_registry_type(LOSSES), help=f"loss: {', '.join(LOSSES.names())} "
                   "(default non_saturated)")
    p.add_argument("-k", "--unroll-steps", type=_int_at_least(0), help="unrolling steps k (default 0: off)")
    p.add_argument("--unroll-mode", choices=UNROLL_MODES,
                   help="restore: the report's look-ahead-and-restore (default); differentiable: Metz et al.")
    p.add_argument("-gs", "--g-steps", type=_int_at_least(1), help="generator steps per batch (default 1)")
    p.add_argument("-ds", "--d-steps", type=_int_at_least(1), help="discriminator steps per batch (default 1)")
    p.add_argument("-e", "--epochs", type=_int_at_least(1), help="epochs (default 10)")
    p.add_argument("-b", "--batch-size", type=_int_at_least(1), help="batch size (default: 64 MNIST, 128 CelebA)")
    p.add_argument("-z", "--z-dim", type=_int_at_least(1), help="latent size (default: the generator's)")
    p.add_argument("--lr-g", type=_finite_float, help="generator learning rate (default 2e-4; CelebA 1e-4)")
    p.add_argument("--lr-d", type=_finite_float, help="discriminator learning rate (default 2e-4; CelebA 4e-4)")
    p.add_argument("--beta1", type=_finite_float, help="Adam beta1 (default 0.5)")
    p.add_argument("--beta2", type=_finite_float, help="Adam beta2 (default 0.999)")
    p.add_argument("--real-label", type=_finite_float,
                   help="target for real images, one-sided label smoothing (default 1.0; CelebA 0.9)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("-o", "--out", help="run folder (default runs/<time>-<dataset>-<G>-<D>-<loss>-k<k>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its last checkpoint; "
                   "only -e, --device and logging options may change")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--data-root", help="folder holding the dataset (torchvision's layout, or images for celeb)")
    p.add_argument("--download", action="store_true", help="download MNIST/Fashion-MNIST through torchvision")
    p.add_argument("--image-size", type=_int_at_least(16), help="CelebA image side (default 64)")
    p.add_argument("--limit", type=_int_at_least(1), help="train on the first N training images only")
    p.add_argument("--log-every", type=_int_at_least(1),
                   help="iterations between metric flushes to CSV and progress bar (default 50)")
    p.add_argument("--checkpoint-every", type=_int_at_least(0),
                   help="also checkpoint every N iterations (default 0: at the end of each epoch)")
    p.add_argument("--vanish-threshold", type=_finite_float,
                   help="G gradient norm below which gradients count as vanishing (default 1e-3)")
    p.add_argument("--vanish-patience", type=_int_at_least(1),
                   help="iterations in a row below the threshold before warning (default 100)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from .training import TrainConfig, train
    from .training.loop import load_run_config

    given = {k: v for k, v in vars(args).items() if k not in ("func", "command", "resume")}
    if getattr(args, "resume", None):
        root = Path(args.resume)
        cfg = load_run_config(root)
        for key, value in given.items():
            if key == "out" and Path(value) == root:
                continue
            if key == "z_dim" and cfg.z_dim != value:
                raise GanforgeError(f"latent size -z {value} does not match the checkpoint in {root} (z = {cfg.z_dim})")
            if key not in RESUMABLE and getattr(cfg, key) != value:
                raise GanforgeError(f"--{key.replace('_', '-')} {value} differs from the run being resumed "
                                    f"({getattr(cfg, key)}); only -e, --device and logging options may change")
            setattr(cfg, key, value)
        cfg.out = str(root)
        train(cfg, resume=root)
    else:
        train(TrainConfig(**given))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import MODELS, build_model, count_parameters, default_shape

    rows = []
    for e in MODELS:
        shape = default_shape(e.meta["family"])
        model = build_model(e.name, role=e.meta["role"], shape=shape, z_dim=e.meta["default_z"])
        z = f"z={e.meta['default_z']}" if e.meta["role"] == "G" else ""
        rows.append((e.name, e.meta["role"], e.meta["family"], f"{count_parameters(model):,}", z, e.meta["about"]))
    _table(("name", "role", "dataset", "parameters", "at", "about"), rows, right={3})
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from .data import DATASETS, DataOptions, load_dataset

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


def _table(header: Sequence[str], rows: list[Sequence[str]], right: set[int] = frozenset()) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        print("  ".join(cells).rstrip())


def build_parser() -> Parser:
    parser = Parser(prog="ganforge", description="Train, invert and evaluate GANs and autoencoders on small images.")
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    add_train_parser(sub)
    p = sub.add_parser("models", help="list registered models with parameter counts")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("data", help="which datasets are present, their sizes, how to get the full ones")
    p.add_argument("--data-root", help="also look for datasets in this folder")
    p.set_defaults(func=cmd_data)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except GanforgeError as exc:
        print(f"ganforge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganforge: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
