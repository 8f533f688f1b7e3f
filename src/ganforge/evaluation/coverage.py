"""Coverage of data that has no evaluator: NDB, the number of statistically different bins
(Richardson and Weiss 2018, "On GANs and GMMs").

The real training images are split into ``bins`` k-means cells; every real and generated image falls
into its nearest cell. Where a generator covers the data, each cell holds about the same share of its
samples as of the real images; a two-proportion z-test per cell (at ``alpha``) counts the cells whose
shares differ, and the KL divergence of the two histograms sums how far they are apart. Mode collapse
shows as many different cells, the empty ones among them. The features are the images' pixels,
average-pooled to at most ``FEATURE_SIDE`` on a side, as the paper uses pixels for small images.
"""
from __future__ import annotations

from statistics import NormalDist

import torch
import torch.nn.functional as F
from torch import Tensor

BINS = 100  # the paper's K for CelebA-class data
ALPHA = 0.05
FEATURE_SIDE = 32
EPSILON = 1e-6  # keeps an empty cell's log finite in the KL


def pixel_features(images: Tensor) -> Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, C * s * s) pixels, s = min(H, FEATURE_SIDE)."""
    side = min(images.shape[-1], FEATURE_SIDE)
    return F.adaptive_avg_pool2d(images.float(), side).flatten(1)


def ndb(real: Tensor, fake: Tensor, *, bins: int = BINS, alpha: float = ALPHA, seed: int = 0) -> dict[str, float]:
    """NDB of ``fake`` (M, D) features against ``real`` (N, D): the cells whose shares differ, their share of
    all cells, and KL(real histogram || fake histogram) over the cells."""
    from sklearn.cluster import KMeans  # a second to import: only when coverage is measured

    bins = min(bins, len(real) // 2)
    km = KMeans(n_clusters=bins, n_init=1, random_state=seed).fit(real.double().numpy())
    centres = torch.from_numpy(km.cluster_centers_)
    real_counts = torch.bincount(torch.from_numpy(km.labels_).long(), minlength=bins).double()
    fake_counts = torch.bincount(torch.cdist(fake.double(), centres).argmin(1), minlength=bins).double()
    n, m = real_counts.sum(), fake_counts.sum()
    p, q = real_counts / n, fake_counts / m
    pooled = (real_counts + fake_counts) / (n + m)
    z = (q - p) / torch.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m)).clamp_min(1e-12)
    different = int((z.abs() > NormalDist().inv_cdf(1 - alpha / 2)).sum())
    kl = float((p * torch.log((p + EPSILON) / (q + EPSILON))).sum())
    return {"ndb": different, "ndb_share": different / bins, "bins": bins, "bin_kl": kl,
            "empty_bins": int((fake_counts == 0).sum()), "alpha": alpha}

