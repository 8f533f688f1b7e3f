"""Pipelines: what each command does with a trained generator, as library functions that take tensors
and options, return their record and write their files. The command line only parses and prints."""
from .evaluate import evaluate
from .inputs import image_refs, pick_images
from .latent import InversionOptions, interpolate_images, invert_images, restore_images, sample_images
from .reproduce import reproduce

__all__ = ["evaluate", "image_refs", "pick_images", "InversionOptions", "interpolate_images", "invert_images",
           "restore_images", "sample_images", "reproduce"]
