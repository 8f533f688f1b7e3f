"""Image files in and out: user images become tensors shaped like a generator's output."""
from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path
from typing import BinaryIO, Optional, Sequence

import torch
from PIL import Image
from torch import Tensor

from .errors import GanforgeError

MAX_PIXELS = 50_000_000  # larger files are refused before decoding, not after


@contextlib.contextmanager
def _quiet_bombs():
    """PIL warns (in several lines) about huge images before ganforge refuses them in one line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def load_image(path: Path | str | BinaryIO, size: int | tuple[int, int], channels: int = 3,
               name: Optional[str] = None) -> Tensor:
    """An image file (or an open binary file, called ``name`` in messages) -> (channels, H, W) uint8,
    centre-cropped to the target's aspect and resized.

    Any mode (grey, RGB, RGBA, palette) is converted; an unreadable file is a GanforgeError.
    """
    from torchvision.transforms.v2 import functional as TF  # 1.5 s to import: not on every command's start

    h, w = (size, size) if isinstance(size, int) else size
    name = name or str(path)
    try:
        with _quiet_bombs(), Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise GanforgeError(f"image {name} is {im.width}x{im.height}, larger than ganforge reads")
            img = TF.pil_to_tensor(im.convert("RGB" if channels == 3 else "L"))  # (C, H, W) uint8
    except GanforgeError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise GanforgeError(f"cannot read image {name}: {exc}") from None
    ih, iw = img.shape[-2:]
    if ih * w != iw * h:  # crop to the target's aspect ratio around the centre
        ch, cw = (ih, ih * w // h) if iw * h > ih * w else (iw * h // w, iw)
        img = TF.center_crop(img, [ch, cw])
    if tuple(img.shape[-2:]) != (h, w):
        img = TF.resize(img, [h, w], antialias=True)
    return img


def read_images(paths: Sequence[str | Path | BinaryIO], shape: tuple[int, ...],
                names: Optional[Sequence[str]] = None) -> Tensor:
    """Image files (or open binary files, called ``names`` in messages) -> (N, C, H, W) float in
    [-1, 1], converted to ``shape`` with a one-line notice."""
    c, h, w = shape
    out = []
    for i, p in enumerate(paths):
        name = names[i] if names else str(p)
        try:
            with _quiet_bombs(), Image.open(p) as im:
                size, mode = im.size, im.mode
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise GanforgeError(f"cannot read image {name}: {exc}") from None
        expected = "L" if c == 1 else "RGB"
        if size != (w, h) or mode != expected:
            print(f"note: {name} is {size[0]}x{size[1]} {mode}; converted to {expected} {w}x{h}", file=sys.stderr)
        if hasattr(p, "seek"):
            p.seek(0)
        out.append(load_image(p, (h, w), c, name))
    return torch.stack(out).float().div_(127.5).sub_(1.0)

