"""CelebA-class colour faces: torchvision's CelebA layout or any folder of images.

Images are decoded once, centre-cropped to a square, resized to ``image_size`` and cached as a
uint8 tensor under a hash of the file list and the preprocessing, so the next run starts fast.
"""
from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from safetensors.torch import load, save
from torch import Tensor

from ..errors import GanforgeError
from ..images import load_image
from ..io import atomic_write_bytes
from .registry import DataOptions, Dataset, cache_dir, missing, register_dataset, seeded_permutation, to_unit_range

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
TEST_SHARE = 0.1  # for plain folders without a partition file
HOW = ("put torchvision's CelebA layout (celeba/img_align_celeba/ + celeba/list_eval_partition.txt) "
       "or any folder of images under --data-root")


def _find_layout(root: Path) -> tuple[list[Path], list[Path], str]:
    """(train files, test files, description) for ``root``."""
    for base in (root / "celeba", root):
        images = base / "img_align_celeba"
        partition = base / "list_eval_partition.txt"
        if images.is_dir() and partition.is_file():
            train, test = [], []
            for line in partition.read_text().split("\n"):
                parts = line.split()
                if len(parts) != 2:
                    continue
                # 0 train, 1 validation, 2 test: validation joins training, as a GAN has no model selection.
                (test if parts[1] == "2" else train).append(images / parts[0])
            return train, test, f"torchvision CelebA layout at {base}"
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(files) < 2:
        return [], [], ""
    order = seeded_permutation(len(files), 0).tolist()
    n_test = max(1, round(len(files) * TEST_SHARE))
    test = sorted(files[i] for i in order[:n_test])
    train = [files[i] for i in order[n_test:]]
    return train, test, f"image folder {root} ({len(files):,} images, {TEST_SHARE:.0%} held out)"


def _load_files(files: list[Path], size: int) -> Tensor:
    if not files:
        return torch.empty(0, 3, size, size, dtype=torch.uint8)
    def read(path: Path) -> Tensor | None:
        try:
            return load_image(path, size)
        except GanforgeError as exc:
            print(f"ganforge: skipping {exc}", file=sys.stderr)
            return None

    with ThreadPoolExecutor(max_workers=4) as pool:  # decoding releases the GIL
        images = [x for x in pool.map(read, files) if x is not None]
    if not images:
        return torch.empty(0, 3, size, size, dtype=torch.uint8)
    return torch.stack(images)  # (N, 3, size, size)


def _cache_key(files: list[Path], size: int) -> str:
    h = hashlib.sha256(f"celeb-v1|{size}".encode())
    for p in files:
        st = p.stat()
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _load_cached(files: list[Path], size: int) -> Tensor:
    path = cache_dir() / "celeb" / f"{_cache_key(files, size)}.safetensors"
    if path.exists():
        try:
            return load(path.read_bytes())["images"]
        except Exception:  # a damaged cache is rebuilt, never trusted
            pass
    if len(files) > 2000:
        print(f"ganforge: decoding {len(files):,} images once (cached afterwards)", file=sys.stderr)
    images = _load_files(files, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save({"images": images}))
    return images


@register_dataset("celeb", family="celeb", about="CelebA faces (or any image folder), RGB, centre crop + resize",
                  get="CelebA from its authors (torchvision's layout) into --data-root; any image folder works")
def load_celeb(options: DataOptions) -> Dataset:
    if options.root is None:
        raise missing("CelebA (no --data-root given)", HOW)
    if not options.root.is_dir():
        raise missing(f"CelebA folder {options.root}", HOW)
    train_files, test_files, where = _find_layout(options.root)
    if not train_files:
        raise missing(f"images under {options.root}", HOW)
    size = options.image_size
    xtr = _load_cached(train_files, size)
    xte = _load_cached(test_files, size)
    return Dataset("celeb", to_unit_range(xtr), to_unit_range(xte), f"{where}, {size}x{size}")
