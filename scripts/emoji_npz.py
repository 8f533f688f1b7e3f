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
import sys
from pathlib import Path

import numpy as np

from ganforge.data.folder import EMOJI_FILE, emoji_package


def main(package: Path, out: Path) -> Path:
    arrays = emoji_package(package)
    out.mkdir(parents=True, exist_ok=True)
    path = out / EMOJI_FILE
    np.savez_compressed(path, **arrays)
    digest = hashlib.sha256(arrays["images"].tobytes()).hexdigest()[:16]
    print(f"{len(arrays['images']):,} pictures in {len(arrays['categories'])} categories -> {path} "
          f"(pixels sha256 {digest}...)")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/emoji_npz.py PACKAGE_FOLDER OUT_FOLDER")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
