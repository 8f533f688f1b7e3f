"""Generators and discriminators, registered by name (see ``ganforge models``)."""
from . import mnist, celeb, toy, autoencoder  # noqa: F401  (fill the registry)
from .registry import MODELS, build_model, count_parameters, default_shape, require_model

__all__ = ["MODELS", "build_model", "count_parameters", "default_shape", "require_model"]
