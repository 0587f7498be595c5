"""slimnas: one-shot width search with fair supernets (UA, BCNet, BCNetV2), export, benchmarks.

Public API (imported lazily so the CLI starts fast):
    get_space, from_model, get_rule, WidthSpace, build_supernet, selections, extract,
    train_supernet, load_config, run, load_supernet, export_width, export_path, load_exported,
    cost_model, load_bench, verify_bench, query_bench
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "get_space": "slimnas.width.spaces",
    "from_model": "slimnas.width.own",
    "get_rule": "slimnas.width.sharing",
    "WidthSpace": "slimnas.width.space",
    "build_supernet": "slimnas.width.net",
    "selections": "slimnas.width.net",
    "extract": "slimnas.width.net",
    "train_supernet": "slimnas.width.train",
    "load_config": "slimnas.config",
    "run": "slimnas.pipeline",
    "load_supernet": "slimnas.width.checkpoint",
    "export_width": "slimnas.width.checkpoint",
    "export_path": "slimnas.width.export",
    "load_exported": "slimnas.width.export",
    "cost_model": "slimnas.flops",
    "load_bench": "slimnas.bench",
    "verify_bench": ("slimnas.bench", "verify"),
    "query_bench": ("slimnas.bench", "query"),
}
__all__ = sorted(_API)


def __getattr__(name: str):
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module 'slimnas' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    return getattr(importlib.import_module(module), attr)
