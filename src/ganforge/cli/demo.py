"""``ganforge demo``: a local web page to sample, interpolate and restore with a generator."""
from __future__ import annotations

from ..device import pick_device
from ..loading import open_generator
from .common import add_generator, int_at_least


def add_parsers(sub) -> None:
    p = sub.add_parser("demo", help="serve a local web page to sample, interpolate and restore with a generator "
                       "(pip install 'ganforge[demo]')")
    add_generator(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int_at_least(0, 65535), default=8000, help="port (8000; 0: any free one)")
    p.add_argument("--max-upload-kb", type=int_at_least(1, 51_200), default=2048,
                   help="largest upload accepted (2048 KB)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from ..demo import serve

    gen = open_generator(args.generator, device=pick_device(args.device), raw=args.raw_weights)
    serve(gen, host=args.host, port=args.port, max_upload=args.max_upload_kb * 1024,
          ready=lambda address: print(f"ganforge demo of {gen.source} at {address} (Ctrl-C stops it)", flush=True))
    return 0
