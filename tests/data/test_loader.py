"""The dataset registry behind `load_dataset`: names, spellings, plugging in a loader."""

from __future__ import annotations

import pytest
import torch

from slimnas.data import KNOWN_DATASETS, load_dataset
from slimnas.data.loader import DATASETS, dataset_key
from slimnas.errors import SlimnasError


def test_known_datasets_are_the_registry():
    assert KNOWN_DATASETS == tuple(DATASETS.names())
    assert set(KNOWN_DATASETS) == {"digits", "mnist", "fashion-mnist", "cifar10", "imagefolder"}


@pytest.mark.parametrize("name, key", [("digits", "digits"), (" MNIST ", "mnist"),
                                       ("Fashion_MNIST", "fashion-mnist"),
                                       ("FashionMNIST", "fashion-mnist"), ("svhn", "svhn")])
def test_dataset_key_forgives_spelling(name, key):
    assert dataset_key(name) == key


def test_a_registered_loader_is_loaded_checked_and_converted():
    def toy(name, root, split, input_size, in_channels):
        assert name == "toy-squares" and split == "train"
        return torch.full((4, 1, 2, 2), 7, dtype=torch.uint8), torch.arange(4) % 2, 2

    with DATASETS.registered(toy, "toy-squares"):
        d = load_dataset("TOY_SQUARES", input_size=4, in_channels=3)
        assert d.name == "toy-squares" and d.num_classes == 2
        assert tuple(d.x.shape) == (4, 3, 4, 4) and d.x.dtype == torch.uint8
        with pytest.raises(SlimnasError, match="in_channels must be 1 or 3"):
            load_dataset("toy-squares", in_channels=2)
    with pytest.raises(SlimnasError, match="unknown dataset 'toy-squares'; known: cifar10"):
        load_dataset("toy-squares")
