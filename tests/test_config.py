import pytest

from slimnas.config import DEFAULTS, dump_config, load_config
from slimnas.errors import SlimnasError


def test_defaults_and_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("rule: ua\ntrain: {epochs: 3, weight_decay: 1e-4}\nspace: {name: resnet, depth: 32}\n")
    cfg = load_config(f, ["train.lr=0.05", "data.flip=true", "space.width_mult=0.5"])
    assert cfg["rule"] == "ua" and cfg["train"]["epochs"] == 3
    assert cfg["train"]["weight_decay"] == 1e-4  # YAML's "1e-4" string is read as a float
    assert cfg["train"]["lr"] == 0.05 and cfg["data"]["flip"] is True
    assert cfg["space"] == {"name": "resnet", "width_mult": 0.5, "depth": 32}
    assert cfg["train"]["batch_size"] == DEFAULTS["train"]["batch_size"]
    assert load_config(None, []) == DEFAULTS
    assert load_config(None, ["seed=3"])["seed"] == 3


@pytest.mark.parametrize("overrides, needle", [
    (["train.epochs=1.5"], "train.epochs"),
    (["train.nosuch=1"], "unknown config key 'train.nosuch'"),
    (["train=3"], "must be a mapping"),
    (["complementary=yes please"], "true or false"),
    (["noequals"], "key=value"),
])
def test_bad_values_are_clear_errors(overrides, needle):
    with pytest.raises(SlimnasError, match=needle):
        load_config(None, overrides)


def test_yaml_is_never_evaluated(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SlimnasError, match="malformed YAML"):
        load_config(f)


def test_top_level_must_be_a_mapping(tmp_path):
    f = tmp_path / "list.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(SlimnasError, match="mapping"):
        load_config(f)


def test_dump_round_trip(tmp_path):
    cfg = load_config(None, ["train.epochs=7"])
    f = tmp_path / "d.yaml"
    f.write_text(dump_config(cfg))
    assert load_config(f) == cfg


def test_stored_configs_of_older_versions_get_new_keys_from_defaults():
    from slimnas.config import DEFAULTS, with_defaults

    old = {"seed": 3, "rule": "bcnet", "data": {"name": "digits", "held_out": 0.3}}
    cfg = with_defaults(old)
    assert cfg["seed"] == 3 and cfg["rule"] == "bcnet" and cfg["data"]["held_out"] == 0.3
    assert cfg["data"]["subset"] is None and cfg["rule_options"] == {}
    assert cfg["flops_bins"] is False and cfg["train"] == DEFAULTS["train"]
    assert "subset" not in old["data"]  # the stored dict is not modified
