"""Self-conditioning: class-conditional training on clusters of the training data instead of labels.

A class-conditional GAN keeps its classes apart and covers each of them; self-conditioned GANs
(Liu et al. 2020, "Diverse Image Generation via Self-Conditioned GANs") get that without labels by
conditioning on clusters of the data, G drawing its classes in proportion to the clusters' sizes.
Here the clusters are found once, before training: k-means (scikit-learn) on the data's leading
principal components (images) or on the points themselves (the 2-D toys). Nothing about the data's
labels is used.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..errors import GanforgeError
from ..models.conditional import class_shares

COMPONENTS = 50  # principal components of the pixels k-means works in
RESTARTS = 4  # k-means runs from different seeds; the one with the least inertia is kept


@dataclass(frozen=True)
class Clusters:
    assignment: Tensor  # (N,) int64: the cluster of each training item
    prior: Tensor  # (K,) float: each cluster's share of the training items

    def digest(self) -> str:
        """A short fingerprint of the assignment: a resumed run checks it found the same clusters."""
        return hashlib.sha256(self.assignment.numpy().astype(np.int64).tobytes()).hexdigest()[:16]


def check_count(k: int, items: int) -> None:
    if not 2 <= k <= items:
        raise GanforgeError(f"--clusters must be between 2 and the {items:,} training items, got {k}")


def find_clusters(x: Tensor, k: int, seed: int) -> Clusters:
    """``k`` k-means clusters of the items of ``x`` (N, ...), the same for the same data and seed."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    check_count(k, len(x))
    flat = x.detach().flatten(1).double().cpu().numpy()
    if flat.shape[1] > COMPONENTS:
        flat = PCA(COMPONENTS, random_state=seed).fit_transform(flat)
    labels = KMeans(k, n_init=RESTARTS, random_state=seed).fit(flat).labels_
    assignment = torch.from_numpy(labels.astype(np.int64))
    return Clusters(assignment, class_shares(assignment, k))
