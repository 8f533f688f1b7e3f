"""Figures written into run folders, in the report's style. Every file is written atomically."""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402
from torchvision.utils import save_image  # noqa: E402

from .io import atomic_write_bytes  # noqa: E402


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def loss_plot(path: Path, iterations: Sequence[int], g_loss: Sequence[float], d_loss: Sequence[float],
              iters_per_epoch: int, title: Optional[str] = None) -> None:
    """gen_loss and dis_loss against iterations, as in the report's figures."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(iterations, g_loss, label="gen_loss", linewidth=0.8)
    ax.plot(iterations, d_loss, label="dis_loss", linewidth=0.8)
    ax.set_xlabel(f"# of iterations, 1 epoch = {iters_per_epoch} iterations")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, path)


def image_grid(path: Path, images: Tensor, nrow: int = 8, padding: int = 2) -> None:
    """Images in [-1, 1], (N, C, H, W), as one PNG grid."""
    buf = io.BytesIO()
    save_image(images.detach().float().cpu(), buf, format="png", nrow=nrow, normalize=True,
               value_range=(-1, 1), padding=padding)
    atomic_write_bytes(path, buf.getvalue())


def save_png(path: Path, image: Tensor) -> None:
    """One image in [-1, 1], (C, H, W), as a PNG (written atomically)."""
    image_grid(path, image[None], nrow=1, padding=0)


def scatter_plot(path: Path, points: Tensor, centres: Optional[Tensor] = None, title: Optional[str] = None) -> None:
    """2-D samples (N, 2) over the mode centres of a toy dataset."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    p = points.detach().float().cpu()
    ax.scatter(p[:, 0], p[:, 1], s=2, alpha=0.5, label="samples")
    if centres is not None:
        ax.scatter(centres[:, 0], centres[:, 1], s=30, marker="x", c="red", label="modes")
        lim = float(centres.abs().max()) * 1.5
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    _save(fig, path)


def save_samples(path: Path, samples: Tensor, centres: Optional[Tensor] = None, title: Optional[str] = None) -> None:
    """A sample grid for images, a scatter plot for 2-D points."""
    if samples.dim() == 2:
        scatter_plot(path, samples, centres, title)
    else:
        image_grid(path, samples, nrow=int(max(1, round(len(samples) ** 0.5))))




def restart_curves(path: Path, losses: Tensor, chosen: int, title: Optional[str] = None) -> None:
    """Inversion loss against iterations, one line per restart, the chosen one marked (the report's figures)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    curves = losses.detach().float().cpu()
    for j, curve in enumerate(curves):
        best = j == chosen
        ax.plot(curve, linewidth=2.2 if best else 0.9, alpha=1.0 if best else 0.7, zorder=3 if best else 2,
                label=f"restart {j}" + (" (chosen)" if best else ""))
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("MSE(G(z), x)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, path)


def image_table(path: Path, images: Tensor, *, col_titles: Sequence[str] = (), row_titles: Sequence[str] = (),
                cell: float = 1.0) -> None:
    """A table of images (R, K, C, H, W) in [-1, 1], with column and row titles, like the report's tables."""
    imgs = images.detach().float().cpu().clamp(-1, 1).add(1).div(2).numpy()
    r, k = imgs.shape[:2]
    fig, axes = plt.subplots(r, k, figsize=(cell * k + (1.2 if row_titles else 0.2), cell * r + 0.4), squeeze=False)
    for i in range(r):
        for j in range(k):
            ax = axes[i][j]
            img = imgs[i, j]
            if img.shape[0] == 1:
                ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(img.transpose(1, 2, 0))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0 and j < len(col_titles):
                ax.set_title(col_titles[j], fontsize=8)
            if j == 0 and i < len(row_titles):
                ax.set_ylabel(row_titles[i], fontsize=8, rotation=0, ha="right", va="center")
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    _save(fig, path)


def latent_cdf(path: Path, values: Tensor, reference: Tensor, title: Optional[str] = None) -> None:
    """Empirical CDF of latent values against that of N(0, 1) samples (the report's CDF table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for data, label, colour in ((reference, "N(0, 1) samples", "tab:blue"), (values, "latent z", "tab:red")):
        x = data.detach().float().flatten().sort().values
        ax.plot(x.numpy(), (torch.arange(1, len(x) + 1) / len(x)).numpy(), color=colour, label=label, linewidth=1.2)
    ax.set_xlim(-4, 4)
    ax.set_ylim(0, 1)
    ax.set_xlabel("value")
    ax.set_ylabel("CDF")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, path)


def ae_losses(path: Path, iterations: Sequence[int], series: dict[str, Sequence[float]], iters_per_epoch: int) -> None:
    """The autoencoder's losses on a log axis against iterations (the report's figure)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in series.items():
        ax.plot(iterations, values, label=name, linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel(f"# of iterations, 1 epoch = {iters_per_epoch} iterations")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, path)


def truncation_plot(path: Path, psis: Sequence[float], fid: Sequence[float], score: Sequence[float]) -> None:
    """FID and classifier score against the truncation psi (inf drawn at the right end)."""
    finite = [p for p in psis if math.isfinite(p)]
    right = (max(finite) * 1.5) if finite else 1.0
    xs = [p if math.isfinite(p) else right for p in psis]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(xs, fid, "o-", color="tab:blue", label="FID (evaluator features)")
    ax.set_xlabel("truncation psi")
    ax.set_ylabel("FID", color="tab:blue")
    ax.set_xticks(xs, [f"{p:g}" if math.isfinite(p) else "none" for p in psis])
    twin = ax.twinx()
    twin.plot(xs, score, "s--", color="tab:red", label="classifier score")
    twin.set_ylabel("classifier score", color="tab:red")
    ax.grid(alpha=0.3)
    _save(fig, path)
