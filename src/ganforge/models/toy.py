"""MLPs for the 2-D toys (ring, grid): toy-g/toy-d sized like Metz et al.'s unrolled-GAN experiments,
pac-g/pac-d like PacGAN's (Lin et al. 2018)."""
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


class Maxout(nn.Module):
    """A linear layer to ``n_out`` x ``pieces`` units, each output the largest of its ``pieces``."""

    def __init__(self, n_in: int, n_out: int, pieces: int):
        super().__init__()
        self.linear, self.n_out, self.pieces = nn.Linear(n_in, n_out * pieces), n_out, pieces

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(len(x), self.n_out, self.pieces).amax(-1)  # (B, n_out)


@register_model("pac-g", role="G", family="toy", default_z=2,
                about="PacGAN's toy G: 4 x 400 BatchNorm-ReLU layers")
class PacGenerator(nn.Module):
    """The generator of PacGAN's (and VEEGAN's) 2-D experiments: z (2-d) through four hidden layers of
    400 units, each BatchNorm then ReLU, to a point."""

    def __init__(self, *, z_dim: int = 2, shape: tuple[int, ...] = (2,), hidden: int = 400, layers: int = 4):
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Linear(z_dim if i == 0 else hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*blocks, nn.Linear(hidden, shape[0]))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)  # (B, 2)


@register_model("pac-d", role="D", family="toy", about="PacGAN's toy D: 3 x 200 maxout layers (5 pieces)")
class PacDiscriminator(nn.Module):
    """The discriminator of PacGAN's 2-D experiments: three maxout layers of 200 units with 5 pieces
    each, then a linear logit; its input is 2 x pack wide."""

    def __init__(self, *, shape: tuple[int, ...] = (2,), hidden: int = 200, pieces: int = 5):
        super().__init__()
        self.net = nn.Sequential(Maxout(shape[0], hidden, pieces), Maxout(hidden, hidden, pieces),
                                 Maxout(hidden, hidden, pieces), nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)  # (B,)
