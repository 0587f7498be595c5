"""The bnas config: fractions or counts for its data splits, positive learning rates."""

import pytest

from slimnas.bnas.config import load_bnas_config
from slimnas.errors import SlimnasError


@pytest.mark.parametrize("override, needle", [
    ("data.test_fraction=1.0", "data.test_fraction must be a fraction < 1 or an integer count"),
    ("data.held_out=1.5", "data.held_out must be a fraction < 1 or an integer count"),
    ("data.held_out=0", "data.held_out must be a fraction in"),
    ("data.test_fraction=-0.2", "data.test_fraction"),
    ("search.lr=0", "search.lr must be a number > 0"),
    ("train.lr=-1", "train.lr must be a number > 0"),
])
def test_bad_splits_and_learning_rates_are_refused(override, needle):
    with pytest.raises(SlimnasError, match=needle) as e:
        load_bnas_config(None, [override])
    assert "\n" not in str(e.value)


def test_a_count_stays_an_integer():
    cfg = load_bnas_config(None, ["data.held_out=100", "data.test_fraction=0.3"])
    assert cfg["data"]["held_out"] == 100 and isinstance(cfg["data"]["held_out"], int)
    assert cfg["data"]["test_fraction"] == 0.3
