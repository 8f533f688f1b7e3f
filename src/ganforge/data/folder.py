"""A user's own images (``--images DIR``) and the Noto emoji set (``--dataset emoji``).

A folder follows torchvision's ImageFolder convention: class subfolders make labels (what
``--conditional`` trains on); a folder of image files alone is unlabelled. Any mode is read:
transparent pixels (RGBA, LA, palette images with transparency) are composited on ``--background``
(white by default), and the images become grey when ``--channels 1`` or when every one of them is
grey. Each is centre-cropped to a square (``--fit crop``) or padded with the background
(``--fit pad``), then resized to ``--image-size``. Files that cannot be read are skipped and counted
in one line. The decoded images are cached under a hash of the file list and the preprocessing.
"""
from __future__ import annotations

import hashlib
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image, ImageColor
from safetensors.torch import load, save
from torch import Tensor

from ..errors import GanforgeError
from ..images import MAX_PIXELS
from ..io import atomic_write_bytes
from .registry import DataOptions, Dataset, cache_dir, missing, register_dataset, to_unit_range

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
TEST_SHARE = 0.1  # of each class, held out as the test split
SPLIT_SEED = 0  # the split is the folder's, not the run's: every run on a folder tests on the same images
EMOJI_FILE = "emoji-noto-64.npz"


def parse_background(text: str) -> tuple[int, int, int]:
    """``white``, ``black``, any colour name PIL knows, or ``#rrggbb`` -> RGB."""
    try:
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise GanforgeError(f"--background must be a colour (white, black, #rrggbb), got {text!r}") from None


def find_images(root: Path) -> tuple[list[Path], Optional[list[int]], list[str]]:
    """(files, their labels or None, class names) under ``root``: one class per subfolder holding images
    (files at the top level then left out, as ImageFolder does), else the top level's files, unlabelled."""
    if root.is_file():
        raise GanforgeError(f"--images {root} is a file; give the folder that holds the images")
    if not root.is_dir():
        raise missing(f"image folder {root}", "give --images a folder of images, or of class subfolders of images")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and _files(d, recursive=True))
    if classes:
        files, labels = [], []
        for i, name in enumerate(classes):
            found = _files(root / name, recursive=True)
            files += found
            labels += [i] * len(found)
        return files, labels, classes
    files = _files(root, recursive=False)
    if not files:
        raise GanforgeError(f"no images in {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))} files, "
                            "directly or in class subfolders)")
    return files, None, []


