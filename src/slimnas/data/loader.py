"""``load_dataset``: one entry point for every supported dataset name."""

from __future__ import annotations

import os
from pathlib import Path

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

KNOWN_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "imagefolder")
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


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    input_size: int | None = None,
    in_channels: int | None = None,
) -> ImageData:
    """Load a whole dataset into memory as uint8 images and int64 labels.

    ``name`` is one of digits, mnist, fashion-mnist, cifar10, imagefolder. ``split`` is
    "train" or "test" (imagefolder accepts any sub-directory name). ``input_size`` resizes to a
    square with bilinear interpolation, ``in_channels`` (1 or 3) converts grayscale <-> RGB;
    None keeps what the files hold. Bad names, paths or files raise SlimnasError.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key == "fashionmnist":
        key = "fashion-mnist"
    if key not in KNOWN_DATASETS:
        raise SlimnasError(f"unknown dataset {name!r}; known: {', '.join(KNOWN_DATASETS)}")
    check_input_size(input_size, key)
    check_in_channels(in_channels, key)
    if not isinstance(split, str) or not split:
        raise SlimnasError(f"{key}: split must be a non-empty string, got {split!r}")
    if key != "imagefolder" and split not in ("train", "test"):
        raise SlimnasError(f"{key}: split must be 'train' or 'test', got {split!r}")

    if key == "digits":
        if split == "test":
            raise SlimnasError(
                "digits: has no test split; load split='train' and use split_held_out "
                "for a held-out fraction"
            )
        x, y = load_sklearn_digits()
        num_classes = 10
    elif key in ("mnist", "fashion-mnist"):
        default = FASHION_MNIST_DEFAULT_ROOT if key == "fashion-mnist" else None
        path = _root_dir(root, key, default)
        x, y = load_idx_pair(path, "train" if split == "train" else "t10k", 10, key)
        num_classes = 10
    elif key == "cifar10":
        x, y = load_cifar10(_root_dir(root, key), split, key)
        num_classes = 10
    else:
        x, y, classes = load_imagefolder(_root_dir(root, key), split, input_size, in_channels, key)
        num_classes = len(classes)

    x = convert_images(x, input_size, in_channels, key)
    return ImageData(x=x.contiguous(), y=y, num_classes=num_classes, name=key)
