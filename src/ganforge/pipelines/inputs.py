"""The images a pipeline works on: test-split images of the generator's dataset, or image files."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import Tensor

from ..data import DataOptions, Dataset, load_dataset
from ..errors import GanforgeError
from ..images import read_images
from ..loading import OpenedGenerator


def test_split(gen: OpenedGenerator, data_root: Optional[str] = None) -> Dataset:
    """The dataset the generator models, at its image size (the test split is what is used)."""
    if gen.dataset is None:
        raise GanforgeError("this generator does not say its dataset; pass --dataset, or give --images files")
    data = load_dataset(gen.dataset, DataOptions(root=Path(data_root) if data_root else None,
                                                 image_size=gen.shape[-1]))
    if data.shape != gen.shape:
        raise GanforgeError(f"dataset {gen.dataset} gives {tuple(data.shape)} images but the generator makes "
                            f"{gen.shape}")
    return data


def pick_images(gen: OpenedGenerator, *, n: int = 8, indices: Optional[Sequence[int]] = None,
                files: Optional[Sequence[str]] = None, seed: int = 0,
                data_root: Optional[str] = None) -> tuple[Tensor, list[str]]:
    """(N, C, H, W) images in [-1, 1] and a name for each: the ``files``, else the test-split images at
    ``indices``, else ``n`` test-split images chosen with ``seed``, across the classes where it has them."""
    if files:
        return read_images(list(files), gen.shape), [Path(p).name for p in files]
    data = test_split(gen, data_root)
    if indices:
        bad = [i for i in indices if i >= len(data.test)]
        if bad:
            raise GanforgeError(f"--indices {bad[0]} is out of range: the test split has {len(data.test)} images")
        idx = list(indices)
    else:
        idx = data.test_picks(n, seed).tolist()
    return data.test[idx], [f"test[{i}]" for i in idx]


def image_refs(gen: OpenedGenerator, refs: Sequence[str], data_root: Optional[str] = None) -> tuple[Tensor, list[str]]:
    """Images named by references that are test-split indices ("17") or image files, in order."""
    out, names, data = [], [], None
    for ref in refs:
        if ref.isdigit():
            data = data or test_split(gen, data_root)
            i = int(ref)
            if i >= len(data.test):
                raise GanforgeError(f"image index {i} is out of range: the test split has {len(data.test)} images")
            out.append(data.test[i][None])
            names.append(f"test[{i}]")
        else:
            out.append(read_images([ref], gen.shape))
            names.append(Path(ref).name)
    return torch.cat(out), names
