"""The digest of a run's weights, to check that a change leaves training bit for bit as it was:

    python scripts/weights_digest.py RUN [RUN ...]

prints, per run folder, sha256 (first 16 hex) over every tensor of its last checkpoint (G, D, optimisers,
RNG states) and of its generator file, each taken in name order."""
from __future__ import annotations

import sys
from pathlib import Path

from safetensors.torch import load_file

from ganforge.checkpoint import tensors_digest


def digest(path: Path) -> str:
    return tensors_digest(load_file(path))[:16]


if __name__ == "__main__":
    for run in map(Path, sys.argv[1:]):
        print(run.name, digest(run / "checkpoints" / "last.safetensors"), digest(run / "generator.safetensors"))
