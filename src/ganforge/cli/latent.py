"""``ganforge invert``, ``restore``, ``interpolate`` and ``sample``: working with a trained generator."""
from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor

from ..errors import GanforgeError
from .common import finite_float, int_at_least, registry_type


def add_parsers(sub) -> None:
    from ..inversion import OPTIMIZERS
    from ..masks import MASK_KINDS

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
    p.add_argument("--square-size", type=int_at_least(1), default=8, help="side of the square mask (8)")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("interpolate", help="decode G(a*z1 + (1-a)*z2) between pairs of images")
    _generator_args(p)
    p.add_argument("--a", nargs="+", required=True, metavar="IMG",
                   help="first image(s): test-split indices or image files (a = 1)")
    p.add_argument("--b", nargs="+", required=True, metavar="IMG", help="second image(s), as many as --a (a = 0)")
    p.add_argument("--alphas", help="comma-separated a values (default 0,0.125,...,1)")
    p.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    _inversion_args(p)
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("sample", help="images from a generator, optionally with the truncation trick")
    _generator_args(p)
    p.add_argument("-n", type=int_at_least(1), default=64, help="number of images (64)")
    p.add_argument("--truncation", type=float, metavar="PSI", help="redraw z components with |z| > PSI")
    p.add_argument("--individual", action="store_true", help="also write one PNG per image")
    p.set_defaults(func=cmd_sample)
    del OPTIMIZERS


def _generator_args(p: argparse.ArgumentParser) -> None:
    from ..data import DATASETS
    from ..models import MODELS

    p.add_argument("--generator", required=True, metavar="RUN_OR_FILE",
                   help="run folder, generator/checkpoint .safetensors, or a legacy .pt/.pkl state dict")
    p.add_argument("--model", type=registry_type(MODELS), help="model name of a legacy .pt/.pkl state dict")
    p.add_argument("-z", "--z-dim", type=int_at_least(1), help="latent size of a legacy state dict")
    p.add_argument("--dataset", type=registry_type(DATASETS), help="dataset of a legacy state dict")
    p.add_argument("--data-root", help="folder holding the dataset, as for train")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("-o", "--out", help="output folder (default runs/<command>-<time>)")


def _image_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", type=int_at_least(1), default=8, help="number of random test-split images (8)")
    p.add_argument("--indices", nargs="+", type=int_at_least(0), help="these test-split images instead")
    p.add_argument("--images", nargs="+", metavar="FILE", help="image files (PNG/JPEG) instead")


