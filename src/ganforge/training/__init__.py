"""Training: options (config.py, from the schema in options.py), the shared run loop (loop.py), GAN
training (gan.py, the maths of its updates in step.py) and autoencoder training (ae.py)."""
from ..config import AEConfig, TrainConfig, resolve, resolve_ae
from .ae import train_ae
from .gan import GanTrainer, Schedule, build_gan, build_gan_trainer, train

__all__ = ["AEConfig", "TrainConfig", "resolve", "resolve_ae", "train", "train_ae", "build_gan", "build_gan_trainer",
           "GanTrainer", "Schedule"]