def _files(folder: Path, *, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def to_square(im: Image.Image, size: int, background: tuple[int, int, int], fit: str, channels: int) -> Tensor:
    """One decoded image -> (channels, size, size) uint8: transparency on ``background``, cropped or padded
    to a square, resized."""
    rgba = im.convert("RGBA")  # palette transparency and LA's alpha become an alpha channel
    canvas = Image.new("RGBA", rgba.size, (*background, 255))
    rgb = Image.alpha_composite(canvas, rgba).convert("RGB")
    w, h = rgb.size
    if fit == "pad":
        side = max(w, h)
        square = Image.new("RGB", (side, side), background)
        square.paste(rgb, ((side - w) // 2, (side - h) // 2))
    else:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        square = rgb.crop((left, top, left + side, top + side))
    if side != size:
        square = square.resize((size, size), Image.Resampling.LANCZOS if side > size else Image.Resampling.BICUBIC)
    out = square.convert("L") if channels == 1 else square
    array = np.asarray(out, dtype=np.uint8)
    return torch.from_numpy(array.copy()).reshape(size, size, -1).permute(2, 0, 1).contiguous()


def _decode(path: Path) -> Optional[Image.Image]:
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                return None
            im.load()
            return im.copy()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def read_folder(files: list[Path], options: DataOptions) -> tuple[Tensor, list[bool], int]:
    """Every readable file as (N, C, S, S) uint8, which files were read, and the channel count chosen."""
    with ThreadPoolExecutor(max_workers=4) as pool:  # decoding releases the GIL
        decoded = list(pool.map(_decode, files))
    kept = [im is not None for im in decoded]
    images = [im for im in decoded if im is not None]
    if not images:
        raise GanforgeError(f"none of the {len(files):,} image files could be read")
    channels = options.channels or (1 if all(im.mode in GREY_MODES for im in images) else 3)
    background = parse_background(options.background)
    return (torch.stack([to_square(im, options.image_size, background, options.fit, channels) for im in images]),
            kept, channels)


def _cached(files: list[Path], options: DataOptions) -> tuple[Tensor, list[bool]]:
    key = hashlib.sha256(f"folder-v1|{options.image_size}|{options.background}|{options.fit}|"
                         f"{options.channels}".encode())
    for p in files:
        st = p.stat()
        key.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    path = cache_dir() / "folders" / f"{key.hexdigest()[:20]}.safetensors"
    if path.exists():
        try:
            tensors = load(path.read_bytes())
            return tensors["images"], tensors["kept"].bool().tolist()
        except Exception:  # a damaged cache is rebuilt, never trusted
            pass
    if len(files) > 2000:
        print(f"ganforge: decoding {len(files):,} images once (cached afterwards)", file=sys.stderr)
    images, kept, _ = read_folder(files, options)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save({"images": images, "kept": torch.tensor(kept, dtype=torch.uint8)}))
    return images, kept


def split(images: Tensor, labels: Optional[Tensor]) -> tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]:
    """A fixed share of each class (of all, when unlabelled) held out as the test split, at least one item."""
    groups = [torch.arange(len(images))] if labels is None else [torch.nonzero(labels == c).flatten()
                                                                 for c in labels.unique()]
    g = torch.Generator().manual_seed(SPLIT_SEED)
    train, test = [], []
    for members in groups:
        order = members[torch.randperm(len(members), generator=g)]
        n_test = max(1, round(len(members) * TEST_SHARE)) if len(members) > 1 else 0
        test.append(order[:n_test])
        train.append(order[n_test:])
    tr = torch.cat(train)[torch.randperm(sum(map(len, train)), generator=g)]  # classes mixed, as --limit expects
    te = torch.cat(test).sort().values
    pick = (lambda i: None) if labels is None else (lambda i: labels[i])
    return images[tr], images[te], pick(tr), pick(te)


@register_dataset("images", family="by-size", classes=None, about="your own images: a folder, or one of class "
                  "subfolders (--images DIR)", get="any folder of images: ganforge train --images DIR")
def load_folder(options: DataOptions) -> Dataset:
    if options.images is None:
        raise GanforgeError("--dataset images reads the folder given with --images DIR")
    root = Path(options.images)
    files, labels, classes = find_images(root)
    images, kept = _cached(files, options)
    skipped = kept.count(False)
    if skipped:
        print(f"ganforge: skipped {skipped:,} of {len(files):,} files that are not readable images", file=sys.stderr)
    y = None if labels is None else torch.tensor([c for c, k in zip(labels, kept) if k])
    xtr, xte, ytr, yte = split(images, y)
    c, s = images.shape[1], images.shape[-1]
    what = f"{len(classes)} classes" if classes else "unlabelled"
    return Dataset("images", to_unit_range(xtr), to_unit_range(xte),
                   f"image folder {root} ({len(images):,} images, {what}, {'grey' if c == 1 else 'RGB'} {s}x{s}, "
                   f"{options.fit} on {options.background}, {TEST_SHARE:.0%} held out)", ytr, yte,
                   {"classes": classes})


def emoji_package(package: Path) -> dict[str, np.ndarray]:
    """The emoji set from the npm package emoji-datasource-google's folder: every entry of its emoji.json with
    a Google picture and each of its skin-tone variants with one (sorted), in the package's sort order; the
    arrays ``emoji-noto-64.npz`` holds (images RGBA, labels indexing the sorted category names, categories,
    names, codepoints)."""
    try:
        listing = json.loads((package / "emoji.json").read_text())
        rows = []
        for e in sorted(listing, key=lambda e: e["sort_order"]):
            if e.get("has_img_google"):
                rows.append((e["image"], e["category"], e["short_name"]))
            for skin, v in sorted((e.get("skin_variations") or {}).items()):
                if v.get("has_img_google"):
                    rows.append((v["image"], e["category"], f"{e['short_name']}:{skin}"))
        folder = package / "img" / "google" / "64"
        images = np.stack([np.asarray(Image.open(folder / image).convert("RGBA")) for image, _, _ in rows])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GanforgeError(f"{package} is not the emoji-datasource-google package ({exc})") from None
    categories = sorted({c for _, c, _ in rows})
    return {"images": images, "labels": np.array([categories.index(c) for _, c, _ in rows], dtype=np.int64),
            "categories": np.array(categories), "names": np.array([n for _, _, n in rows]),
            "codepoints": np.array([i[:-4] for i, _, _ in rows])}


def emoji_arrays(root: Optional[Path]) -> tuple[Path, dict[str, np.ndarray]]:
    """Where the emoji set was read and its arrays: ``root`` naming emoji-noto-64.npz, a folder holding it,
    or the npm package's folder (holding emoji.json)."""
    if root is not None:
        if (root / "emoji.json").is_file():
            return root, emoji_package(root)
        path = root / EMOJI_FILE if root.is_dir() else root
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as npz:
                    return path, {k: npz[k] for k in ("images", "labels", "categories")}
            except (OSError, ValueError, KeyError) as exc:
                raise GanforgeError(f"{path} is not the emoji set ({exc})") from None
    raise missing(f"the emoji set ({EMOJI_FILE} or the npm package's folder under --data-root)" if root is None
                  else f"{EMOJI_FILE} or the npm package's emoji.json under {root}",
                  "docs/data.md#emoji gives the one command that gets it")


@register_dataset("emoji", family="by-size", classes=10, about="Noto Color Emoji, 3,786 RGBA 64x64 pictures in 10 "
                  "categories, composited on --background", get="docs/data.md#emoji: npm pack emoji-datasource-google")
def load_emoji(options: DataOptions) -> Dataset:
    path, arrays = emoji_arrays(options.root)
    rgba, labels, categories = arrays["images"], arrays["labels"], [str(c) for c in arrays["categories"]]
    if rgba.ndim != 4 or rgba.shape[-1] != 4 or len(rgba) != len(labels):
        raise GanforgeError(f"{path} is not the emoji set (images {rgba.shape}, expected (N, H, W, 4) RGBA)")
    background = parse_background(options.background)
    channels = options.channels or 3
    images = torch.stack([to_square(Image.fromarray(a, "RGBA"), options.image_size, background, options.fit, channels)
                          for a in rgba])
    xtr, xte, ytr, yte = split(images, torch.as_tensor(labels, dtype=torch.int64))
    s = options.image_size
    return Dataset("emoji", to_unit_range(xtr), to_unit_range(xte),
                   f"Noto Color Emoji from {path} ({len(images):,} pictures, {s}x{s} on {options.background}, "
                   f"{TEST_SHARE:.0%} of each category held out)", ytr, yte, {"classes": categories})
