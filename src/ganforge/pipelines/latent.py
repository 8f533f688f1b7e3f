"""Pipelines over a frozen generator: invert images, restore masked ones, interpolate between pairs,
draw samples. Each takes tensors and options, returns its record, and writes its files into ``out``."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from safetensors.torch import save
from torch import Tensor

from ..errors import GanforgeError
from ..latent.fidelity import psnr, ssim
from ..animation import grid_frames, write_animation
from ..latent.interpolation import REPORT_ALPHAS, interpolate, walk
from ..latent.inversion import InversionResult, invert
from ..io import atomic_write_bytes, make_folder
from ..loading import OpenedGenerator
from ..latent.masks import MASK_KINDS, apply_mask, make_mask, mask_from_file
from ..plots import image_grid, image_table, restart_curves, save_png, scatter_plot
from ..records import write_record
from ..latent.sampling import sample


@dataclass(frozen=True)
class InversionOptions:
    restarts: int = 5
    iters: int = 500
    optimizer: str = "adam"  # or "sgd", the report's
    lr: Optional[float] = None  # None: the optimiser's default (adam 0.05, sgd 1.0)
    prior: float = 0.0  # weight of mean(z^2)
    prune_after: Optional[float] = None  # share of iters after which only each image's best restart continues
    seed: int = 0

    def fields(self) -> dict[str, Any]:
        return {"restarts": self.restarts, "iters": self.iters, "optimizer": self.optimizer}


def _invert(gen: OpenedGenerator, images: Tensor, options: InversionOptions,
            hidden: Optional[Tensor] = None) -> InversionResult:
    return invert(gen.G, images, restarts=options.restarts, iters=options.iters, optimizer=options.optimizer,
                  lr=options.lr, prior=options.prior, hidden=hidden, seed=options.seed, z_dim=gen.z_dim,
                  prune_after=options.prune_after)


def _source(gen: OpenedGenerator) -> dict[str, Any]:
    """Which generator a record's results came from (and which class, for a conditional one)."""
    return {"generator": gen.source, **({"class": gen.label} if gen.classes else {})}


def _finite(x: float) -> Optional[float]:
    return round(x, 6) if math.isfinite(x) else None  # JSON has no inf: identical images give PSNR null


def invert_images(gen: OpenedGenerator, images: Tensor, names: Sequence[str], options: InversionOptions,
                  out: Path) -> dict[str, Any]:
    """Invert ``gen`` on ``images`` (N, C, H, W); writes loss curves, grid.png, z.safetensors and
    results.json (an ``inversion`` record, which is returned)."""
    out = make_folder(out)
    images = images.to(gen.device)
    result = _invert(gen, images, options)
    curves = make_folder(out / "loss_curves")
    for i, name in enumerate(names):
        restart_curves(curves / f"image_{i:03d}.png", result.losses[i], int(result.best[i]),
                       title=f"{name}: {options.restarts} restarts")
    image_table(out / "grid.png", torch.stack([images, result.reconstructions]),  # (2, N, C, H, W)
                row_titles=["input", "G(z)"], col_titles=list(names))
    latents = {"z": result.z.cpu().contiguous(), "z_all": result.z_all.cpu().contiguous()}
    atomic_write_bytes(out / "z.safetensors",
                       save(latents, metadata={"generator": gen.source, "names": json.dumps(list(names))}))
    mse = ((result.reconstructions - images) ** 2).flatten(1).mean(1)
    scores = psnr(result.reconstructions, images)
    record = {**_source(gen), **options.fields(), "mean_mse": round(float(mse.mean()), 6),
              "images": [{"image": n, "restart_losses": [round(v, 6) for v in result.final[i].tolist()],
                          "chosen": int(result.best[i]), "mse": round(float(mse[i]), 6),
                          "psnr": _finite(float(scores[i]))} for i, n in enumerate(names)]}
    write_record(out / "results.json", "inversion", record)
    return record


