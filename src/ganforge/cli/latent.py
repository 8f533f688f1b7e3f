"""``ganforge invert``, ``restore``, ``interpolate`` and ``sample``: working with a trained generator."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Optional

from ..animation import video_path
from ..data import DATASETS
from ..device import pick_device
from ..errors import GanforgeError
from ..latent.interpolation import REPORT_ALPHAS
from ..io import output_folder
from ..latent.inversion import OPTIMIZERS
from ..loading import open_generator
from ..latent.masks import MASK_KINDS
from ..models import MODELS
from .common import add_generator, add_out, add_seed, finite_float, int_at_least, registry_type, truncation


def add_parsers(sub) -> None:
    p = sub.add_parser("invert", help="find z with G(z) close to images, from several random restarts at once")
    _generator_args(p)
    _image_args(p)
    _inversion_args(p)
    p.set_defaults(func=cmd_invert)

    p = sub.add_parser("restore", help="fill masked pixels by inverting the generator on the visible ones")
    _generator_args(p)
    _image_args(p)
    _inversion_args(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--mask", choices=MASK_KINDS, help="mask kind (default pepper)")
    group.add_argument("--masks", choices=["all"], help="all three masks, the report's table")
    group.add_argument("--mask-file", help="mask image: black pixels are hidden")
    p.add_argument("--pepper-fraction", type=finite_float, default=0.3, help="share of pixels pepper hides (0.3)")
    p.add_argument("--square-size", type=int_at_least(1, 1024), default=8, help="side of the square mask (8)")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("interpolate", help="decode G(a*z1 + (1-a)*z2) between pairs of images, or between two "
                       "classes at fixed z")
    _generator_args(p)
    p.add_argument("--a", nargs="+", metavar="IMG", help="first image(s): test-split indices or image files (a = 1)")
    p.add_argument("--b", nargs="+", metavar="IMG", help="second image(s), as many as --a (a = 0)")
    p.add_argument("--classes", nargs=2, type=int_at_least(0, 100_000), metavar=("A", "B"),
                   help="a conditional generator: from class B (a = 0) to class A (a = 1) at fixed z, instead of "
                   "images")
    p.add_argument("--rows", type=int_at_least(1, 64), default=4, help="with --classes or --loop: rows, one latent "
                   "(walk) each (4)")
    p.add_argument("--alphas", help="comma-separated a values (default 0,0.125,...,1)")
    p.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    p.add_argument("--video", metavar="FILE", help="also the smooth walk from each row's a = 0 end to its a = 1 end "
                   "as an animation: FILE ends in .gif or .mp4")
    p.add_argument("--loop", type=int_at_least(2, 1000), metavar="N", help="instead of images: --rows walks through "
                   "N random latents and back, as a looping animation (--video, else loop.gif in the output folder)")
    p.add_argument("--frames", type=int_at_least(2, 1000), default=24, help="animation frames from one stop to the "
                   "next (24)")
    p.add_argument("--fps", type=finite_float, default=12.0, help="animation frames a second (12)")
    _inversion_args(p)
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("sample", help="images from a generator, optionally with the truncation trick")
    _generator_args(p)
    p.add_argument("-n", type=int_at_least(1, 10_000), default=64, help="number of images (64)")
    p.add_argument("--truncation", type=truncation, metavar="PSI", help="redraw z components with |z| > PSI")
    p.add_argument("--individual", action="store_true", help="also write one PNG per image")
    p.set_defaults(func=cmd_sample)


def _generator_args(p: argparse.ArgumentParser) -> None:
    add_generator(p)
    p.add_argument("--model", type=registry_type(MODELS), help="model name of a legacy .pt/.pkl state dict")
    p.add_argument("-z", "--z-dim", type=int_at_least(1, 4096), help="latent size of a legacy state dict")
    p.add_argument("--dataset", type=registry_type(DATASETS), help="dataset of a legacy state dict")
    p.add_argument("--class", dest="label", type=int_at_least(0, 100_000), metavar="C",
                   help="a class-conditional generator's class (default: the classes in turn, sample by sample, or "
                        "as often as its training data held them: --class-prior data)")
    p.add_argument("--data-root", help="folder holding the dataset, as for train")
    add_seed(p)
    add_out(p, "runs/<command>-<time>")


def _image_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", type=int_at_least(1, 1000), default=8, help="number of random test-split images (8)")
    p.add_argument("--indices", nargs="+", type=int_at_least(0, 10**9), help="these test-split images instead")
    p.add_argument("--images", nargs="+", metavar="FILE", help="image files (PNG/JPEG) instead")


def _inversion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--iters", type=int_at_least(1, 1_000_000), default=500, help="optimisation iterations (500)")
    p.add_argument("-s", "--restarts", type=int_at_least(1, 10_000), default=5, help="random restarts per image (5)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="adam (default) or sgd (the report's)")
    p.add_argument("--lr", type=finite_float, help="learning rate (adam 0.05, sgd 1.0)")
    p.add_argument("--prior", type=finite_float, default=0.0, help="weight of mean(z^2) in the loss (0)")
    p.add_argument("--prune-after", type=finite_float, metavar="FRACTION",
                   help="after this share of the iterations, continue only each image's best restart")


# The pipelines are imported inside the command functions: with torchvision, torchmetrics and
# matplotlib they take 2-3 s to import, which `--help` and a mistyped flag should not pay.


def _open(args):
    gen = open_generator(args.generator, model=args.model, z_dim=args.z_dim, dataset=args.dataset,
                         device=pick_device(args.device), raw=args.raw_weights)
    return gen.with_class(args.label) if args.label is not None else gen


def _out(args, command: str) -> Path:
    return Path(args.out) if args.out else output_folder(command)


def _options(args):
    from ..pipelines.latent import InversionOptions

    return InversionOptions(restarts=args.restarts, iters=args.iters, optimizer=args.optimizer, lr=args.lr,
                            prior=args.prior, prune_after=args.prune_after, seed=args.seed)


def _picked(gen, args):
    from ..pipelines.inputs import pick_images

    return pick_images(gen, n=args.n, indices=args.indices, files=args.images, seed=args.seed,
                       data_root=args.data_root)


def cmd_invert(args) -> int:
    from ..pipelines.latent import invert_images

    gen, out = _open(args), _out(args, "invert")
    images, names = _picked(gen, args)
    record = invert_images(gen, images, names, _options(args), out)
    for row in record["images"]:
        db = "inf" if row["psnr"] is None else f"{row['psnr']:.2f}"
        print(f"{row['image']:>14}  chosen restart {row['chosen']}  MSE {row['mse']:.5f}  PSNR {db} dB")
    print(f"outputs in {out}")
    return 0


def cmd_restore(args) -> int:
    from ..pipelines.latent import restore_images

    gen, out = _open(args), _out(args, "restore")
    images, names = _picked(gen, args)
    masks = MASK_KINDS if args.masks == "all" else ["file"] if args.mask_file else [args.mask or "pepper"]
    record = restore_images(gen, images, names, _options(args), out, masks=masks, mask_file=args.mask_file,
                            pepper_fraction=args.pepper_fraction, square_size=args.square_size)
    print(f"{'mask':<10} {'hidden':>7} {'PSNR all':>9} {'PSNR hid':>9} {'SSIM all':>9} {'SSIM hid':>9}")
    for kind, r in record["masks"].items():
        print(f"{kind:<10} {r['hidden_fraction']:>7.1%} {_fmt(r['psnr_all'])} {_fmt(r['psnr_hidden'])} "
              f"{_fmt(r['ssim_all'])} {_fmt(r['ssim_hidden'])}")
    print(f"outputs in {out}")
    return 0


def _fmt(x: Optional[float]) -> str:
    return f"{x:>9.3f}" if x is not None else f"{'-':>9}"


def parse_alphas(text: Optional[str]) -> tuple[float, ...]:
    if text is None:
        return REPORT_ALPHAS
    try:
        alphas = tuple(float(a) for a in text.split(",") if a.strip())
    except ValueError:
        raise GanforgeError(f"--alphas must be comma-separated numbers, got {text!r}") from None
    if not alphas or not all(math.isfinite(a) for a in alphas):
        raise GanforgeError(f"--alphas must be finite numbers, got {text!r}")
    return alphas


def cmd_interpolate(args) -> int:
    from ..pipelines.inputs import image_refs
    from ..pipelines.latent import interpolate_images

    alphas = parse_alphas(args.alphas)
    if not 0 < args.fps <= 120:
        raise GanforgeError(f"--fps must be in (0, 120], got {args.fps:g}")
    if args.video:
        video_path(args.video)  # a bad name fails before any work
    if args.loop:
        from ..pipelines.latent import Video, latent_loop

        if args.a or args.b or args.classes:
            raise GanforgeError("--loop walks through random latents: give it without --a, --b or --classes")
        gen, out = _open(args), _out(args, "interpolate")
        video = Video(Path(args.video) if args.video else out / "loop.gif", args.frames, args.fps)
        record = latent_loop(gen, args.loop, args.rows, out, video, slerp=args.slerp, seed=args.seed)
        print(f"outputs in {out}; animation {record['animation']['video']} ({record['animation']['frames']} frames)")
        return 0
    if args.classes:
        from ..pipelines.latent import interpolate_classes

        if args.a or args.b or args.label is not None:
            raise GanforgeError("--classes interpolates at fixed latents: give it without --a, --b or --class")
        if args.video:
            raise GanforgeError("--video animates --a/--b walks and --loop; --classes writes its table only")
        gen, out = _open(args), _out(args, "interpolate")
        interpolate_classes(gen, *args.classes, args.rows, out, alphas=alphas, seed=args.seed)
        print(f"outputs in {out}")
        return 0
    if not args.a or not args.b:
        raise GanforgeError("give --a and --b (images to interpolate between), or --classes A B")
    if len(args.a) != len(args.b):
        raise GanforgeError(f"--a has {len(args.a)} images but --b has {len(args.b)}; give them in pairs")
    gen, out = _open(args), _out(args, "interpolate")
    first, names_a = image_refs(gen, args.a, args.data_root)
    second, names_b = image_refs(gen, args.b, args.data_root)
    from ..pipelines.latent import Video

    video = Video(Path(args.video), args.frames, args.fps) if args.video else None
    interpolate_images(gen, first, second, (names_a, names_b), _options(args), out, alphas=alphas, slerp=args.slerp,
                       video=video)
    print(f"outputs in {out}" + (f"; animation {args.video}" if video else ""))
    return 0


def cmd_sample(args) -> int:
    from ..pipelines.latent import sample_images

    gen, out = _open(args), _out(args, "sample")
    sample_images(gen, args.n, out, truncation=args.truncation, seed=args.seed, individual=args.individual)
    print(f"{args.n} samples" + (f", truncation {args.truncation}" if args.truncation else ""), file=sys.stderr)
    print(f"outputs in {out}")
    return 0
