"""Every shipped config parses against the schema and names a real space and rule."""

from pathlib import Path

import pytest

from slimnas.config import load_config
from slimnas.width.sharing import get_rule
from slimnas.width.spaces import build_spec

CONFIGS = sorted(p for p in (Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")
                 if not p.name.startswith("bnas-"))  # bnas configs: tests/bnas/test_cli.py


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_is_valid(path):
    cfg = load_config(path)
    get_rule(cfg["rule"])
    options = {k: v for k, v in cfg["space"].items() if k != "name"}
    build_spec(cfg["space"]["name"], **options)


def test_there_are_configs():
    assert len(CONFIGS) >= 3


def test_configs_load_with_every_rule_and_space_option_checked_by_its_owner():
    from slimnas.config import check_config
    from slimnas.width.sharing import rule_options

    for path in CONFIGS:
        cfg = load_config(path)
        check_config(cfg)
        get_rule(cfg["rule"], **cfg["rule_options"])
        assert set(cfg["rule_options"]) <= set(rule_options(cfg["rule"]))
