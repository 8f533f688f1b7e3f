"""The report's convolutional autoencoder: 3 convolutions (BatchNorm, ReLU) and a linear layer
to the latent; a linear layer and 3 transposed convolutions back. ``forward`` returns both the
reconstruction and z, as the report's model did, so z can be regularised and interpolated."""
from __future__ import annotations

from torch import Tensor, nn

from .registry import register_model


class ConvAutoencoder(nn.Module):
    def __init__(self, *, z_dim: int, shape: tuple[int, ...], widths: tuple[int, int, int], bottom: int,
                 last_kernel: int):
        super().__init__()
        c = shape[0]
        w1, w2, w3 = widths
        self.bottom, self.w3 = bottom, w3
        self.encoder = nn.Sequential(
            nn.Conv2d(c, w1, 4, 2, 1), nn.BatchNorm2d(w1), nn.ReLU(True),
            nn.Conv2d(w1, w2, 4, 2, 1), nn.BatchNorm2d(w2), nn.ReLU(True),
            nn.Conv2d(w2, w3, 3, 1, 1) if last_kernel == 3 else nn.Conv2d(w2, w3, 4, 2, 1),
            nn.BatchNorm2d(w3), nn.ReLU(True),
            nn.Flatten(), nn.Linear(w3 * bottom * bottom, z_dim),
        )
        self.fc = nn.Sequential(nn.Linear(z_dim, w3 * bottom * bottom), nn.ReLU(True))
        self.deconv = nn.Sequential(
            (nn.ConvTranspose2d(w3, w2, 3, 1, 1) if last_kernel == 3 else nn.ConvTranspose2d(w3, w2, 4, 2, 1)),
            nn.ReLU(True),
            nn.ConvTranspose2d(w2, w1, 4, 2, 1), nn.ReLU(True),
            nn.ConvTranspose2d(w1, c, 4, 2, 1), nn.Tanh(),
        )

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)  # (B, z), no activation: its distribution is what the moments shape

    def decode(self, z: Tensor) -> Tensor:
        return self.deconv(self.fc(z).view(-1, self.w3, self.bottom, self.bottom))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self.encode(x)
        return self.decode(z), z


@register_model("AE", role="AE", family="mnist", default_z=100, about="report's autoencoder, 28x28")
def mnist_autoencoder(*, z_dim: int = 100, shape: tuple[int, ...] = (1, 28, 28)) -> ConvAutoencoder:
    # 28 -> 14 -> 7 -> 7 (a stride-1 third convolution keeps 7x7, since 7 does not halve)
    return ConvAutoencoder(z_dim=z_dim, shape=shape, widths=(32, 64, 128), bottom=7, last_kernel=3)


@register_model("AE64", role="AE", family="celeb", default_z=100, about="the autoencoder for 64x64 colour")
def celeb_autoencoder(*, z_dim: int = 100, shape: tuple[int, ...] = (3, 64, 64)) -> ConvAutoencoder:
    return ConvAutoencoder(z_dim=z_dim, shape=shape, widths=(32, 64, 128), bottom=shape[1] // 8, last_kernel=4)
