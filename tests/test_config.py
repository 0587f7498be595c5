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


# ------------------------------------------------------------------ ranges (issue 11)


@pytest.mark.parametrize("override, key", [
    ("data.test_fraction=1.0", "data.test_fraction"),  # was a 1-image test set
    ("data.held_out=1.5", "data.held_out"),  # was a 1-image held-out set
    ("score.recal_batches=0", "score.recal_batches"),  # chance-level scores
    ("train.epochs=0", "train.epochs"),  # claimed a checkpoint it never wrote
    ("train.batch_size=0", "train.batch_size"),
    ("train.batch_size=-64", "train.batch_size"),
    ("train.lr=-1", "train.lr"),
    ("search.window=[0.8]", "search.window"),
    ("retrain.batch_size=0", "retrain.batch_size"),
    ("search.queries=0", "search.queries"),
])
def test_values_that_make_results_meaningless_are_refused(override, key):
    with pytest.raises(SlimnasError, match=rf"^{key} must be .*, got ") as e:
        load_config(None, [override])
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("override, needle", [
    ("data.held_out=1.0", "fraction < 1 or an integer count"),
    ("data.subset=2.5", "fraction < 1 or an integer count"),
    ("data.test_fraction=0", "data.test_fraction"),
    ("data.held_out=-0.2", "data.held_out"),
    ("data.subset=0", "data.subset"),
    ("min_bins=5", "min_bins must be <= bins"),
    ("bins=0", "bins"),
    ("flops_bins_min=0", "flops_bins_min"),
    ("train.momentum=1", "train.momentum"),
    ("train.weight_decay=-1e-4", "train.weight_decay"),
    ("train.micro_batches=0", "train.micro_batches"),
    ("train.records=-1", "train.records"),
    ("train.lr=.nan", "train.lr"),
    ("retrain.epochs=0", "retrain.epochs"),
    ("retrain.lr=0", "retrain.lr"),
    ("score.batch_size=0", "score.batch_size"),
    ("search.budget=abc", "search.budget"),
    ("search.budget=-0.5", "search.budget"),
    ("search.window=[1.0, 0.8]", "search.window"),
    ("search.window=[0, 0]", "search.window"),
    ("search.init=best", "search.init must be prior or random"),
    ("data.pad=-1", "data.pad"),
    ("data.input_size=0", "data.input_size"),
    ("threads=-1", "threads"),
])
def test_out_of_range_values_name_their_key(override, needle):
    with pytest.raises(SlimnasError, match=needle):
        load_config(None, [override])


def test_fractions_and_counts_keep_their_type():
    cfg = load_config(None, ["data.held_out=100", "data.test_fraction=0.25", "data.subset=500",
                             "search.window=[0, 1]", "search.budget=150M"])
    d = cfg["data"]
    assert d["held_out"] == 100 and isinstance(d["held_out"], int)  # a count, not 100.0
    assert d["test_fraction"] == 0.25 and d["subset"] == 500 and isinstance(d["subset"], int)


def test_check_config_covers_every_core_key_and_catches_mutations():
    from slimnas.config import _CHECKS, _FREE_FORM, check_config

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict) and k not in _FREE_FORM:
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield prefix + k

    assert set(leaves(DEFAULTS)) == set(_CHECKS)
    cfg = load_config(None, [])
    check_config(cfg)
    cfg["train"]["epochs"] = 0  # what a library user may do after load_config
    with pytest.raises(SlimnasError, match="train.epochs must be an integer >= 1, got 0"):
        check_config(cfg)
    cfg["train"]["epochs"] = True
    with pytest.raises(SlimnasError, match="train.epochs"):
        check_config(cfg)
    del cfg["train"]["epochs"]
    with pytest.raises(SlimnasError, match="lacks the key 'train.epochs'"):
        check_config(cfg)


def test_threads_key_and_replaced_defaults():
    assert DEFAULTS["threads"] == 1 and load_config(None, ["threads=0"])["threads"] == 0
    cfg = load_config(None, ["seed=2"], defaults={"out": "runs/supernet"})
    assert cfg["out"] == "runs/supernet" and cfg["seed"] == 2
    assert load_config(None, ["out=x"], defaults={"out": "runs/supernet"})["out"] == "x"
    assert DEFAULTS["out"] == "runs/default"  # DEFAULTS itself is untouched
    with pytest.raises(SlimnasError, match="unknown config key 'nosuch'"):
        load_config(None, [], defaults={"nosuch": 1})


def test_cli_run_refuses_zero_epochs_before_doing_anything(tmp_path, capsys):
    from slimnas.cli import main

    out = tmp_path / "run"
    assert main(["run", "train.epochs=0", f"out={out}"]) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "train.epochs" in err