def restore_images(gen: OpenedGenerator, images: Tensor, names: Sequence[str], options: InversionOptions, out: Path,
                   *, masks: Sequence[str] = ("pepper",), mask_file: Optional[str] = None,
                   pepper_fraction: float = 0.3, square_size: int = 8) -> dict[str, Any]:
    """Hide pixels of ``images`` with each mask kind in ``masks`` ("file": the black pixels of
    ``mask_file``), fit z on the visible pixels, and measure G(z) against the originals; writes a
    figure per mask and results.json (a ``restoration`` record, which is returned)."""
    h, w = gen.shape[-2:]
    if not 1 <= square_size <= min(h, w):
        raise GanforgeError(f"--square-size must be between 1 and {min(h, w)}, got {square_size}")
    if not 0 <= pepper_fraction <= 1:
        raise GanforgeError(f"--pepper-fraction must be in [0, 1], got {pepper_fraction}")
    unknown = [k for k in masks if k not in (*MASK_KINDS, "file")]
    if unknown:
        raise GanforgeError(f"unknown mask {unknown[0]!r}; valid: {', '.join(MASK_KINDS)}, file")
    out = make_folder(out)
    images = images.to(gen.device)
    g = torch.Generator().manual_seed(options.seed)
    report = {}
    for kind in masks:
        if kind == "file":
            hidden = mask_from_file(mask_file, (h, w)).expand(len(images), h, w)
        else:
            hidden = torch.stack([make_mask(kind, (h, w), generator=g, fraction=pepper_fraction, size=square_size)
                                  for _ in images])  # (N, H, W)
        if not hidden.any(1).any(1).all():
            raise GanforgeError(f"the {kind} mask hides no pixels of some image; nothing to restore")
        hidden = hidden.to(gen.device)
        masked = apply_mask(images, hidden)
        restored = _invert(gen, masked, options, hidden=hidden).reconstructions
        where = hidden[:, None]
        metrics = {
            "psnr_all": psnr(restored, images), "psnr_hidden": psnr(restored, images, where),
            "ssim_all": ssim(restored, images), "ssim_hidden": ssim(restored, images, where),
            "psnr_masked_input": psnr(masked, images),
        }
        image_table(out / f"restore_{kind}.png", torch.stack([images, masked, restored], 1),
                    col_titles=["original", "masked", "restored"], row_titles=list(names))
        report[kind] = {
            "hidden_fraction": round(float(hidden.float().mean()), 4),
            **{k: _finite(float(v[torch.isfinite(v)].mean())) if torch.isfinite(v).any() else None
               for k, v in metrics.items()},
            "images": [{"image": n, **{k: _finite(float(v[i])) for k, v in metrics.items()}}
                       for i, n in enumerate(names)],
        }
    record = {**_source(gen), **options.fields(), "masks": report}
    write_record(out / "results.json", "restoration", record)
    return record


@dataclass(frozen=True)
class Video:
    """An animation of a latent walk: where it goes, frames per leg, frames a second."""

    path: Path
    steps: int = 24
    fps: float = 12.0


def _walk_video(gen: OpenedGenerator, stops: Tensor, video: Video, *, spherical: bool, closed: bool) -> dict:
    """The walk through ``stops`` (S, P, z) as an animation, the P walks side by side in each frame."""
    frames = walk(gen.G, stops.to(gen.device), video.steps, spherical=spherical, closed=closed)
    write_animation(video.path, grid_frames(frames, nrow=stops.shape[1]), fps=video.fps)
    return {"video": str(video.path.resolve()), "frames": len(frames), "fps": video.fps, "frames_per_leg": video.steps}


def interpolate_images(gen: OpenedGenerator, first: Tensor, second: Tensor, names: tuple[Sequence[str], Sequence[str]],
                       options: InversionOptions, out: Path, *, alphas: Sequence[float] = REPORT_ALPHAS,
                       slerp: bool = False, video: Optional[Video] = None) -> dict[str, Any]:
    """One row per pair: G(a*z1 + (1-a)*z2) for each a, z1 from ``first`` and z2 from ``second`` (by the
    autoencoder's encoder, or by inversion); writes interpolation.png and results.json, and with ``video``
    the smooth walk from every row's a = 0 end to its a = 1 end, the rows side by side."""
    out = make_folder(out)

    def encode(x: Tensor) -> Tensor:  # an autoencoder's encoder, or GAN inversion
        return gen.encoder(x) if gen.encoder is not None else _invert(gen, x.to(gen.device), options).z

    result = interpolate(gen.G, encode, first, second, alphas, spherical=slerp)
    names_a, names_b = names
    image_table(out / "interpolation.png", result.rows, col_titles=[f"a={a:g}" for a in result.alphas],
                row_titles=[f"{b} -> {a}" for a, b in zip(names_a, names_b)])
    record = {**_source(gen), "alphas": list(result.alphas), "slerp": slerp,
              "latents_from": "encoder" if gen.encoder is not None else "inversion",
              "formula": "G(a*z1 + (1-a)*z2); z1 from --a, z2 from --b",
              "pairs": [{"a": x, "b": y} for x, y in zip(names_a, names_b)]}
    if video is not None:
        record["animation"] = _walk_video(gen, torch.stack([result.z2, result.z1]), video, spherical=slerp,
                                          closed=False)
    write_record(out / "results.json", "interpolation", record)
    return record


