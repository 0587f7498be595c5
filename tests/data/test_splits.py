import numpy as np
import pytest
import torch
from PIL import Image

import slimnas.data.splits as splits
from slimnas.bnas.config import load_bnas_config
from slimnas.bnas.data import load_search_data, load_train_data
from slimnas.config import load_config
from slimnas.data import (
    channel_stats,
    has_test_split,
    load_dataset,
    load_parts,
    load_split,
    load_test,
    to_float,
    train_and_test,
)
from slimnas.errors import SlimnasError


def rows(*parts):
    return [bytes(img.numpy().tobytes()) for part in parts for img in part.x]


def same(a, b):
    return torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def make_folder(root, per_class):
    rng = np.random.default_rng(len(str(root)))
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, size=(6, 6), dtype=np.uint8)
            Image.fromarray(arr, mode="L").save(root / cls / f"{i}.png")


@pytest.fixture
def folder(tmp_path):
    make_folder(tmp_path / "train", 10)
    make_folder(tmp_path / "test", 3)
    return tmp_path


def folder_cfg(root, *overrides):
    return load_config(None, ["data.name=imagefolder", f"data.root={root}",
                              "data.in_channels=1", "data.held_out=4", *overrides])


def test_digits_test_part_is_carved_off_before_the_held_out_split():
    cfg = load_config(None, ["data.held_out=0.25", "data.test_fraction=0.2"])
    train, held = load_split(cfg)
    test = load_test(cfg)
    assert len(train) + len(held) + len(test) == 1797
    assert len(test) == round(0.2 * 1797)
    assert len(held) == round(0.25 * (1797 - len(test)))
    assert same(load_test(cfg), test)  # seeded
    everything = rows(load_dataset("digits"))
    assert sorted(rows(train, held, test)) == sorted(everything)
    # the carve uses seed + 1, the held-out part the seed: another seed moves both
    other = load_config(None, ["data.held_out=0.25", "data.test_fraction=0.2", "seed=1"])
    assert not same(load_test(other), test) and not same(load_split(other)[1], held)


def test_which_datasets_have_a_test_split(tmp_path):
    assert not has_test_split({"name": "digits", "root": None})
    assert has_test_split({"name": "fashion-mnist", "root": None})
    assert not has_test_split({"name": "imagefolder", "root": None})
    assert not has_test_split({"name": "imagefolder", "root": str(tmp_path)})
    (tmp_path / "test").mkdir()
    assert has_test_split({"name": "imagefolder", "root": str(tmp_path)})


def test_an_own_test_split_is_used_and_loaded_only_when_asked(folder, monkeypatch):
    cfg = folder_cfg(folder)
    asked = []
    real = splits.load_dataset

    def spy(name, root, split, *args):
        asked.append(split)
        return real(name, root, split, *args)

    monkeypatch.setattr(splits, "load_dataset", spy)
    train, held = load_split(cfg)
    assert asked == ["train"]  # a width run's (train, held) never reads the test split
    assert len(held) == 4 and sorted(rows(train, held)) == sorted(rows(real(
        "imagefolder", folder, "train", None, 1)))
    asked.clear()
    test = load_test(cfg)
    assert asked == ["test"]
    assert same(test, real("imagefolder", folder, "test", None, 1))
    _, _, test3 = load_parts(cfg)
    assert same(test3, test)


def test_without_a_test_directory_an_imagefolder_is_carved(tmp_path):
    make_folder(tmp_path / "train", 10)
    cfg = folder_cfg(tmp_path, "data.test_fraction=6")
    train, held, test = load_parts(cfg)
    assert (len(train), len(held), len(test)) == (10, 4, 6)
    assert test.y.bincount().tolist() == [3, 3]  # stratified


@pytest.mark.parametrize("held_out, size", [(0.25, 360), (100, 100), (1, 1), (1437, 1437)])
def test_held_out_sizes(held_out, size):
    cfg = load_config(None, [f"data.held_out={held_out}"])  # 1438 left after the carve
    train, held = load_split(cfg)
    assert len(held) == size and len(train) == 1438 - size


def test_a_whole_float_count_of_an_older_stored_config_is_a_count():
    cfg = load_config(None, ["data.held_out=100", "data.test_fraction=300"])
    old = load_config(None, [])
    old["data"].update(held_out=100.0, test_fraction=300.0)
    assert all(same(a, b) for a, b in zip(load_parts(cfg), load_parts(old), strict=True))
    old["data"]["held_out"] = 1.5
    with pytest.raises(SlimnasError, match="held_out"):
        load_split(old)
    with pytest.raises(SlimnasError, match="held_out 1438 takes"):
        load_split(load_config(None, ["data.held_out=1438"]))


def test_data_subset_is_stratified_and_seeded_by_its_own_seed():
    full, test = train_and_test(load_config(None, []))
    parts = [train_and_test(load_config(None, ["data.subset=500", f"seed={s}"])) for s in (0, 0)]
    assert len(parts[0][0]) == 500 and same(parts[0][0], parts[1][0])
    assert same(parts[0][1], test)  # the test part does not depend on the subset
    counts = parts[0][0].y.bincount(minlength=10)
    assert counts.min() >= 45 and counts.max() <= 55  # stratified by class
    assert set(rows(parts[0][0])) <= set(rows(full))
    train, held = load_split(load_config(None, ["data.subset=500", "data.held_out=100"]))
    assert (len(train), len(held)) == (400, 100)
    assert sorted(rows(train, held)) == sorted(rows(parts[0][0]))
    assert len(train_and_test(load_config(None, ["data.subset=0.5"]))[0]) == len(full) // 2
    assert same(train_and_test(load_config(None, ["data.subset=100000"]))[0], full)
    other = train_and_test(load_config(None, ["data.subset=500", "data.subset_seed=1"]))[0]
    assert not same(other, parts[0][0])
    with pytest.raises(SlimnasError, match="data.subset"):
        train_and_test(load_config(None, ["data.subset=-3"]))


@pytest.mark.parametrize("overrides", [
    [], ["seed=3"], ["data.held_out=100", "data.test_fraction=300"],
    ["data.held_out=0.1", "data.test_fraction=0.35", "seed=7"],
])
def test_the_width_and_the_bnas_paths_split_alike(overrides):
    width = load_config(None, overrides)
    bnas = load_bnas_config(None, overrides)
    assert "subset" not in bnas["data"]  # a bnas config has none: no subset
    train, held = load_split(width)
    test = load_test(width)
    for a, b in zip((train, held, test), load_parts(bnas), strict=True):
        assert same(a, b)
    mean, std = channel_stats(train)
    data, test_split = load_train_data(bnas, torch.device("cpu"))
    assert torch.equal(data.train.x, to_float(train.x, mean, std))
    assert torch.equal(data.held.x, to_float(held.x, mean, std))
    assert torch.equal(test_split.x, to_float(test.x, mean, std))
    assert torch.equal(test_split.y, test.y)


def test_the_bnas_search_halves_the_training_part():
    cfg = load_bnas_config(None, [])
    train, held, _ = load_parts(cfg)
    data = load_search_data(cfg, torch.device("cpu"))
    assert len(data.train) + len(data.arch) == len(train)
    assert torch.equal(data.held.y, held.y)
    assert sorted(data.train.y.tolist() + data.arch.y.tolist()) == sorted(train.y.tolist())
