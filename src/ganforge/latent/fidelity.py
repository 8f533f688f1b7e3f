"""Image fidelity of restored images: PSNR and SSIM (torchmetrics), on all or on hidden pixels."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

DATA_RANGE = 2.0  # images live in [-1, 1]


def psnr(pred: Tensor, target: Tensor, where: Optional[Tensor] = None) -> Tensor:
    """Per-image PSNR in dB, (N, C, H, W) -> (N,); ``where`` (N, 1|C, H, W) bool limits the pixels."""
    if where is None:
        return peak_signal_noise_ratio(pred, target, data_range=DATA_RANGE, reduction="none", dim=(1, 2, 3))
    where = where.expand_as(pred)
    return torch.stack([peak_signal_noise_ratio(p[w], t[w], data_range=DATA_RANGE)
                        for p, t, w in zip(pred, target, where)])


def ssim(pred: Tensor, target: Tensor, where: Optional[Tensor] = None) -> Tensor:
    """Per-image SSIM, (N, C, H, W) -> (N,); with ``where``, the SSIM map averaged over those pixels."""
    scores, full = structural_similarity_index_measure(pred, target, data_range=DATA_RANGE, reduction="none",
                                                       return_full_image=True)
    if where is None:
        return scores
    where = where.expand_as(full).to(full.dtype)
    return (full * where).flatten(1).sum(1) / where.flatten(1).sum(1).clamp_min(1)
