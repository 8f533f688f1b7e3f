"""Training: options (config.py), the shared run lifecycle (loop.py), GAN training (gan.py, with the
step maths in step.py) and autoencoder training (ae.py)."""
from .ae import train_ae
from ..config import AEConfig, TrainConfig, resolve, resolve_ae
from .gan import build_gan, train
from .step import GanParts, gan_step

__all__ = ["AEConfig", "TrainConfig", "resolve", "resolve_ae", "train", "train_ae", "build_gan", "GanParts",
           "gan_step"]
