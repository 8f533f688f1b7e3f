"""The ``ganforge`` command line. Each subcommand is a thin layer over a library function."""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from .. import __version__
from ..errors import GanforgeError
from ..device import keep_freed_memory
from . import demo, evaluate, export, info, latent, report, train
from .common import Parser


def build_parser() -> Parser:
    parser = Parser(prog="ganforge", description="Train, invert and evaluate GANs and autoencoders on small images.")
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    train.add_parser(sub)
    train.add_ae_parser(sub)
    latent.add_parsers(sub)
    evaluate.add_parsers(sub)
    report.add_parsers(sub)
    export.add_parsers(sub)
    demo.add_parsers(sub)
    info.add_parsers(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    keep_freed_memory()  # a training step frees and reallocates the same tensors: keep them mapped
    try:
        return args.func(args)
    except GanforgeError as exc:
        print(f"ganforge: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a disk that fills up or goes away mid-run: the last finished file is intact
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"ganforge: error: cannot write or read a file{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganforge: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
