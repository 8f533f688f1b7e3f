"""``ganforge export``: a run's generator as an ONNX or TorchScript file."""
from __future__ import annotations

from pathlib import Path

from ..loading import open_generator


def add_parsers(sub) -> None:
    p = sub.add_parser("export", help="write a generator as ONNX or TorchScript, with a dynamic batch size")
    p.add_argument("generator", metavar="RUN_OR_FILE", help="run folder or generator file")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="onnx (default) or torchscript")
    p.add_argument("--raw-weights", action="store_true",
                   help="G's own weights, not the moving average of them that a run with --ema keeps")
    p.add_argument("-o", "--out", metavar="FILE",
                   help="output file (default: generator.onnx or generator.pt in the run folder)")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from ..export import SUFFIXES, export_generator

    gen = open_generator(args.generator, raw=args.raw_weights, fast=False)
    where = Path(args.generator)
    folder = where if where.is_dir() else where.parent
    out = Path(args.out) if args.out else folder / f"generator{SUFFIXES[args.format]}"
    meta = export_generator(gen, out, args.format)
    print(f"{args.format}: {meta['model']} ({meta['weights']} weights), z {meta['z_dim']} -> "
          f"{'x'.join(map(str, meta['shape']))}, any batch size")
    print(f"wrote {out}")
    return 0
