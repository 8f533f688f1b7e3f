"""Make emoji-noto-64.npz, the set `ganforge train --dataset emoji --data-root DIR` reads, from Google's
Noto Color Emoji as the npm package emoji-datasource-google ships them (Apache 2.0):

    npm pack emoji-datasource-google@16.0.0 && tar xzf emoji-datasource-google-16.0.0.tgz
    python scripts/emoji_npz.py package DIR          # writes DIR/emoji-noto-64.npz

Every entry of the package's emoji.json with a Google image, and each of its skin-tone variants with
one, in the package's sort order: the 64x64 RGBA picture, its category (the index into the sorted
category names), its short name (``name:SKIN`` for a variant) and its file name without ``.png``.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 64


def entries(package: Path) -> list[tuple[str, str, str]]:
    """(image file, category, name) of every picture, in sort order."""
    rows = []
    for e in sorted(json.loads((package / "emoji.json").read_text()), key=lambda e: e["sort_order"]):
        if e.get("has_img_google"):
            rows.append((e["image"], e["category"], e["short_name"]))
        for skin, v in sorted((e.get("skin_variations") or {}).items()):
            if v.get("has_img_google"):
                rows.append((v["image"], e["category"], f"{e['short_name']}:{skin}"))
    return rows


def main(package: Path, out: Path) -> Path:
    rows = entries(package)
    folder = package / "img" / "google" / str(SIDE)
    images = np.stack([np.asarray(Image.open(folder / image).convert("RGBA")) for image, _, _ in rows])
    categories = sorted({c for _, c, _ in rows})
    labels = np.array([categories.index(c) for _, c, _ in rows], dtype=np.int64)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "emoji-noto-64.npz"
    np.savez_compressed(path, images=images, labels=labels, categories=np.array(categories),
                        names=np.array([n for _, _, n in rows]), codepoints=np.array([i[:-4] for i, _, _ in rows]))
    digest = hashlib.sha256(images.tobytes()).hexdigest()[:16]
    print(f"{len(rows):,} pictures in {len(categories)} categories -> {path} (pixels sha256 {digest}...)")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/emoji_npz.py PACKAGE_FOLDER OUT_FOLDER")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
