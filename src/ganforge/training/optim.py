"""The optimiser every training command uses, and the learning-rate schedule."""
from __future__ import annotations

import torch


def adam(params, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam with the fused kernel where the device has one (CPU and CUDA: several times faster
    than the per-parameter loop for these models), the foreach one elsewhere."""
    fast = {"fused": True} if device.type in ("cpu", "cuda") else {"foreach": True}
    return torch.optim.Adam(params, lr=lr, betas=betas, **fast)


def set_decayed_rates(rates: dict[torch.optim.Optimizer, float], images: int, half_life: float) -> None:
    """Set each optimiser's rate to its base rate halved once per ``half_life`` of the ``images`` seen
    (a function of the position alone, so a resumed or distributed run sets the same rates)."""
    factor = 0.5 ** (images / half_life)
    for opt, lr in rates.items():
        for group in opt.param_groups:
            if torch.is_tensor(group["lr"]):  # a captured step reads its rate from this tensor (cuda_graphs.py)
                group["lr"].fill_(lr * factor)
            else:
                group["lr"] = lr * factor
