"""MNIST-class models (28x28; 1 channel, or 3 for stacked MNIST): the report's M1-M5, and M5-deep."""
from __future__ import annotations

from torch import Tensor, nn

from .registry import register_model


@register_model("M1", role="G", family="mnist", default_z=50,
                about="report's best G: 3 linear + 3 transposed convs")
class M1Generator(nn.Module):
    """z -> 1024 -> 256 -> 784 (16x7x7) -> ConvT 64 (7x7) -> ConvT 128 (14x14) -> ConvT C (28x28).

    675,025 parameters at z = 50 with one channel, as the report counted.
    """

    def __init__(self, *, z_dim: int = 50, shape: tuple[int, ...] = (1, 28, 28)):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(z_dim, 1024), nn.ReLU(inplace=True),
            nn.Linear(1024, 256), nn.ReLU(inplace=True),
            nn.Linear(256, 16 * 7 * 7), nn.ReLU(inplace=True),
        )
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(16, 64, 5, 1, 2), nn.ReLU(inplace=True),  # (B, 64, 7, 7)
            nn.ConvTranspose2d(64, 128, 4, 2, 1), nn.ReLU(inplace=True),  # (B, 128, 14, 14)
            nn.ConvTranspose2d(128, shape[0], 4, 2, 1), nn.Tanh(),  # (B, C, 28, 28)
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.conv(self.fc(z).view(-1, 16, 7, 7))


@register_model("M2", role="G", family="mnist", default_z=50, about="fully-connected G")
class M2Generator(nn.Module):
    def __init__(self, *, z_dim: int = 50, shape: tuple[int, ...] = (1, 28, 28)):
        super().__init__()
        self.shape = shape
        self.net = nn.Sequential(
            nn.Linear(z_dim, 256), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 512), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 1024), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, shape[0] * 28 * 28), nn.Tanh(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, *self.shape)


@register_model("M3", role="D", family="mnist", about="report's best D: 4 linear, LeakyReLU, dropout")
class M3Discriminator(nn.Module):
    """784 -> 1024 -> 512 -> 256 -> 1 logit. 1,460,225 parameters with one channel."""

    def __init__(self, *, shape: tuple[int, ...] = (1, 28, 28), dropout: float = 0.3):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(shape[0] * 28 * 28, 1024), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(dropout),
            nn.Linear(1024, 512), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(dropout),
            nn.Linear(512, 256), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(dropout),
            nn.Linear(256, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)  # (B,)


@register_model("M4", role="G", family="mnist", default_z=50, about="DCGAN-style convolutional G")
class M4Generator(nn.Module):
    def __init__(self, *, z_dim: int = 50, shape: tuple[int, ...] = (1, 28, 28), width: int = 64):
        super().__init__()
        self.width = width
        self.fc = nn.Sequential(
            nn.Linear(z_dim, 2 * width * 7 * 7, bias=False), nn.BatchNorm1d(2 * width * 7 * 7),
            nn.ReLU(inplace=True),
        )
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),  # (B, w, 14, 14)
            nn.ConvTranspose2d(width, shape[0], 4, 2, 1), nn.Tanh(),  # (B, C, 28, 28)
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.conv(self.fc(z).view(-1, 2 * self.width, 7, 7))


@register_model("M5", role="D", family="mnist", about="DCGAN-style convolutional D")
class M5Discriminator(nn.Module):
    """Conv 4x4/2 (w, 14x14) -> Conv 4x4/2 + BN (2w, 7x7) -> [``deep``: Conv 3x3/2 + BN (4w, 4x4)] -> linear logit.

    ``deep`` adds a third stride-2 stage, as DCGAN's discriminators go on halving the map: each unit of
    the last map then sees 18x18 pixels, a whole digit, against 10x10."""

    def __init__(self, *, shape: tuple[int, ...] = (1, 28, 28), width: int = 64, deep: bool = False):
        super().__init__()
        layers = [
            nn.Conv2d(shape[0], width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),  # (B, w, 14, 14)
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2, inplace=True),  # (B, 2w, 7, 7)
        ]
        features = 2 * width * 7 * 7
        if deep:
            layers += [nn.Conv2d(2 * width, 4 * width, 3, 2, 1, bias=False), nn.BatchNorm2d(4 * width),
                       nn.LeakyReLU(0.2, inplace=True)]  # (B, 4w, 4, 4)
            features = 4 * width * 4 * 4
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(features, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)


@register_model("M5-deep", role="D", family="mnist", about="M5 with a third stride-2 convolution (Stacked MNIST)")
def m5_deep(*, shape: tuple[int, ...] = (1, 28, 28)) -> M5Discriminator:
    return M5Discriminator(shape=shape, deep=True)
