"""Fixtures of the bnas tests: tiny configs that search or train in a second or two."""

import pytest

# the example genotype of ALGORITHMS.md 3.1 (released-style JSON)
PAPER_GENOTYPE = {
    "normal": [["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["dil_conv_5x5", 2],
               ["sep_conv_3x3", 1], ["sep_conv_3x3", 1], ["sep_conv_3x3", 2],
               ["sep_conv_5x5", 1], ["sep_conv_5x5", 2]],
    "normal_concat": [2, 3, 4, 5],
    "reduce": [["dil_conv_3x3", 0], ["skip_connect", 1], ["dil_conv_3x3", 1],
               ["skip_connect", 2], ["max_pool_3x3", 1], ["dil_conv_5x5", 0],
               ["skip_connect", 1], ["max_pool_3x3", 0]],
    "reduce_concat": [2, 3, 4, 5],
}

TINY = [
    "threads=1", "data.held_out=0.1", "search.channels=4", "search.nodes=2", "search.batch_size=16",
    "search.max_steps_per_epoch=2", "search.epochs=2", "search.cells=3", "search.progress=false",
    "search.tensorboard=false", "train.channels=4", "train.cells=3", "train.epochs=1",
    "train.batch_size=128", "train.enhancement_cells=1", "train.progress=false",
    "train.tensorboard=false",
]


@pytest.fixture
def tiny(tmp_path):
    """tiny(name, *overrides): a config writing to tmp_path / name."""
    from slimnas.bnas.config import load_bnas_config

    def make(name, *overrides):
        return load_bnas_config(None, [f"out={tmp_path / name}", *TINY, *overrides])

    return make


@pytest.fixture
def tiny_overrides():
    return list(TINY)


@pytest.fixture
def paper_genotype_json():
    import copy

    return copy.deepcopy(PAPER_GENOTYPE)


@pytest.fixture
def paper_genotype():
    from slimnas.bnas.genotype import Genotype

    return Genotype.from_json(PAPER_GENOTYPE)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is fastest, immune to a busy machine, and makes reruns equal."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
