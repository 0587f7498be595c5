"""``load_dataset``: one entry point for every registered dataset name (``DATASETS``).

A loader takes (name, root, split, input_size, in_channels) and returns the images as
uint8, the int64 labels and the number of classes; ``load_dataset`` checks the common
arguments first and converts the images afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from slimnas.data.formats import (
    load_cifar10,
    load_idx_pair,
    load_imagefolder,
    load_sklearn_digits,
)
from slimnas.data.imagedata import (
    ImageData,
    check_in_channels,
    check_input_size,
    convert_images,
)
from slimnas.errors import SlimnasError
from slimnas.registry import Registry

Loaded = tuple[torch.Tensor, torch.Tensor, int]
DATASETS: Registry[Callable[..., Loaded]] = Registry("dataset")
# Where Debian's dataset-fashion-mnist package installs the IDX files.
FASHION_MNIST_DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"


def _root_dir(root: str | os.PathLike[str] | None, who: str, default: str | None = None) -> Path:
    if root is None:
        if default is None:
            raise SlimnasError(f"{who}: root is required (the directory holding the data files)")
        root = default
    path = Path(root).expanduser()
    if not path.is_dir():
        raise SlimnasError(f"{who}: directory {path} does not exist")
    return path


def _train_or_test(name: str, split: str) -> None:
    if split not in ("train", "test"):
        raise SlimnasError(f"{name}: split must be 'train' or 'test', got {split!r}")


@DATASETS.register("digits")
def _digits(name: str, root, split: str, input_size, in_channels) -> Loaded:
    _train_or_test(name, split)
    if split == "test":
        raise SlimnasError(
            "digits: has no test split; load split='train' and use split_held_out "
            "for a held-out fraction"
        )
    x, y = load_sklearn_digits()
    return x, y, 10


@DATASETS.register("mnist")
@DATASETS.register("fashion-mnist")
def _idx(name: str, root, split: str, input_size, in_channels) -> Loaded:
    _train_or_test(name, split)
    default = FASHION_MNIST_DEFAULT_ROOT if name == "fashion-mnist" else None
    path = _root_dir(root, name, default)
    x, y = load_idx_pair(path, "train" if split == "train" else "t10k", 10, name)
    return x, y, 10


@DATASETS.register("cifar10")
def _cifar10(name: str, root, split: str, input_size, in_channels) -> Loaded:
    _train_or_test(name, split)
    x, y = load_cifar10(_root_dir(root, name), split, name)
    return x, y, 10


@DATASETS.register("imagefolder")
def _imagefolder(name: str, root, split: str, input_size, in_channels) -> Loaded:
    x, y, classes = load_imagefolder(_root_dir(root, name), split, input_size, in_channels, name)
    return x, y, len(classes)


KNOWN_DATASETS = tuple(DATASETS.names())


def dataset_key(name: object) -> str:
    """The registered spelling of a dataset name: case, "_" for "-" and "fashionmnist" are
    forgiven (the name need not be registered)."""
    key = str(name).strip().lower().replace("_", "-")
    return "fashion-mnist" if key == "fashionmnist" else key


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    input_size: int | None = None,
    in_channels: int | None = None,
) -> ImageData:
    """Load a whole dataset into memory as uint8 images and int64 labels.

    ``name`` is a registered dataset (``DATASETS.names()``). ``split`` is "train" or
    "test" (imagefolder accepts any sub-directory name). ``input_size`` resizes to a
    square with bilinear interpolation, ``in_channels`` (1 or 3) converts grayscale <-> RGB;
    None keeps what the files hold. Bad names, paths or files raise SlimnasError.
    """
    key = dataset_key(name)
    if key not in DATASETS:
        raise SlimnasError(f"unknown dataset {name!r}; known: {', '.join(DATASETS.names())}")
    check_input_size(input_size, key)
    check_in_channels(in_channels, key)
    if not isinstance(split, str) or not split:
        raise SlimnasError(f"{key}: split must be a non-empty string, got {split!r}")
    x, y, num_classes = DATASETS.get(key)(key, root, split, input_size, in_channels)
    x = convert_images(x, input_size, in_channels, key)
    return ImageData(x=x.contiguous(), y=y, num_classes=num_classes, name=key)
