"""Small MLPs for the 2-D toys (ring, grid), sized like Metz et al.'s unrolled-GAN experiments."""
from __future__ import annotations

from torch import Tensor, nn

from .registry import register_model


def _mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, n_out),
    )


@register_model("toy-g", role="G", family="toy", default_z=64, about="MLP G for 2-D toys")
class ToyGenerator(nn.Module):
    def __init__(self, *, z_dim: int = 64, shape: tuple[int, ...] = (2,), hidden: int = 128):
        super().__init__()
        self.net = _mlp(z_dim, shape[0], hidden)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)  # (B, 2)


@register_model("toy-d", role="D", family="toy", about="MLP D for 2-D toys")
class ToyDiscriminator(nn.Module):
    def __init__(self, *, shape: tuple[int, ...] = (2,), hidden: int = 128):
        super().__init__()
        self.net = _mlp(shape[0], 1, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)  # (B,)
