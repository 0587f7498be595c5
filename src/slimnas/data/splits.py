"""The parts a run's data is split into, one rule for the width and the bnas wings.

The final test part is the dataset's own test split, or, when it has none, a stratified
part carved off the training data first (seed + 1): nothing trains, searches or scores on
it. An optional stratified `data.subset` (its own `subset_seed`; width configs only) then
thins the training part, and the held-out part for scoring comes from the rest (seed).
"""

from __future__ import annotations

from pathlib import Path

from slimnas.data.imagedata import ImageData
from slimnas.data.loader import load_dataset
from slimnas.data.transforms import split_held_out
from slimnas.errors import SlimnasError


def has_test_split(d: dict) -> bool:
    """Whether the dataset of a config's `data` section has its own test split."""
    if d["name"] == "digits":
        return False
    if d["name"] == "imagefolder":
        return d["root"] is not None and (Path(d["root"]) / "test").is_dir()
    return True


def _count(v: float | int) -> float | int:
    # a whole float >= 1 (100.0) is a count only in stored configs of older versions, whose
    # schema turned an int count into a float; load_config now refuses it, and so does
    # split_held_out any float >= 1 that reaches it (1.5 is no count)
    return int(v) if isinstance(v, float) and v >= 1 and v.is_integer() else v


def _load(d: dict, split: str) -> ImageData:
    return load_dataset(d["name"], d["root"], split, d["input_size"], d["in_channels"])


def _carve(data: ImageData, cfg: dict) -> tuple[ImageData, ImageData]:
    # (the rest, the test part) of a dataset without a test split
    return split_held_out(data, _count(cfg["data"]["test_fraction"]), cfg["seed"] + 1,
                          "data.test_fraction")


def _training_data(cfg: dict) -> tuple[ImageData, ImageData | None]:
    # (training data, the carved-off test part or None when the dataset has a test split)
    data = _load(cfg["data"], "train")
    return (data, None) if has_test_split(cfg["data"]) else _carve(data, cfg)


def _subset(data: ImageData, d: dict) -> ImageData:
    sub = d.get("subset")  # bnas configs have no data.subset
    if sub is None:
        return data
    if isinstance(sub, bool) or not isinstance(sub, int | float) or sub <= 0:
        raise SlimnasError(f"data.subset must be a fraction in (0, 1) or a count, got {sub!r}")
    if sub < 1 or sub < len(data):  # the same subset for every run seed
        data = split_held_out(data, _count(sub), d["subset_seed"], "data.subset")[1]
    return data


def _held(train: ImageData, cfg: dict) -> tuple[ImageData, ImageData]:
    seed = cfg["data"].get("held_out_seed")  # bnas configs have none
    return split_held_out(train, _count(cfg["data"]["held_out"]),
                          cfg["seed"] if seed is None else seed)


def train_and_test(cfg: dict) -> tuple[ImageData, ImageData]:
    """(training part, `data.subset` applied and the held-out part still in it; test part)."""
    data, carved = _training_data(cfg)
    train = _subset(data, cfg["data"])
    return train, carved if carved is not None else _load(cfg["data"], "test")


def load_split(cfg: dict) -> tuple[ImageData, ImageData]:
    """(training part, held-out part for scoring); the test split is not loaded."""
    data, _ = _training_data(cfg)
    return _held(_subset(data, cfg["data"]), cfg)


def load_test(cfg: dict) -> ImageData:
    """The final test part: the dataset's test split, or the part carved off for it."""
    d = cfg["data"]
    if has_test_split(d):  # the training data is not needed
        return _load(d, "test")
    return _carve(_load(d, "train"), cfg)[1]


def load_parts(cfg: dict) -> tuple[ImageData, ImageData, ImageData]:
    """(training part, held-out part, test part), the training data loaded once."""
    train, test = train_and_test(cfg)
    return *_held(train, cfg), test
