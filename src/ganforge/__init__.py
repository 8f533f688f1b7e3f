"""ganforge: train, invert and evaluate GANs and autoencoders on small images."""

__version__ = "0.1.0"
