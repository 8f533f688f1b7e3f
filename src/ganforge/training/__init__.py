"""GAN training: options, the step maths, and the loop."""
from .config import TrainConfig, resolve
from .loop import train
from .step import GanParts, gan_step

__all__ = ["TrainConfig", "resolve", "train", "GanParts", "gan_step"]
