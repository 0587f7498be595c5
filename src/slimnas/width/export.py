"""Export one path of a width supernet as a stand-alone network, and load it back.

An export directory holds:

- `arch.json`: the space (its `round_to` too), rule, width vector, path side, channel
  counts and the supernet channel indices each group kept, closed-form FLOPs (MACs) and
  params, plus any `extra` fields the caller adds (scores, why this path was chosen);
- `model.pt`: the plain network's `state_dict` (tensors only: `weights_only=True` loads it);
- `model.onnx` (optional): the same network for ONNX runtimes, dynamic batch axis.

`load_exported(directory)` rebuilds the plain `WidthNet` from `arch.json` alone, so a fresh
process needs nothing but the directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from slimnas.errors import SlimnasError
from slimnas.exporting import (
    ONNX_FILE,
    WEIGHTS_FILE,
    export_onnx,
    load_weights,
    read_export_json,
)
from slimnas.flops import cost_model
from slimnas.io import (
    NewDirectory,
    atomic_torch_save,
    atomic_write_json,
)
from slimnas.width.net import WidthNet, extract, path_channel_indices
from slimnas.width.space import PathSpec, WidthSpace
from slimnas.width.spec import NetSpec

FORMAT = "slimnas-width/1"
ARCH_FILE = "arch.json"
_REQUIRED = ("space", "options", "channel_counts")


def export_path(
    supernet: WidthNet,
    space: WidthSpace,
    rule_name: str,
    path: PathSpec,
    out_dir: str | os.PathLike,
    extra: dict | None = None,
    onnx: bool = True,
) -> Path:
    """Freeze `path` of `supernet` into a plain network and write it to a new `out_dir`.

    `out_dir` must not exist or be empty (SlimnasError otherwise, and nothing in it is
    touched); the directory appears only once every file is written. Returns its path.
    """
    target = NewDirectory(out_dir)  # refuse a non-empty out_dir before any work
    extra = dict(extra or {})
    net = extract(supernet, space, path).cpu().eval()
    indices = path_channel_indices(space, path)
    counts = [len(ix) for ix in indices]
    model = cost_model(space.spec)
    params = model.params(counts)
    actual = sum(p.numel() for p in net.parameters())
    if params != actual:
        raise RuntimeError(
            f"bug: cost model counts {params} params, the extracted net has {actual}"
        )
    spec = space.spec
    arch = {
        "format": FORMAT,
        "space": spec.family,
        "options": dict(spec.options),
        "bins": space.base_bins,
        "min_bins": space.min_bins,
        "enlarge": space.enlarge,
        "round_to": space.round_to,
        "group_bins": list(space.bins),
        "rule": rule_name,
        "widths": list(path.widths),
        "key": space.key(path.widths),
        "path": path.side,
        "channel_counts": counts,
        "channels": {name: list(ix) for name, ix in zip(spec.group_names, indices, strict=True)},
        "flops_macs": int(model.macs(counts)),
        "params": int(params),
        "input_shape": [1, spec.in_channels, spec.input_size, spec.input_size],
    }
    if not isinstance(spec, NetSpec):  # a user's model: what its layers become
        from slimnas.width.own.export import layer_sizes

        arch["layers"] = layer_sizes(net, spec)
    clash = sorted(set(extra) & set(arch))
    if clash:
        raise ValueError(f"extra fields would overwrite arch.json fields: {', '.join(clash)}")
    arch.update(extra)
    with target as tmp:
        atomic_write_json(tmp / ARCH_FILE, arch)
        atomic_torch_save(net.state_dict(), tmp / WEIGHTS_FILE)
        if onnx:
            export_onnx(net, arch["input_shape"], tmp / ONNX_FILE)
    return Path(out_dir)


def read_arch(directory: str | os.PathLike) -> dict:
    """The `arch.json` of an export directory (SlimnasError if missing or not ours)."""
    return read_export_json(directory, ARCH_FILE, FORMAT, _REQUIRED)


def load_exported(directory: str | os.PathLike, model: nn.Module | None = None
                  ) -> nn.Module:
    """Rebuild an exported plain network (eval mode, on the CPU): a static `WidthNet`, or for
    a user's own model `model`, a fresh instance of it, with the exported layer sizes and
    weights (arch.json never names code to run: the caller brings the model)."""
    directory = Path(directory)
    arch = read_arch(directory)
    if "layers" in arch:
        from slimnas.width.own.export import resize_layers

        if model is None:
            raise SlimnasError(f"{directory} holds a slimmed {arch['space']!r} model: pass "
                               "model= a fresh instance of it")
        net = resize_layers(model, arch["layers"], directory / ARCH_FILE)
    else:
        net = _built_in(arch, directory)
    load_weights(net, directory, ARCH_FILE)
    return net.eval()


def _built_in(arch: dict, directory: Path) -> WidthNet:
    from slimnas.width.spaces import build_spec

    options = arch["options"]
    if not isinstance(options, dict):
        raise SlimnasError(f"{directory / ARCH_FILE}: 'options' must be an object")
    spec = build_spec(arch["space"], **options)
    counts = arch["channel_counts"]
    if not isinstance(counts, list) or len(counts) != spec.num_groups \
            or not all(isinstance(c, int) and c >= 1 for c in counts):
        raise SlimnasError(
            f"{directory / ARCH_FILE}: 'channel_counts' must be {spec.num_groups} positive integers"
        )
    return WidthNet(spec, counts, dynamic=False)
