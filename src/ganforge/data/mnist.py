"""MNIST, Fashion-MNIST and Stacked MNIST.

MNIST comes from torchvision's layout under --data-root (or --download), else from the
10,000-digit real sample bundled in the package (see scripts/rebuild_mnist_sample.py).
"""
from __future__ import annotations

import hashlib
import io
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import GanforgeError
from .registry import DataOptions, Dataset, cache_dir, missing, register_dataset, to_unit_range

SAMPLE_FILE = "mnist_sample_10k.npz"
SAMPLE_SHA256 = "0217e13bd0668deb198aa7d305edbf0331eb89f8a6e7dd226e03d1aa3a9bd4ef"
SAMPLE_TEST = 2000
SPLIT_SEED = 1234  # fixed: the bundled split is the same on every machine
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def stratified_split(labels: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/test indices with each class's share of the test split equal to its share overall.

    Per-class test counts are rounded by largest remainder so they add up to ``n_test``.
    """
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n_test / len(labels)
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take), kind="stable")[: n_test - take.sum()]:
        take[i] += 1
    rng = np.random.default_rng(seed)
    test = []
    for c, k in zip(classes, take):
        idx = np.flatnonzero(labels == c)
        test.append(rng.permutation(idx)[:k])
    test_idx = np.sort(np.concatenate(test))
    train_mask = np.ones(len(labels), bool)
    train_mask[test_idx] = False
    # Shuffle train so that a --limit slice holds every digit.
    train_idx = rng.permutation(np.flatnonzero(train_mask))
    return train_idx, test_idx


def load_bundled_sample() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    blob = resources.files("ganforge.data").joinpath(SAMPLE_FILE).read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != SAMPLE_SHA256:
        raise GanforgeError(f"bundled {SAMPLE_FILE} is corrupt (sha256 {digest[:12]}...); reinstall ganforge")
    with np.load(io.BytesIO(blob)) as npz:
        images, labels = npz["images"], npz["labels"]
    train_idx, test_idx = stratified_split(labels, SAMPLE_TEST, SPLIT_SEED)
    images_t = torch.from_numpy(images)[:, None]  # (N, 1, 28, 28) uint8
    labels_t = torch.from_numpy(labels.astype(np.int64))
    return images_t[train_idx], labels_t[train_idx], images_t[test_idx], labels_t[test_idx]


def _torchvision_split(cls, root: Path, download: bool) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """torchvision's MNIST-style dataset from ``root``, or None when its files are not there."""
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except RuntimeError:  # "Dataset not found"
        return None
    except OSError as exc:  # download failed (offline)
        raise GanforgeError(f"could not download {cls.__name__} into {root}: {exc}") from None
    return train.data[:, None], train.targets, test.data[:, None], test.targets


def _dataset(name: str, split, source: str) -> Dataset:
    xtr, ytr, xte, yte = split
    return Dataset(name, to_unit_range(xtr), to_unit_range(xte), source, ytr.long(), yte.long())


@register_dataset("mnist", family="mnist", about="handwritten digits, 28x28 grey",
                  get="full MNIST: --download once online, or torchvision's MNIST/raw files under --data-root",
                  classes=10)
def load_mnist(options: DataOptions) -> Dataset:
    from torchvision.datasets import MNIST  # 1.5 s to import; the registry is read by every command
    if options.root is not None or options.download:
        root = options.root or cache_dir()
        split = _torchvision_split(MNIST, root, options.download)
        if split is not None:
            return _dataset("mnist", split, f"torchvision MNIST from {root}")
        if options.root is not None:
            raise missing(f"MNIST under {root}",
                          "expected MNIST/raw/*-ubyte files (torchvision's layout); add --download when online")
    return _dataset("mnist", load_bundled_sample(),
                    "bundled real MNIST sample (10,000 digits, stratified 8,000/2,000 split)")


def _fashion_from_debian(folder: Path, cache: Path) -> Path | None:
    """Unpack Debian's dataset-fashion-mnist .gz files into torchvision's layout under ``cache``."""
    from torchvision.datasets.utils import extract_archive  # 1.5 s to import: see load_mnist
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    if not all((folder / f"{n}.gz").exists() for n in names):
        return None
    raw = cache / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for n in names:
        if not (raw / n).exists():
            tmp = raw / f"{n}.gz"
            shutil.copyfile(folder / f"{n}.gz", tmp)
            extract_archive(str(tmp), str(raw), remove_finished=True)
    return cache


@register_dataset("fashion", family="mnist", about="Fashion-MNIST clothing, 28x28 grey",
                  get="apt-get install dataset-fashion-mnist, or torchvision's FashionMNIST/raw under --data-root",
                  classes=10)
def load_fashion(options: DataOptions) -> Dataset:
    from torchvision.datasets import FashionMNIST  # 1.5 s to import: see load_mnist
    if options.root is not None:
        split = _torchvision_split(FashionMNIST, options.root, options.download)
        if split is not None:
            return _dataset("fashion", split, f"torchvision FashionMNIST from {options.root}")
    debian = DEBIAN_FASHION
    root = _fashion_from_debian(debian, cache_dir() / "fashion")
    if root is not None:
        split = _torchvision_split(FashionMNIST, root, False)
        if split is not None:
            return _dataset("fashion", split, f"Debian dataset-fashion-mnist ({debian})")
    if options.download:
        split = _torchvision_split(FashionMNIST, cache_dir(), True)
        if split is not None:
            return _dataset("fashion", split, f"torchvision FashionMNIST downloaded to {cache_dir()}")
    raise missing("Fashion-MNIST", "apt-get install dataset-fashion-mnist, or pass --data-root with "
                  "torchvision's FashionMNIST/raw files, or --download when online")


def stack_digits(images: Tensor, labels: Tensor, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` colour images whose R, G, B channels are three independent random digits.

    The label is the mode 100*d_R + 10*d_G + d_B, one of 1,000.
    """
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(images), (n, 3), generator=g)  # (n, 3)
    stacked = images[idx, 0]  # (n, 3, 28, 28)
    modes = (labels[idx] * torch.tensor([100, 10, 1])).sum(1)
    return stacked, modes


@register_dataset("stacked-mnist", family="mnist", about="three MNIST digits as RGB channels; 1,000 modes",
                  get="built from MNIST (see mnist)", classes=1000)
def load_stacked_mnist(options: DataOptions) -> Dataset:
    base = load_mnist(options)
    xtr, ytr = stack_digits(base.train, base.train_labels, 60_000, options.seed)
    xte, yte = stack_digits(base.test, base.test_labels, 10_000, options.seed + 1)
    return Dataset("stacked-mnist", xtr, xte, f"stacked from {base.source}", ytr, yte)