def _inversion_args(p: argparse.ArgumentParser) -> None:
    from ..inversion import OPTIMIZERS

    p.add_argument("-i", "--iters", type=int_at_least(1), default=500, help="optimisation iterations (500)")
    p.add_argument("-s", "--restarts", type=int_at_least(1), default=5, help="random restarts per image (5)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="adam (default) or sgd (the report's)")
    p.add_argument("--lr", type=finite_float, help="learning rate (adam 0.05, sgd 1.0)")
    p.add_argument("--prior", type=finite_float, default=0.0, help="weight of mean(z^2) in the loss (0)")
    p.add_argument("--prune-after", type=finite_float, metavar="FRACTION",
                   help="after this share of the iterations, continue only each image's best restart")


# ---- shared steps ---------------------------------------------------------------------


def _open(args):
    from ..generators import open_generator
    from ..training.runstate import pick_device

    device = pick_device(args.device)
    return open_generator(args.generator, model=args.model, z_dim=args.z_dim, dataset=args.dataset,
                          device=device), device


def _out(args, command: str) -> Path:
    out = Path(args.out or Path("runs") / f"{command}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GanforgeError(f"cannot write to output folder {out}: {exc.strerror or exc}") from None
    return out


def _test_split(gen, args):
    from ..data import DataOptions, load_dataset

    if gen.dataset is None:
        raise GanforgeError("this generator does not say its dataset; pass --dataset, or give --images files")
    side = gen.shape[-1]
    data = load_dataset(gen.dataset, DataOptions(root=Path(args.data_root) if args.data_root else None,
                                                 image_size=side))
    if data.shape != gen.shape:
        raise GanforgeError(f"dataset {gen.dataset} gives {tuple(data.shape)} images but the generator makes "
                            f"{gen.shape}")
    return data


def _select(gen, args) -> tuple[Tensor, list[str]]:
    """The images to work on, (N, C, H, W) in [-1, 1], and a name for each."""
    from ..images import read_images

    if args.images:
        return read_images(args.images, gen.shape), [Path(p).name for p in args.images]
    data = _test_split(gen, args)
    if args.indices:
        bad = [i for i in args.indices if i >= len(data.test)]
        if bad:
            raise GanforgeError(f"--indices {bad[0]} is out of range: the test split has {len(data.test)} images")
        idx = list(args.indices)
    else:
        g = torch.Generator().manual_seed(args.seed)
        idx = torch.randperm(len(data.test), generator=g)[: args.n].tolist()
    return data.test[idx], [f"test[{i}]" for i in idx]


def _resolve_refs(gen, args, refs: list[str]) -> tuple[Tensor, list[str]]:
    """IMG arguments (test-split index or file) -> images and names."""
    from ..images import read_images

    out, names, data = [], [], None
    for ref in refs:
        if ref.isdigit():
            data = data or _test_split(gen, args)
            i = int(ref)
            if i >= len(data.test):
                raise GanforgeError(f"image index {i} is out of range: the test split has {len(data.test)} images")
            out.append(data.test[i][None])
            names.append(f"test[{i}]")
        else:
            out.append(read_images([ref], gen.shape))
            names.append(Path(ref).name)
    return torch.cat(out), names


def _invert(gen, images: Tensor, args, mask: Optional[Tensor] = None):
    from ..inversion import invert

    return invert(gen.G, images, restarts=args.restarts, iters=args.iters, optimizer=args.optimizer, lr=args.lr,
                  prior=args.prior, mask=mask, seed=args.seed, z_dim=gen.z_dim, prune_after=args.prune_after)


def _write_json(path: Path, obj) -> None:
    from ..io import atomic_write_json

    atomic_write_json(path, obj)


def _finite(x: float) -> Optional[float]:
    return round(x, 6) if math.isfinite(x) else None  # JSON has no inf: identical images give PSNR null


# ---- commands -------------------------------------------------------------------------


def cmd_invert(args) -> int:
    from safetensors.torch import save

    from ..io import atomic_write_bytes
    from ..plots import image_table, restart_curves
    from ..quality import psnr

    gen, device = _open(args)
    images, names = _select(gen, args)
    out = _out(args, "invert")
    images = images.to(device)
    result = _invert(gen, images, args)
    (out / "loss_curves").mkdir(exist_ok=True)
    for i, name in enumerate(names):
        restart_curves(out / "loss_curves" / f"image_{i:03d}.png", result.losses[i], int(result.best[i]),
                       title=f"{name}: {args.restarts} restarts")
    image_table(out / "grid.png", torch.stack([images, result.reconstructions]),  # (2, N, C, H, W)
                row_titles=["input", "G(z)"], col_titles=names)
    atomic_write_bytes(out / "z.safetensors", save({"z": result.z.cpu().contiguous(),
                                                    "z_all": result.z_all.cpu().contiguous()},
                                                   metadata={"generator": gen.source, "names": json.dumps(names)}))
    mse = ((result.reconstructions - images) ** 2).flatten(1).mean(1)
    scores = psnr(result.reconstructions, images)
    per_image = [{"image": n, "restart_losses": [round(v, 6) for v in result.final[i].tolist()],
                  "chosen": int(result.best[i]), "mse": round(float(mse[i]), 6), "psnr": _finite(float(scores[i]))}
                 for i, n in enumerate(names)]
    _write_json(out / "results.json", {"generator": gen.source, "restarts": args.restarts, "iters": args.iters,
                                       "optimizer": args.optimizer, "images": per_image,
                                       "mean_mse": round(float(mse.mean()), 6)})
    for row in per_image:
        db = "inf" if row["psnr"] is None else f"{row['psnr']:.2f}"
        print(f"{row['image']:>14}  chosen restart {row['chosen']}  MSE {row['mse']:.5f}  PSNR {db} dB")
    print(f"outputs in {out}")
    return 0


def cmd_restore(args) -> int:
    from ..masks import MASK_KINDS, apply_mask, make_mask, mask_from_file
    from ..plots import image_table
    from ..quality import psnr, ssim

    gen, device = _open(args)
    h, w = gen.shape[-2:]
    if not 1 <= args.square_size <= min(h, w):
        raise GanforgeError(f"--square-size must be between 1 and {min(h, w)}, got {args.square_size}")
    if not 0 <= args.pepper_fraction <= 1:
        raise GanforgeError(f"--pepper-fraction must be in [0, 1], got {args.pepper_fraction}")
    images, names = _select(gen, args)
    out = _out(args, "restore")
    images = images.to(device)
    kinds = list(MASK_KINDS) if args.masks == "all" else ["file"] if args.mask_file else [args.mask or "pepper"]
    g = torch.Generator().manual_seed(args.seed)
    report = {}
    for kind in kinds:
        if kind == "file":
            hidden = mask_from_file(args.mask_file, (h, w)).expand(len(images), h, w)
        else:
            hidden = torch.stack([make_mask(kind, (h, w), generator=g, fraction=args.pepper_fraction,
                                            size=args.square_size) for _ in images])  # (N, H, W)
        if not hidden.any(1).any(1).all():
            raise GanforgeError(f"the {kind} mask hides no pixels of some image; nothing to restore")
        hidden = hidden.to(device)
        masked = apply_mask(images, hidden)
        result = _invert(gen, masked, args, mask=hidden)
        restored = result.reconstructions
        where = hidden[:, None]
        metrics = {
            "psnr_all": psnr(restored, images), "psnr_hidden": psnr(restored, images, where),
            "ssim_all": ssim(restored, images), "ssim_hidden": ssim(restored, images, where),
            "psnr_masked_input": psnr(masked, images),
        }
        image_table(out / f"restore_{kind}.png", torch.stack([images, masked, restored], 1),
                    col_titles=["original", "masked", "restored"], row_titles=names)
        report[kind] = {
            "hidden_fraction": round(float(hidden.float().mean()), 4),
            **{k: _finite(float(v[torch.isfinite(v)].mean())) if torch.isfinite(v).any() else None
               for k, v in metrics.items()},
            "images": [{"image": n, **{k: _finite(float(v[i])) for k, v in metrics.items()}}
                       for i, n in enumerate(names)],
        }
    _write_json(out / "results.json", {"generator": gen.source, "restarts": args.restarts, "iters": args.iters,
                                       "optimizer": args.optimizer, "masks": report})
    print(f"{'mask':<10} {'hidden':>7} {'PSNR all':>9} {'PSNR hid':>9} {'SSIM all':>9} {'SSIM hid':>9}")
    for kind, r in report.items():
        print(f"{kind:<10} {r['hidden_fraction']:>7.1%} {_fmt(r['psnr_all'])} {_fmt(r['psnr_hidden'])} "
              f"{_fmt(r['ssim_all'])} {_fmt(r['ssim_hidden'])}")
    print(f"outputs in {out}")
    return 0


def _fmt(x: Optional[float]) -> str:
    return f"{x:>9.3f}" if x is not None else f"{'-':>9}"


def parse_alphas(text: Optional[str]) -> tuple[float, ...]:
    from ..interpolation import REPORT_ALPHAS

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
    from ..interpolation import interpolate
    from ..plots import image_table

    if len(args.a) != len(args.b):
        raise GanforgeError(f"--a has {len(args.a)} images but --b has {len(args.b)}; give them in pairs")
    alphas = parse_alphas(args.alphas)
    gen, device = _open(args)
    first, names_a = _resolve_refs(gen, args, args.a)
    second, names_b = _resolve_refs(gen, args, args.b)
    out = _out(args, "interpolate")

    def encode(x: Tensor) -> Tensor:  # an autoencoder's encoder, or GAN inversion
        return gen.encoder(x) if gen.encoder is not None else _invert(gen, x.to(device), args).z

    result = interpolate(gen.G, encode, first, second, alphas, spherical=args.slerp)
    rows = [f"{a} -> {b}" for a, b in zip(names_b, names_a)]
    image_table(out / "interpolation.png", result.rows, col_titles=[f"a={a:g}" for a in alphas], row_titles=rows)
    _write_json(out / "results.json", {"generator": gen.source, "alphas": list(alphas), "slerp": args.slerp,
                                       "latents_from": "encoder" if gen.encoder is not None else "inversion",
                                       "formula": "G(a*z1 + (1-a)*z2); z1 from --a, z2 from --b",
                                       "pairs": [{"a": x, "b": y} for x, y in zip(names_a, names_b)]})
    print(f"outputs in {out}")
    return 0


def cmd_sample(args) -> int:
    from safetensors.torch import save

    from ..io import atomic_write_bytes
    from ..images import save_png
    from ..plots import image_grid, scatter_plot
    from ..sampling import sample

    gen, device = _open(args)
    out = _out(args, "sample")
    images, z = sample(gen.G, args.n, gen.z_dim, psi=args.truncation, seed=args.seed, device=device)
    if images.dim() == 2:  # a 2-D toy generator: a scatter plot, and the points themselves
        scatter_plot(out / "samples.png", images.cpu())
        atomic_write_bytes(out / "points.safetensors", save({"points": images.cpu().contiguous()}))
    else:
        image_grid(out / "samples.png", images, nrow=int(max(1, round(args.n ** 0.5))))
    if args.individual and images.dim() == 4:
        (out / "samples").mkdir(exist_ok=True)
        for i, img in enumerate(images):
            save_png(out / "samples" / f"{i:04d}.png", img)
    atomic_write_bytes(out / "z.safetensors", save({"z": z.cpu().contiguous()},
                                                   metadata={"generator": gen.source,
                                                             "truncation": str(args.truncation)}))
    print(f"{args.n} samples" + (f", truncation {args.truncation}" if args.truncation else ""), file=sys.stderr)
    print(f"outputs in {out}")
    return 0
