"""Figures written into run folders, in the report's style. Every file is written atomically."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402

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


def image_grid(path: Path, images: Tensor, nrow: int = 8) -> None:
    """Images in [-1, 1], (N, C, H, W), as one PNG grid."""
    from torchvision.utils import save_image

    buf = io.BytesIO()
    save_image(images.detach().float().cpu(), buf, format="png", nrow=nrow, normalize=True,
               value_range=(-1, 1), padding=2)
    atomic_write_bytes(path, buf.getvalue())


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


