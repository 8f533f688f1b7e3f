"""CelebA-class DCGAN-like family M10-M17, differing in width and depth.

Images are square with a power-of-two side (64 by default). Generators start at 4x4 and
double the side with each transposed convolution; discriminators halve it down to 4x4.
``extra`` adds a 3x3 stride-1 convolution after each resolution change (the deeper models).
"""
from __future__ import annotations

import math

from torch import Tensor, nn

from .registry import register_model


def _stages(side: int) -> int:
    return int(math.log2(side)) - 2  # 64 -> 4 stages: 4 -> 8 -> 16 -> 32 -> 64


class DCGANGenerator(nn.Module):
    def __init__(self, *, z_dim: int, shape: tuple[int, ...], width: int, extra: bool = False):
        super().__init__()
        channels, side, _ = shape
        n = _stages(side)
        top = width * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, top, 4, 1, 0, bias=False), nn.BatchNorm2d(top), nn.ReLU(True),
        ]  # (B, top, 4, 4)
        c = top
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
            if extra:
                layers += [nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]  # (B, C, side, side)
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    def __init__(self, *, shape: tuple[int, ...], width: int, extra: bool = False):
        super().__init__()
        channels, side, _ = shape
        n = _stages(side)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = width
        for _ in range(n - 1):
            if extra:
                layers += [nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(0.2, True)]
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2, True)]
            c *= 2
        layers += [nn.Conv2d(c, 1, 4, 1, 0)]  # (B, 1, 1, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten()


def _generator(name: str, width: int, extra: bool = False, about: str = ""):
    @register_model(name, role="G", family="celeb", default_z=100, about=about)
    def build(*, z_dim: int = 100, shape: tuple[int, ...] = (3, 64, 64)) -> nn.Module:
        return DCGANGenerator(z_dim=z_dim, shape=shape, width=width, extra=extra)

    return build


def _discriminator(name: str, width: int, extra: bool = False, about: str = ""):
    @register_model(name, role="D", family="celeb", about=about)
    def build(*, shape: tuple[int, ...] = (3, 64, 64)) -> nn.Module:
        return DCGANDiscriminator(shape=shape, width=width, extra=extra)

    return build


_generator("M10", 32, about="DCGAN G, width 32")
_generator("M11", 64, about="DCGAN G, width 64 (report's CelebA G)")
_discriminator("M12", 64, about="DCGAN D, width 64 (report's CelebA D)")
_discriminator("M13", 32, about="DCGAN D, width 32")
_generator("M14", 128, about="DCGAN G, width 128")
_discriminator("M15", 128, about="DCGAN D, width 128")
_generator("M16", 64, extra=True, about="deeper DCGAN G, width 64")
_discriminator("M17", 64, extra=True, about="deeper DCGAN D, width 64")