def latent_loop(gen: OpenedGenerator, stops: int, rows: int, out: Path, video: Video, *, slerp: bool = False,
                seed: int = 0) -> dict[str, Any]:
    """``rows`` walks side by side, each through ``stops`` random latents z ~ N(0, I) and back to its first,
    as a looping animation; its first frame as start.png, and results.json."""
    z = torch.randn(stops, rows, gen.z_dim, generator=torch.Generator().manual_seed(seed))  # (S, P, z)
    out = make_folder(out)
    with torch.no_grad():
        image_grid(out / "start.png", gen.G(z[0].to(gen.device)), nrow=rows)
    record = {**_source(gen), "stops": stops, "rows": rows, "seed": seed, "slerp": slerp,
              "formula": "G(z) along straight (or spherical) legs through random latents, back to the first",
              "animation": _walk_video(gen, z, video, spherical=slerp, closed=True)}
    write_record(out / "results.json", "interpolation", record)
    return record


@torch.no_grad()
def interpolate_classes(gen: OpenedGenerator, a: int, b: int, rows: int, out: Path, *,
                        alphas: Sequence[float] = REPORT_ALPHAS, seed: int = 0) -> dict[str, Any]:
    """A conditional generator's way from class ``b`` to class ``a`` at fixed latents: one row per latent,
    G(z, a*e_a + (1-a)*e_b) for each a, e being G's class embeddings; writes interpolation.png and
    results.json."""
    if gen.conditional is None:
        raise GanforgeError(f"{gen.source} is not class-conditional: --classes needs a generator trained with "
                            "--conditional")
    for c in (a, b):
        if not 0 <= c < gen.classes:
            raise GanforgeError(f"--classes {c} is not one of the generator's classes 0..{gen.classes - 1}")
    G = gen.conditional
    z = torch.randn(rows, gen.z_dim, generator=torch.Generator().manual_seed(seed)).to(gen.device)
    e_a, e_b = G.embed.weight[a], G.embed.weight[b]
    table = torch.stack([torch.stack([G.from_embedding(zi[None], (t * e_a + (1 - t) * e_b)[None])[0] for t in alphas])
                         for zi in z])  # (rows, alphas, C, H, W)
    out = make_folder(out)
    image_table(out / "interpolation.png", table.cpu(), col_titles=[f"a={t:g}" for t in alphas],
                row_titles=[f"z{i}: {b} -> {a}" for i in range(rows)])
    record = {**_source(gen), "alphas": list(alphas), "classes": [a, b], "rows": rows, "seed": seed,
              "formula": "G(z, a*e_A + (1-a)*e_B) at fixed z; e: G's class embeddings"}
    write_record(out / "results.json", "interpolation", record)
    return record


def sample_images(gen: OpenedGenerator, n: int, out: Path, *, truncation: Optional[float] = None, seed: int = 0,
                  individual: bool = False) -> dict[str, Any]:
    """``n`` samples (truncated at ψ = ``truncation``): samples.png, their latents, a PNG per image
    with ``individual`` (points.safetensors for a 2-D toy), and results.json."""
    out = make_folder(out)
    images, z = sample(gen.G, n, gen.z_dim, psi=truncation, seed=seed, device=gen.device)
    files = ["samples.png", "z.safetensors"]
    if images.dim() == 2:  # a 2-D toy generator: a scatter plot, and the points themselves
        scatter_plot(out / "samples.png", images.cpu())
        atomic_write_bytes(out / "points.safetensors", save({"points": images.cpu().contiguous()}))
        files.append("points.safetensors")
    else:
        image_grid(out / "samples.png", images, nrow=int(max(1, round(n ** 0.5))))
    if individual and images.dim() == 4:
        folder = make_folder(out / "samples")
        for i, img in enumerate(images):
            save_png(folder / f"{i:04d}.png", img)
        files.append("samples/")
    atomic_write_bytes(out / "z.safetensors", save({"z": z.cpu().contiguous()},
                                                   metadata={"generator": gen.source, "truncation": str(truncation)}))
    record = {**_source(gen), "dataset": gen.dataset, "n": n, "truncation": truncation, "seed": seed,
              "files": files}
    write_record(out / "results.json", "samples", record)
    return record
