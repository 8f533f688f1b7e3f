"""Animations of image sequences, as GIF or MP4 through imageio: latent walks (``interpolate --video``)
and training progress (a run's per-epoch sample grids, ``train --progress-video``). GIF goes through
imageio's Pillow plugin (no ffmpeg needed); MP4 through imageio-ffmpeg's ffmpeg, H.264 in yuv420p
(what browsers and players take), its sides padded to even numbers with the border's colour."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from torch import Tensor
from torchvision.utils import make_grid

from .errors import GanforgeError
from .io import atomic_write_bytes

FORMATS = (".gif", ".mp4")
PROGRESS = "progress.gif"  # a run folder's animation of its sample grids


def video_path(path: str | Path) -> Path:
    """``path`` checked to name a GIF or MP4 in an existing folder."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise GanforgeError(f"an animation is written as .gif or .mp4, not {path.name!r}")
    if not path.parent.is_dir():
        raise GanforgeError(f"{path.parent} is not a folder: make it first, or name another place for {path.name}")
    return path


def grid_frames(frames: Tensor, nrow: int, padding: int = 2) -> np.ndarray:
    """(T, N, C, H, W) images in [-1, 1] -> (T, H', W', 3) uint8 frames, each the grid of its N images
    (``nrow`` to a row), with the pixels ``plots.image_grid`` gives the same images."""
    out = []
    for images in frames:
        grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, normalize=True, value_range=(-1, 1))
        out.append(grid.mul(255).add_(0.5).clamp_(0, 255).byte().permute(1, 2, 0).numpy())
    return np.stack(out)


def _even(frames: np.ndarray) -> np.ndarray:
    """Frames padded to even height and width with their edge pixels (yuv420p halves both)."""
    _, h, w, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def encode_animation(frames: np.ndarray, suffix: str, *, fps: float) -> bytes:
    """``frames`` (T, H, W, 3) uint8 as the bytes of a looping GIF or an MP4 (``suffix``) at ``fps`` frames
    a second."""
    import imageio.v3 as iio

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise GanforgeError(f"an animation needs (frames, height, width, 3) uint8 pixels, got {frames.shape}")
    if suffix.lower() == ".gif":
        return iio.imwrite("<bytes>", frames, extension=".gif", duration=round(1000 / fps), loop=0)
    try:
        import imageio_ffmpeg  # noqa: F401  (the ffmpeg binary imageio's FFMPEG plugin runs)
    except ImportError:
        raise GanforgeError("MP4 needs imageio-ffmpeg (pip install imageio-ffmpeg); a .gif needs nothing more")
    return iio.imwrite("<bytes>", _even(frames), extension=".mp4", plugin="FFMPEG", fps=fps, codec="libx264",
                       pixelformat="yuv420p", macro_block_size=1, quality=9)


def write_animation(path: str | Path, frames: np.ndarray, *, fps: float) -> Path:
    """``frames`` as the animation ``path`` (.gif or .mp4), written atomically: never half-written."""
    path = video_path(path)
    atomic_write_bytes(path, encode_animation(frames, path.suffix, fps=fps))
    return path


def read_animation(path: str | Path) -> np.ndarray:
    """(T, H, W, 3) uint8: the frames of a GIF or MP4 (for tests and the report)."""
    import imageio.v3 as iio

    path = Path(path)
    if path.suffix.lower() == ".gif":
        frames = iio.imread(path, index=None, extension=".gif", mode="RGB")
    else:
        frames = iio.imread(path, index=None, plugin="FFMPEG")
    return np.asarray(frames)[..., :3]


def progress_frames(pictures: Sequence[Path]) -> np.ndarray:
    """(T, H, W, 3) uint8: a run's sample grids (PNG files of one size) as frames."""
    from PIL import Image

    frames = []
    for p in pictures:
        with Image.open(p) as im:
            frames.append(np.asarray(im.convert("RGB")))
    if not frames:
        raise GanforgeError("no sample grids to animate (a run writes samples/epoch_NNN.png after every epoch)")
    if len({f.shape for f in frames}) > 1:
        raise GanforgeError("the sample grids differ in size, so they cannot be one animation")
    return np.stack(frames)


def progress_animation(run: Path, path: Path | None = None, *, fps: float = 4.0) -> Path:
    """The run folder's per-epoch sample grids as one animation (``run/progress.gif`` unless ``path``)."""
    pictures = sorted((run / "samples").glob("epoch_*.png"))
    return write_animation(path or run / PROGRESS, progress_frames(pictures), fps=fps)
