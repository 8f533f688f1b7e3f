"""Image files in and out: user images become tensors shaped like a generator's output."""
from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Sequence

import torch
from PIL import Image
from torch import Tensor

from .errors import GanforgeError

MAX_PIXELS = 50_000_000  # larger files are refused before decoding, not after


@contextlib.contextmanager
def opened(path: Path | str | BinaryIO, name: str, *, formats: Optional[Sequence[str]] = None,
           max_pixels: int = MAX_PIXELS) -> Iterator[Image.Image]:
    """An image file opened by its header only, refused in one line (GanforgeError) when it is not of
    ``formats`` (Pillow's names; None: any Pillow reads), larger than ``max_pixels`` or unreadable. Decoding
    happens only when the caller reads the pixels."""
    with warnings.catch_warnings():  # PIL warns about huge images in several lines; ganforge refuses in one
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(path, formats=formats)
        except Image.UnidentifiedImageError:
            if formats is None:
                raise GanforgeError(f"cannot read image {name}: not an image file Pillow knows") from None
            raise GanforgeError(f"{name} is not an image of the formats accepted here "
                                f"({', '.join(formats)})") from None
        except Image.DecompressionBombError:  # Pillow's own bound, far above ours: refused by the header
            raise GanforgeError(f"image {name} has more than the {max_pixels:,} pixels read here") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise GanforgeError(f"cannot read image {name}: {exc}") from None
        with im:
            if im.width * im.height > max_pixels:
                raise GanforgeError(f"image {name} is {im.width}x{im.height}, more than the {max_pixels:,} pixels "
                                    "read here")
            try:
                yield im
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
                raise GanforgeError(f"cannot read image {name}: {exc}") from None


def load_image(path: Path | str | BinaryIO, size: int | tuple[int, int], channels: int = 3,
               name: Optional[str] = None, *, formats: Optional[Sequence[str]] = None,
               max_pixels: int = MAX_PIXELS) -> Tensor:
    """An image file (or an open binary file, called ``name`` in messages) -> (channels, H, W) uint8,
    centre-cropped to the target's aspect and resized.

    Any mode (grey, RGB, RGBA, palette) is converted; an unreadable file is a GanforgeError.
    """
    from torchvision.transforms.v2 import functional as TF  # 1.5 s to import: not on every command's start

    h, w = (size, size) if isinstance(size, int) else size
    name = name or str(path)
    with opened(path, name, formats=formats, max_pixels=max_pixels) as im:
        img = TF.pil_to_tensor(im.convert("RGB" if channels == 3 else "L"))  # (C, H, W) uint8
    ih, iw = img.shape[-2:]
    if ih * w != iw * h:  # crop to the target's aspect ratio around the centre
        ch, cw = (ih, ih * w // h) if iw * h > ih * w else (iw * h // w, iw)
        img = TF.center_crop(img, [ch, cw])
    if tuple(img.shape[-2:]) != (h, w):
        img = TF.resize(img, [h, w], antialias=True)
    return img


def read_images(paths: Sequence[str | Path | BinaryIO], shape: tuple[int, ...],
                names: Optional[Sequence[str]] = None, *, formats: Optional[Sequence[str]] = None,
                max_pixels: int = MAX_PIXELS) -> Tensor:
    """Image files (or open binary files, called ``names`` in messages) -> (N, C, H, W) float in
    [-1, 1], converted to ``shape`` with a one-line notice; only ``formats`` (Pillow's names) when given,
    and none over ``max_pixels``."""
    c, h, w = shape
    out = []
    for i, p in enumerate(paths):
        name = names[i] if names else str(p)
        with opened(p, name, formats=formats, max_pixels=max_pixels) as im:
            size, mode = im.size, im.mode
        expected = "L" if c == 1 else "RGB"
        if size != (w, h) or mode != expected:
            print(f"note: {name} is {size[0]}x{size[1]} {mode}; converted to {expected} {w}x{h}", file=sys.stderr)
        if hasattr(p, "seek"):
            p.seek(0)
        out.append(load_image(p, (h, w), c, name, formats=formats, max_pixels=max_pixels))
    return torch.stack(out).float().div_(127.5).sub_(1.0)

