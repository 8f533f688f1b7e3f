"""``ganforge export``: a run's generator as an ONNX or TorchScript file."""
from __future__ import annotations

from pathlib import Path

from ..loading import open_generator
from .common import add_generator, add_out


def add_parsers(sub) -> None:
    p = sub.add_parser("export", help="write a generator as ONNX or TorchScript, with a dynamic batch size")
    add_generator(p, device=False)
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="onnx (default) or torchscript")
    add_out(p, "generator.onnx or generator.pt beside the generator", metavar="FILE")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from ..pipelines.export import default_export_path, export_generator

    gen = open_generator(args.generator, raw=args.raw_weights, fast=False)
    out = Path(args.out) if args.out else default_export_path(Path(args.generator), args.format)
    meta = export_generator(gen, out, args.format)
    print(f"{args.format}: {meta['model']} ({meta['weights']} weights), z {meta['z_dim']} -> "
          f"{'x'.join(map(str, meta['shape']))}, any batch size")
    print(f"wrote {out}")
    return 0
