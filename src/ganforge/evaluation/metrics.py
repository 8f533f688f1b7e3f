"""Sample-quality metrics in the feature space of a shipped evaluator network.

FID and KID come from torchmetrics, fed with the evaluator's penultimate features; the
classifier score is the Inception-score analogue exp(E_x KL(p(y|x) || p(y))); precision and
recall are Kynkaanniemi et al.'s (2019) k-nearest-neighbour manifold estimates, density and
coverage Naeem et al.'s (2020). Real-data features are cached under a hash of the dataset's test
images and the evaluator's weights.
"""
from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass

import torch
from safetensors.torch import load, save
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from ..data.registry import cache_dir
from ..io import atomic_write_bytes


@dataclass
class Evaluated:
    features: Tensor  # (N, F)
    probs: Tensor  # (N, classes)


@torch.no_grad()
def evaluate_images(net: nn.Module, images: Tensor, batch: int = 500) -> Evaluated:
    """Evaluator features and class probabilities of images (N, C, H, W) in [-1, 1]."""
    device = next(net.parameters()).device
    feats, probs = [], []
    for chunk in images.split(batch):
        f = net.features(chunk.to(device))
        feats.append(f.cpu())
        probs.append(torch.softmax(net.head(f), 1).cpu())
    return Evaluated(torch.cat(feats), torch.cat(probs))


def real_features(net: nn.Module, images: Tensor, evaluator_sha256: str) -> Evaluated:
    """``evaluate_images`` of real data, cached under a hash of the images and the evaluator."""
    h = hashlib.sha256(evaluator_sha256.encode())
    h.update(str(tuple(images.shape)).encode())
    h.update(images.contiguous().numpy().tobytes())
    path = cache_dir() / "features" / f"{h.hexdigest()[:24]}.safetensors"
    if path.exists():
        try:
            t = load(path.read_bytes())
            return Evaluated(t["features"], t["probs"])
        except Exception:  # a damaged cache is recomputed, never trusted
            pass
    result = evaluate_images(net, images)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save({"features": result.features.contiguous(), "probs": result.probs.contiguous()}))
    return result


class _Given(nn.Module):
    """Lets torchmetrics' FID/KID take features we computed (and cached) ourselves."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x: Tensor) -> Tensor:
        return x


def fid(real: Tensor, fake: Tensor) -> float:
    metric = FrechetInceptionDistance(feature=_Given(real.shape[1]))
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid(real: Tensor, fake: Tensor, *, subsets: int = 50, seed: int = 0) -> tuple[float, float]:
    size = min(len(real), len(fake), 1000)
    with warnings.catch_warnings():  # it keeps all features in memory: a few MB here
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_Given(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def classifier_score(probs: Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))): high when each sample is one class clearly and all classes appear."""
    p_y = probs.mean(0, keepdim=True)
    kl = (probs * (probs.clamp_min(1e-12).log() - p_y.clamp_min(1e-12).log())).sum(1)
    return math.exp(float(kl.mean()))


def kl_to_uniform(counts: Tensor) -> float:
    """KL(q || uniform) of the histogram ``counts`` (K,): 0 when every bin is equally full, log K when
    one bin holds everything; inf for an empty histogram."""
    total = counts.double().sum()
    if total <= 0:
        return math.inf
    q = counts.double() / total
    nz = q > 0
    return float((q[nz] * (q[nz] * len(q)).log()).sum())


def class_histogram(probs: Tensor) -> tuple[list[float], float]:
    """Share of samples per predicted class, and its KL divergence to the uniform distribution."""
    counts = torch.bincount(probs.argmax(1), minlength=probs.shape[1])
    return (counts.double() / len(probs)).tolist(), kl_to_uniform(counts)


def class_kl_to_data(real_probs: Tensor, fake_probs: Tensor, epsilon: float = 1e-6) -> float:
    """KL(samples' class histogram || the real images'), both as the evaluator reads them: for data whose
    classes are not equally common (emoji categories), how far the samples' mix is from the data's."""
    q, p = (torch.bincount(x.argmax(1), minlength=x.shape[1]).double() / len(x) for x in (fake_probs, real_probs))
    return float((q * torch.log((q + epsilon) / (p + epsilon))).sum())


def kth_neighbour_distance(x: Tensor, k: int) -> Tensor:
    """(N,) each point's distance to its k-th nearest neighbour among the others."""
    return torch.cdist(x, x).kthvalue(k + 1, dim=1).values  # +1: each point is its own nearest neighbour


def _within(points: Tensor, centres: Tensor, radii: Tensor) -> list[Tensor]:
    """(len(points), len(centres)) whether each point lies in each centre's ball, in chunks of 1,000 points."""
    return [torch.cdist(chunk, centres) <= radii[None] for chunk in points.split(1000)]


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Kynkaanniemi et al. (2019): precision = share of fakes inside the real manifold (the union
    of balls reaching each real point's k-th neighbour); recall = share of reals inside the fake one."""

    def inside(points: Tensor, centres: Tensor) -> float:
        hits = [w.any(1) for w in _within(points, centres, kth_neighbour_distance(centres, k))]
        return float(torch.cat(hits).float().mean())

    real, fake = real.double(), fake.double()
    return inside(fake, real), inside(real, fake)


def density_coverage(real: Tensor, fake: Tensor, k: int = 5) -> tuple[float, float]:
    """Naeem et al. (2020), from the real points' k-nearest-neighbour balls alone (no fake manifold, so
    outlying fakes cannot inflate them): density = the mean number of real balls a fake lies in, over k
    (1 on average for samples from the data's own distribution; above 1 where fakes crowd where reals are
    dense); coverage = the share of real balls holding at least one fake."""
    real, fake = real.double(), fake.double()
    radii = kth_neighbour_distance(real, k)
    inside, covered = 0, torch.zeros(len(real), dtype=torch.bool)
    for w in _within(fake, real, radii):
        inside += int(w.sum())
        covered |= w.any(0)
    return inside / (k * len(fake)), float(covered.double().mean())


def image_metrics(real: Evaluated, fake: Evaluated) -> dict:
    """Every image metric of samples against real data, both in the evaluator's (LeNet) features."""
    hist, kl = class_histogram(fake.probs)
    precision, recall = precision_recall(real.features, fake.features)
    density, coverage = density_coverage(real.features, fake.features)
    kid_mean, kid_std = kid(real.features, fake.features)
    return {
        "lenet_fid": fid(real.features, fake.features), "lenet_kid": kid_mean, "lenet_kid_std": kid_std,
        "classifier_score": classifier_score(fake.probs), "classifier_score_real": classifier_score(real.probs),
        "class_histogram": [round(h, 4) for h in hist], "class_kl_to_uniform": kl,
        "class_kl_to_data": class_kl_to_data(real.probs, fake.probs),
        "precision": precision, "recall": recall, "density": density, "coverage": coverage,
        "n_real": len(real.features), "n_fake": len(fake.features),
    }

