"""Datasets by name (see ``ganforge data``)."""
from . import mnist, celeb, cifar, toy, folder  # noqa: F401  (fill the registry)
from .registry import DATASETS, DataOptions, Dataset, load_dataset

__all__ = ["DATASETS", "DataOptions", "Dataset", "load_dataset"]
