from slimnas.config import load_config
from slimnas.width.context import has_test_split, load_split, load_test


def test_digits_test_part_is_carved_off_before_the_held_out_split():
    cfg = load_config(None, ["data.held_out=0.25", "data.test_fraction=0.2"])
    train, held = load_split(cfg)
    test = load_test(cfg)
    assert len(train) + len(held) + len(test) == 1797
    assert abs(len(test) - 0.2 * 1797) <= 10
    assert abs(len(held) - 0.25 * (1797 - len(test))) <= 10
    # the same images every time: the split is seeded
    again = load_test(cfg)
    assert (again.x == test.x).all() and (again.y == test.y).all()
    # as many distinct images as the whole set has, across the three parts
    rows = [bytes(img.numpy().tobytes()) for part in (train, held, test) for img in part.x]
    from slimnas.data import load_dataset

    everything = {bytes(img.numpy().tobytes()) for img in load_dataset("digits").x}
    assert set(rows) == everything


def test_which_datasets_have_a_test_split(tmp_path):
    assert not has_test_split({"name": "digits", "root": None})
    assert has_test_split({"name": "fashion-mnist", "root": None})
    assert not has_test_split({"name": "imagefolder", "root": str(tmp_path)})
    (tmp_path / "test").mkdir()
    assert has_test_split({"name": "imagefolder", "root": str(tmp_path)})


def test_data_subset_is_stratified_and_seeded_by_its_own_seed():
    import pytest

    from slimnas.errors import SlimnasError
    from slimnas.width.context import train_and_test

    full, _ = train_and_test(load_config(None, []))
    parts = [train_and_test(load_config(None, ["data.subset=500"]))[0] for _ in range(2)]
    assert len(parts[0]) == 500 and (parts[0].x == parts[1].x).all()
    counts = parts[0].y.bincount(minlength=10)
    assert counts.min() >= 45 and counts.max() <= 55  # stratified by class
    assert len(train_and_test(load_config(None, ["data.subset=0.5"]))[0]) == len(full) // 2
    assert len(train_and_test(load_config(None, ["data.subset=100000"]))[0]) == len(full)
    other = train_and_test(load_config(None, ["data.subset=500", "data.subset_seed=1"]))[0]
    assert not (other.x == parts[0].x).all()
    with pytest.raises(SlimnasError, match="data.subset"):
        train_and_test(load_config(None, ["data.subset=-3"]))
