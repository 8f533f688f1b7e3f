"""The digest of a run's weights, to check that a change leaves training bit for bit as it was:

    python scripts/weights_digest.py RUN [RUN ...]

prints, per run folder, sha256 (first 16 hex) over every tensor of its last checkpoint (G, D, optimisers,
RNG states) and of its generator file, each taken in name order."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def digest(path: Path) -> str:
    tensors = load_file(path)
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


if __name__ == "__main__":
    for run in map(Path, sys.argv[1:]):
        print(run.name, digest(run / "checkpoints" / "last.safetensors"), digest(run / "generator.safetensors"))
