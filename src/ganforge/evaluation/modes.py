"""Mode coverage, the benchmarks used to judge unrolled GANs.

Stacked MNIST: each of the three channels is classified by the MNIST evaluator; the digit
triple is one of 1,000 modes. Over 26,000 samples we count the modes that appear and the KL
divergence of the mode histogram to uniform (Metz et al. 2017; Srivastava et al. 2017). That KL
splits exactly into each channel's digit histogram's KL to uniform plus the dependence between the
channels (their multi-information), which ``stacked_breakdown`` reports: it tells skewed digits apart
from digits that go together.

ring / grid: a sample is high quality when it lies within 3 standard deviations of its
nearest mode centre. VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018) count a mode
as captured when at least one high-quality sample of 2,500 is nearest to it
(``modes_with_any_sample``, the column to compare with their tables); ``modes_covered`` is
stricter: at least 0.8 % of the samples (20 of 2,500). Reverse KL is KL(generated mode
histogram || uniform).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .metrics import kl_to_uniform

STACKED_SAMPLES = 26_000
TOY_SAMPLES = 2_500


@torch.no_grad()
def stacked_modes(net: nn.Module, images: Tensor, batch: int = 1000) -> Tensor:
    """Mode ids 100*d_R + 10*d_G + d_B of images (N, 3, 28, 28), one digit per channel."""
    device = next(net.parameters()).device
    out = []
    for chunk in images.split(batch):
        digits = net(chunk.to(device).reshape(-1, 1, 28, 28)).argmax(1).view(-1, 3)  # (B, 3)
        out.append((digits * torch.tensor([100, 10, 1], device=device)).sum(1).cpu())
    return torch.cat(out)


def mode_histogram_metrics(modes: Tensor, n_modes: int) -> dict:
    counts = torch.bincount(modes, minlength=n_modes)
    return {"modes_covered": int((counts > 0).sum()), "modes_total": n_modes, "kl_to_uniform": kl_to_uniform(counts),
            "samples": len(modes)}


def stacked_breakdown(modes: Tensor) -> dict:
    """The parts of a Stacked MNIST mode histogram's KL to uniform: each channel's digit histogram's KL
    to uniform (R, G, B), and the multi-information between the channels, which is what remains (0 when
    the channels' digits are independent). With finite samples both parts carry a positive bias."""
    counts = torch.bincount(modes, minlength=1000).double()
    channel = [counts.view(10, 10, 10).sum(dims) for dims in ((1, 2), (0, 2), (0, 1))]
    channel_kl = [kl_to_uniform(c) for c in channel]
    return {"channel_kl_to_uniform": channel_kl, "channel_dependence": kl_to_uniform(counts) - sum(channel_kl)}


def toy_metrics(samples: Tensor, centres: Tensor, std: float, *, min_count_share: float = 20 / 2500) -> dict:
    """Covered modes, share of high-quality samples and reverse KL for 2-D samples (N, 2)."""
    dist, nearest = torch.cdist(samples.double(), centres.double()).min(1)
    good = dist <= 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centres)).double()
    covered = counts >= max(1.0, min_count_share * len(samples))
    reverse_kl = kl_to_uniform(counts)
    return {"modes_covered": int(covered.sum()), "modes_with_any_sample": int((counts > 0).sum()),
            "modes_total": len(centres),
            "high_quality_share": float(good.double().mean()), "reverse_kl": reverse_kl, "samples": len(samples),
            "counts": counts.long().tolist()}
