"""What training puts around a registered model: PacGAN's packing and spectral normalisation."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from .conditional import ClassBatchNorm


class Packed(nn.Module):
    """PacGAN's discriminator: D judges ``m`` samples at a time, (B, C, ...) -> (B/m, m*C, ...), so
    it sees how varied a group is (Lin et al. 2018). Real and fake batches are packed separately."""

    def __init__(self, D: nn.Module, m: int):
        super().__init__()
        self.d, self.m = D, m

    def forward(self, x: Tensor) -> Tensor:
        return self.d(x.reshape(len(x) // self.m, self.m * x.shape[1], *x.shape[2:]))  # (B/m,) logits


def spectral_normalise(module: nn.Module) -> nn.Module:
    """Every weight layer under torch's spectral-norm parametrisation (one power iteration per forward), but
    the class gains and biases of a ClassBatchNorm (which start at 0, a matrix without a largest direction)."""
    gains = {id(m) for c in module.modules() if isinstance(c, ClassBatchNorm) for m in (c.gain, c.shift)}
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and id(layer) not in gains:
            spectral_norm(layer)
    return module
