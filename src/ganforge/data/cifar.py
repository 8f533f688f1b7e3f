"""CIFAR-10 in torchvision's layout (``cifar-10-batches-py`` under --data-root, or --download).

50,000 training and 10,000 test images, 32x32 RGB, 10 classes. At its own size the images are used
as they are; another ``--image-size`` resizes them (bicubic up, Lanczos down).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F

from ..errors import GanforgeError
from .registry import DataOptions, Dataset, cache_dir, missing, register_dataset, to_unit_range

NATIVE = 32


def _resized(images: Tensor, size: int) -> Tensor:
    """(N, 3, 32, 32) uint8 at ``size``: unchanged at 32, else resized (antialiased when shrinking)."""
    if size == NATIVE:
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bicubic", antialias=size < NATIVE,
                        align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


@register_dataset("cifar10", family="by-size", classes=10, size=NATIVE,
                  about="CIFAR-10: 60,000 32x32 colour photographs in 10 classes",
                  get="--download once online, or torchvision's cifar-10-batches-py under --data-root")
def load_cifar10(options: DataOptions) -> Dataset:
    from torchvision.datasets import CIFAR10  # 1.5 s to import: see load_mnist
    root = options.root or cache_dir()
    try:
        train = CIFAR10(str(root), train=True, download=options.download)
        test = CIFAR10(str(root), train=False, download=options.download)
    except RuntimeError:  # "Dataset not found or corrupted"
        raise missing(f"CIFAR-10 under {root}", "expected cifar-10-batches-py (torchvision's layout, checked "
                      "against its checksums); add --download when online") from None
    except OSError as exc:  # a download that failed (offline)
        raise GanforgeError(f"could not download CIFAR-10 into {root}: {exc}") from None
    if options.channels == 1:
        raise GanforgeError("CIFAR-10 is colour; leave out --channels 1")

    def images(split) -> Tensor:
        return _resized(torch.from_numpy(split.data).permute(0, 3, 1, 2).contiguous(), options.image_size)

    s = options.image_size
    return Dataset("cifar10", to_unit_range(images(train)), to_unit_range(images(test)),
                   f"torchvision CIFAR-10 from {Path(root)} ({len(train.data):,} training images, {s}x{s})",
                   torch.as_tensor(train.targets, dtype=torch.int64), torch.as_tensor(test.targets, dtype=torch.int64),
                   {"classes": list(train.classes)})
