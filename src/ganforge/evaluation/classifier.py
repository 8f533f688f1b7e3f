"""The evaluator networks: small LeNet-class classifiers whose penultimate features stand in for
Inception's in FID/KID, and whose predictions give the classifier score and class histograms.

Weights ship inside the package (``ganforge/evaluation/weights/<dataset>.safetensors``), trained
by ``ganforge train-evaluator`` on the dataset's training split; their checksums and test
accuracies are recorded in ``weights/evaluators.json``.
"""
from __future__ import annotations

import hashlib
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoint import load_checkpoint, load_weights, prefixed, save_checkpoint, unprefixed
from ..data import DataOptions, load_dataset
from ..errors import GanforgeError
from ..records import read_record, write_record

FEATURES = 128
EVALUATOR_DATASETS = ("mnist", "fashion", "emoji")
SIDE = 28  # what the network sees: images of other sizes are average-pooled to it
WEIGHTS = "weights"


class LeNet(nn.Module):
    """(B, C, H, W) in [-1, 1] -> ``classes`` logits; ``features`` gives the 128-d penultimate layer. Images of
    another size are average-pooled to 28x28 first (colour ones keep their channels)."""

    def __init__(self, channels: int = 1, classes: int = 10):
        super().__init__()
        self.channels = channels
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(True), nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(True), nn.MaxPool2d(2),  # (B, 64, 7, 7)
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, FEATURES), nn.ReLU(True),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, classes))

    def features(self, x: Tensor) -> Tensor:
        if x.shape[-1] != SIDE:
            x = F.adaptive_avg_pool2d(x, SIDE)
        return self.body(x)  # (B, 128)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (B, classes)


def weights_dir() -> Path:
    return Path(str(resources.files("ganforge.evaluation").joinpath(WEIGHTS)))


def load_evaluator(dataset: str, *, path: Optional[Path] = None, device="cpu") -> tuple[LeNet, dict]:
    """The shipped (or a given) evaluator for ``dataset``, in eval mode; GanforgeError if it is missing."""
    path = path or weights_dir() / f"{dataset}.safetensors"
    if not path.is_file():
        raise GanforgeError(f"no evaluator for {dataset} ({path} is missing); evaluators ship for "
                            f"{', '.join(EVALUATOR_DATASETS)}, or make one with `ganforge train-evaluator`")
    tensors, meta = load_checkpoint(path)
    if meta.get("kind") != "evaluator":
        raise GanforgeError(f"{path} is not an evaluator checkpoint")
    if meta.get("dataset") != dataset:
        raise GanforgeError(f"evaluator {path} is for {meta.get('dataset')}, not {dataset}")
    net = LeNet(channels=meta.get("channels", 1), classes=meta.get("classes", 10))
    load_weights(net, unprefixed("net", tensors), str(path))
    meta["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return net.to(device).eval().requires_grad_(False), meta


def shift_augment(x: Tensor, generator: torch.Generator, max_shift: int = 2, fill: float = -1.0) -> Tensor:
    """Random translations by up to ``max_shift`` pixels, padding with the background ``fill``."""
    padded = F.pad(x, [max_shift] * 4, value=fill)
    n, _, h, w = x.shape
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (N, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (N, 1, W)
    return padded[torch.arange(n)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


@torch.no_grad()
def accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    net.eval()
    pred = torch.cat([net(chunk).argmax(1) for chunk in x.split(1000)])
    return float((pred == y).float().mean())


def train_evaluator(dataset: str, *, epochs: int = 12, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                    out: Optional[Path] = None, quiet: bool = False, data_root: Optional[Path] = None,
                    images: Optional[Path] = None) -> dict:
    """Train the evaluator on ``dataset``'s training split (``images``: the folder of dataset "images"); write
    its weights and record its test accuracy."""
    if dataset not in (*EVALUATOR_DATASETS, "images"):
        raise GanforgeError(f"evaluators are trained for {', '.join(EVALUATOR_DATASETS)} or --images, not {dataset}")
    data = load_dataset(dataset, DataOptions(root=data_root, images=images))
    if data.train_labels is None:
        raise GanforgeError(f"an evaluator learns classes: {images} needs one subfolder per class")
    print(f"data: {data.describe()}", file=sys.stderr)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    classes = len(data.extras.get("classes", ())) or 10
    fill = float(data.train[:, :, 0, 0].mean())  # the background shifts reveal: black digits' -1, white emoji's 1
    net = LeNet(channels=data.shape[0], classes=classes)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(data.train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    start = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(data.train), generator=g)
        for b in range(len(data.train) // batch_size):
            idx = order[b * batch_size:(b + 1) * batch_size]
            x = shift_augment(data.train[idx], g, fill=fill)
            loss = F.cross_entropy(net(x), data.train_labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if not quiet:
            print(f"epoch {epoch + 1}/{epochs}: test accuracy {accuracy(net, data.test, data.test_labels):.4f}",
                  file=sys.stderr)
    acc = accuracy(net, data.test, data.test_labels)
    out_dir = out or weights_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{dataset}.safetensors"
    save_checkpoint(path, prefixed("net", net.state_dict()), {
        "kind": "evaluator", "dataset": dataset, "architecture": "LeNet", "features": FEATURES,
        "channels": data.shape[0], "classes": classes,
        "test_accuracy": round(acc, 5), "train_images": len(data.train), "source": data.source, "epochs": epochs})
    record_path = out_dir / "evaluators.json"
    records = read_record(record_path, expect=("evaluators",))["evaluators"] if record_path.exists() else {}
    records[dataset] = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                        "test_accuracy": round(acc, 5), "test_images": len(data.test), "source": data.describe(),
                        "epochs": epochs, "seconds": round(time.perf_counter() - start, 1)}
    write_record(record_path, "evaluators", {"evaluators": records})
    return {"path": str(path), **records[dataset]}
