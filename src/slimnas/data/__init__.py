"""Datasets as in-memory uint8 tensors, held-out splits, normalisation and augmentation."""

from slimnas.data.imagedata import ImageData
from slimnas.data.loader import FASHION_MNIST_DEFAULT_ROOT, KNOWN_DATASETS, load_dataset
from slimnas.data.splits import (
    has_test_split,
    load_parts,
    load_split,
    load_test,
    train_and_test,
)
from slimnas.data.transforms import Augment, channel_stats, split_held_out, to_float

__all__ = [
    "FASHION_MNIST_DEFAULT_ROOT",
    "KNOWN_DATASETS",
    "Augment",
    "ImageData",
    "channel_stats",
    "load_dataset",
    "split_held_out",
    "to_float",
    # the data-split rules (slimnas.data.splits)
    "has_test_split",
    "load_parts",
    "load_split",
    "load_test",
    "train_and_test",
]
