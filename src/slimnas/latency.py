"""Latency tables: a width's inference time on this machine, predicted from its layers.

`build_table(space, path, batch, threads, device)` measures every layer a width vector can
contain, each conv with its BN and activation (the classifier: global pooling + Linear) at
every (input width, output width) pair it can take, with `torch.utils.benchmark` (warm-up,
then the minimum over timing blocks of `blocked_autorange`). A width's predicted latency
is the sum of its layers' entries plus a constant measured on whole networks (what the
layers leave out: residual adds, the pooling's dispatch, the Python between layers):

    latency(w) = constant + sum over layers l of T_l[w_a(l), w_b(l)]

A built-in layer depends on one or two groups (a user's layer reading a concatenation on
more), so under independent per-group distributions (the prior, ALGORITHMS.md 1.5) the
expected latency is exact: sum_l T_l contracted with p_a, p_b, ...

Size: identical layers (same channels, kernel, stride, input size) are measured once, so a
table costs the number of distinct layer shapes, at most sum over layers of K_a x K_b
(CBM MobileNet, 4 bins: 231 entries, ~1 min). Resumable: entries are written atomically
every few measurements and a rerun measures only what is missing. The JSON records the
machine (CPU model and fingerprint, threads, torch version, device) and the space;
`check_table` refuses a table whose space, bins, threads or torch version differ from a
run's, and warns when it was measured on another CPU (virtual machines of one model name
can be different chips, and relative layer costs move with them).

A user's own model (`model=`): every traced conv, BN and Linear is a layer (sized from
the traced groups, its stride, padding and input size from one forward); grouped convs and
never-slimmed layers are part of the constant; a layer reading a concatenation gets a table
over every group it reads. The table's size is bounded: identical shapes are measured once (the
repeated blocks of a ResNet stage share them) and more than `max_entries` (5,000) distinct
shapes is refused before any measurement, with the count and what to change.
"""

from __future__ import annotations

import json
import platform
import random
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.io import atomic_write_json, read_json
from slimnas.width.space import WidthSpace

FORMAT = "slimnas-latency-table/1"
SAVE_EVERY = 10  # measurements between two writes of a table being built
MAX_ENTRIES = 5000  # distinct layer shapes a table may hold unless told otherwise


# --- the layers of a space ----------------------------------------------------------------
class Site:
    """One layer of the space: the groups its time depends on and its shape per width."""

    def __init__(self, name: str, groups: tuple[int, ...], shape: Callable[..., dict]):
        self.name, self.groups, self._shape = name, groups, shape

    def shape(self, channels: Sequence[int]) -> dict:
        """The layer's measurable shape (a JSON-able dict) given every group's channels."""
        return self._shape(channels)


def sites(space: WidthSpace) -> list[Site]:
    """Every conv (+BN+act) of the space's blocks, shortcut convs included, each residual
    add (+ the activation after it), then the head."""
    from slimnas.width.spec import INPUT, conv_out_size

    spec = space.spec
    if not hasattr(spec, "blocks"):
        return _own_sites(space)
    out: list[Site] = []
    size = spec.input_size

    def conv_site(name, conv, in_size):
        groups = tuple(dict.fromkeys(g for g in (conv.cin, conv.cout) if g != INPUT))

        def shape(ch, conv=conv, in_size=in_size):
            cin = spec.in_channels if conv.cin == INPUT else ch[conv.cin]
            return {"op": "conv", "cin": int(cin), "cout": int(ch[conv.cout]),
                    "kernel": conv.kernel, "stride": conv.stride, "size": in_size,
                    "depthwise": conv.depthwise, "act": conv.act}
        return Site(name, groups, shape)

    for b, block in enumerate(spec.blocks):
        start = size
        for i, conv in enumerate(block.convs):
            out.append(conv_site(f"blocks.{b}.convs.{i}", conv, size))
            size = conv_out_size(size, conv.kernel, conv.stride)
        sc = block.shortcut_conv()
        if sc is not None:
            out.append(conv_site(f"blocks.{b}.shortcut", sc, start))
        if block.shortcut != "none":  # the residual add (+ the activation after it)
            out.append(Site(f"blocks.{b}.add", (block.cout,), lambda ch, block=block, size=size: {
                "op": "add", "channels": int(ch[block.cout]), "size": size,
                "act": block.post_act}))
    final = size
    out.append(Site("head", (spec.head_in,), lambda ch: {
        "op": "head", "cin": int(ch[spec.head_in]), "classes": spec.num_classes,
        "size": final}))
    return out


def _own_sites(space: WidthSpace) -> list[Site]:
    """Every conv, BN and Linear of a user's traced model (grouped convs stay at full width:
    their time is part of the constant), each over the groups its channels follow."""
    import torch
    from torch import nn

    spec = space.spec
    n = space.num_groups
    derived = list(spec.derived_channels())
    model = spec.model
    inputs: dict[str, tuple[int, ...]] = {}

    def hook(name):
        def record(module, args, output) -> None:  # (returning a value would replace it)
            inputs.setdefault(name, tuple(args[0].shape[1:]))
        return record

    handles = [model.get_submodule(layer.name).register_forward_hook(hook(layer.name))
               for layer in spec.layers]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, spec.in_channels, spec.input_size, spec.input_size))
    finally:
        for h in handles:
            h.remove()

    def base_group(idx: int) -> int | None:
        from slimnas.width.spec import NONE

        if idx == NONE:
            return None
        return idx if idx < n else derived[idx - n][0]

    out: list[Site] = []
    for layer in spec.layers:
        if layer.kind == "grouped":
            continue
        m = model.get_submodule(layer.name)
        in_terms, out_terms = spec.layer_channels(layer)
        groups = tuple(dict.fromkeys(g for _, idx in in_terms + out_terms
                                     if (g := base_group(idx)) is not None))
        if not groups:
            continue  # never slimmed: its time is part of the constant

        def shape(ch, layer=layer, m=m, in_terms=in_terms, out_terms=out_terms):
            ext = cost_model(spec).extend(list(ch))
            cin, cout = _size(in_terms, ext), _size(out_terms, ext)
            hw = list(inputs[layer.name][1:])
            if isinstance(m, nn.BatchNorm2d):
                return {"op": "bn", "channels": int(cout), "hw": hw}
            if isinstance(m, nn.Linear):
                return {"op": "linear", "cin": int(cin), "cout": int(cout),
                        "bias": m.bias is not None}
            return {"op": "conv2d", "cin": int(cin), "cout": int(cout),
                    "kernel": list(m.kernel_size), "stride": list(m.stride),
                    "padding": list(m.padding) if not isinstance(m.padding, str) else m.padding,
                    "dilation": list(m.dilation), "depthwise": layer.kind == "depthwise",
                    "bias": m.bias is not None, "hw": hw}
        out.append(Site(layer.name, groups, shape))
    return out


def _size(terms, ext: Sequence[int]) -> int:
    """A layer dimension's channels from its terms (coef, index; NONE: a fixed count)."""
    return int(sum(c * (1 if idx < 0 else ext[idx]) for c, idx in terms))


def own_layer_sizes(space: WidthSpace, widths: Sequence[int]) -> dict[str, list[int]]:
    """{layer: [input channels, output channels]} of a user's model at `widths`."""
    spec = space.spec
    ext = cost_model(spec).extend(list(space.channels_of(space.validate(widths))))
    return {layer.name: [_size(t, ext) for t in spec.layer_channels(layer)]
            for layer in spec.layers}


def _channels(space: WidthSpace, g: int, w: int) -> int:
    return space.bin_range(g, 0, w)[1]


def _site_indices(space: WidthSpace, site: Site) -> list[tuple[int, ...]]:
    """Every combination of width indices (width - c_min) of the site's groups."""
    axes = [range(space.c_min[g], space.c_max[g] + 1) for g in site.groups]
    return [tuple(c) for c in np.ndindex(*[len(a) for a in axes])]


def _shape_at(space: WidthSpace, site: Site, idx: tuple[int, ...]) -> dict:
    ch = [0] * space.num_groups
    for g, i in zip(site.groups, idx, strict=True):
        ch[g] = _channels(space, g, space.c_min[g] + i)
    return site.shape(ch)


def signature(shape: dict) -> str:
    return json.dumps(shape, sort_keys=True)


def layer_module(shape: dict):
    """(the module, the input tensor's shape without the batch) of a layer shape."""
    from torch import nn

    from slimnas.width.net import ConvUnit
    from slimnas.width.spec import ConvSpec

    if shape["op"] == "conv":
        spec = ConvSpec(0, 1 if not shape["depthwise"] else 0, shape["kernel"],
                        shape["stride"], shape["depthwise"], shape["act"])
        unit = ConvUnit(spec, shape["cin"], shape["cout"], dynamic=False)
        return unit, (shape["cin"], shape["size"], shape["size"])
    if shape["op"] == "add":
        from slimnas.width.net import _act

        class Add(nn.Module):
            def forward(self, x):
                return _act(shape["act"], x + x)
        return Add(), (shape["channels"], shape["size"], shape["size"])
    if shape["op"] == "head":
        class Head(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(shape["cin"], shape["classes"])

            def forward(self, x):
                return self.fc(x.mean((2, 3)))
        return Head(), (shape["cin"], shape["size"], shape["size"])
    if shape["op"] == "conv2d":
        pad = shape["padding"] if isinstance(shape["padding"], str) else tuple(shape["padding"])
        groups = shape["cout"] if shape["depthwise"] else 1
        return (nn.Conv2d(shape["cin"], shape["cout"], tuple(shape["kernel"]),
                          tuple(shape["stride"]), pad, tuple(shape["dilation"]), groups,
                          shape["bias"]), (shape["cin"], *shape["hw"]))
    if shape["op"] == "bn":
        return nn.BatchNorm2d(shape["channels"]), (shape["channels"], *shape["hw"])
    if shape["op"] == "linear":
        return nn.Linear(shape["cin"], shape["cout"], shape["bias"]), (shape["cin"],)
    raise SlimnasError(f"unknown layer op {shape['op']!r} in a latency table")


# --- timing -----------------------------------------------------------------------------
def measure(module, input_shape: Sequence[int], batch: int, threads: int, device,
            min_run_time: float = 0.1, warmup: int = 3) -> float:
    """Milliseconds per forward of `module` on a (batch, *input_shape) input: the minimum
    over `torch.utils.benchmark` timing blocks, after `warmup` calls, without autograd."""
    import torch
    from torch.utils import benchmark

    module = module.to(device).eval()
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        for _ in range(warmup):
            module(x)
        timer = benchmark.Timer(stmt="m(x)", globals={"m": module, "x": x},
                                num_threads=threads)
        m = timer.blocked_autorange(min_run_time=min_run_time)
    return min(m.times) * 1e3


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: instruction-set extensions that change how fast convolutions run on a CPU
_ISA = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni",
        "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")


def cpu_identity() -> str:
    """A finer fingerprint than the model name, which virtual machines often reduce to
    "Intel(R) Xeon(R) Processor": vendor, family, model, stepping, cache size and the
    vector extensions (/proc/cpuinfo; empty where that file is missing)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if not key and fields:
                break  # the first processor's block is enough
            fields.setdefault(key, value.strip())
    except OSError:
        return ""
    flags = set(fields.get("flags", fields.get("Features", "")).split())
    parts = [fields.get(k, "") for k in ("vendor_id", "cpu family", "model", "stepping")]
    ident = " ".join(p for p in parts if p)
    if fields.get("cache size"):
        ident += f", cache {fields['cache size']}"
    isa = [f for f in _ISA if f in flags]
    return ident + (f", {' '.join(isa)}" if isa else "")


def machine(device) -> dict:
    """Where timings were made: CPU model and fingerprint (`cpu_identity`), platform, torch
    version, device (and GPU)."""
    import torch

    out = {"cpu": cpu_model(), "cpu_id": cpu_identity(), "platform": platform.platform(),
           "torch": torch.__version__, "device": str(device)}
    if str(device).startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def space_identity(space: WidthSpace) -> dict:
    """What a table is valid for: the family, its options, the bins and every group's
    channels at every width (so round_to and FLOPs-sensitive bins are covered)."""
    return {"family": space.spec.family, "options": json.loads(json.dumps(space.spec.options)),
            "bins": space.base_bins, "min_bins": space.min_bins,
            "flops_bins": space.flops_bins, "round_to": getattr(space, "round_to", 1),
            "channels": [[_channels(space, g, w) for w in range(space.c_min[g],
                                                                 space.c_max[g] + 1)]
                         for g in range(space.num_groups)]}


# --- building -----------------------------------------------------------------------------
def build_table(space: WidthSpace, path: str | Path, batch: int = 1, threads: int = 1,
                device: str = "cpu", min_run_time: float = 0.1, constant_widths: int = 5,
                seed: int = 0, log: Callable[[str], None] | None = None,
                max_entries: int = MAX_ENTRIES, passes: int = 3) -> dict:
    """Measure (or finish measuring) the latency table of `space` into `path`; more than
    `max_entries` distinct layer shapes is refused before any measurement.

    Every entry (and every whole network of the constant) is timed in `passes` rounds over
    all of them, and its minimum kept: on a shared machine a slow spell then spoils one
    round of an entry, not the entry, and drift over the build is spread over all."""
    import torch

    if batch < 1 or threads < 1 or passes < 1:
        raise SlimnasError(f"batch, threads and passes must be >= 1, got {batch}, {threads} "
                           f"and {passes}")
    dev = torch.device(device)
    header = {"format": FORMAT, "space": space_identity(space), "batch": batch,
              "threads": threads, "machine": machine(dev), "min_run_time": min_run_time,
              "passes": passes}
    path = Path(path)
    table = {**header, "entries": {}, "terms": None, "constant_ms": None}
    if path.is_file():
        old = read_json(path)
        if not isinstance(old, dict) or old.get("format") != FORMAT:
            raise SlimnasError(f"{path} is not a slimnas latency table; choose another path")
        for key in ("space", "batch", "threads", "min_run_time", "passes"):
            if old.get(key) != header[key]:
                raise SlimnasError(f"{path} is a table of another {key}; choose another path "
                                   "or rebuild it elsewhere")
        for key in ("cpu", "cpu_id", "torch", "device"):
            if key not in old["machine"]:
                continue  # a table begun before slimnas recorded this field
            if old["machine"].get(key) != header["machine"].get(key):
                raise SlimnasError(f"{path} was measured with another {key} "
                                   f"({old['machine'].get(key)}); choose another path")
        if old.get("terms") is not None and old.get("constant_ms") is not None:
            return old  # finished earlier
    say = log or (lambda _line: None)
    all_sites = sites(space)
    wanted: dict[str, dict] = {}
    for site in all_sites:
        for idx in _site_indices(space, site):
            shape = _shape_at(space, site, idx)
            wanted.setdefault(signature(shape), shape)
    if len(wanted) > max_entries:
        raise SlimnasError(
            f"the latency table would hold {len(wanted):,} distinct layer shapes (limit "
            f"{max_entries:,}, about {max_entries * (min_run_time + 0.05) / 60:.0f} min): use "
            "fewer bins, keep layers at full width (ignore=), or raise --max-entries")
    runs = table.setdefault("runs", {})  # every timing of every entry, by pass
    runs.update(old.get("runs", {}) if path.is_file() else {})
    todo = [(p, sig) for p in range(passes) for sig in wanted if len(runs.get(sig, [])) <= p]
    say(f"{len(wanted)} distinct layer shapes over {len(all_sites)} layers, {passes} passes; "
        f"{len(todo)} timings to make")
    torch.manual_seed(seed)
    for i, (_, sig) in enumerate(todo, 1):
        module, shape_in = layer_module(wanted[sig])
        runs.setdefault(sig, []).append(measure(module, shape_in, batch, threads, dev,
                                                min_run_time))
        if i % SAVE_EVERY == 0 or i == len(todo):
            table["entries"] = {k: min(v) for k, v in runs.items() if len(v) >= passes}
            atomic_write_json(path, table)
            say(f"measured {i}/{len(todo)}")
    table["entries"] = {k: min(v) for k, v in runs.items()}
    table["terms"] = [{"layer": s.name, "groups": list(s.groups),
                       "ms": _term_array(space, s, table["entries"]).tolist()}
                      for s in all_sites]
    # the constant: what whole networks take beyond their layers' sum (median over widths)
    rng = random.Random(seed)
    widths = [space.min_widths(), space.max_widths()] + \
        [space.sample(rng) for _ in range(max(0, constant_widths - 2))]
    whole = [float("inf")] * len(widths)
    for _ in range(passes):
        for i, w in enumerate(widths):
            whole[i] = min(whole[i], measure_network(space, w, batch, threads, dev,
                                                     min_run_time))
    residuals = [t - _predict_terms(space, table["terms"], w)
                 for t, w in zip(whole, widths, strict=True)]
    table["constant_ms"] = statistics.median(residuals)
    table["constant_widths"] = [list(w) for w in widths]
    table["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    atomic_write_json(path, table)
    say(f"constant {table['constant_ms']:.4f} ms (median over {len(widths)} whole networks)")
    return table


def _term_array(space: WidthSpace, site: Site, entries: dict) -> np.ndarray:
    dims = [space.c_max[g] - space.c_min[g] + 1 for g in site.groups]
    arr = np.zeros(dims)
    for idx in np.ndindex(*dims):
        arr[idx] = entries[signature(_shape_at(space, site, idx))]
    return arr


def _predict_terms(space: WidthSpace, terms: list[dict], widths: Sequence[int]) -> float:
    total = 0.0
    for t in terms:
        idx = tuple(widths[g] - space.c_min[g] for g in t["groups"])
        v = t["ms"]
        for i in idx:
            v = v[i]
        total += v
    return total


def measure_network(space: WidthSpace, widths: Sequence[int], batch: int, threads: int,
                    device, min_run_time: float = 0.1) -> float:
    """Milliseconds per forward of the plain network at `widths` (what `export` writes)."""
    import torch

    from slimnas.width.net import WidthNet

    spec = space.spec
    torch.manual_seed(0)
    if hasattr(spec, "blocks"):
        net = WidthNet(spec, space.channels_of(space.validate(widths)), dynamic=False)
    else:  # a user's model, its layers resized (weights do not change a time)
        from slimnas.width.own.export import resize_layers

        net = resize_layers(spec.model, own_layer_sizes(space, widths), Path("latency"))
    return measure(net, (spec.in_channels, spec.input_size, spec.input_size), batch, threads,
                   torch.device(device) if isinstance(device, str) else device, min_run_time)


# --- using a table --------------------------------------------------------------------------
def load_table(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise SlimnasError(f"latency table {path} does not exist (make it with "
                           "`slimnas latency build`)")
    table = read_json(path)
    if not isinstance(table, dict) or table.get("format") != FORMAT:
        raise SlimnasError(f"{path} is not a slimnas latency table")
    if table.get("terms") is None or table.get("constant_ms") is None:
        raise SlimnasError(f"latency table {path} is unfinished: rerun `slimnas latency build` "
                           "with the same arguments to finish it")
    return table


def check_table(table: dict, space: WidthSpace, threads: int, source: str = "the table"
                ) -> None:
    """Refuse a table made for another space, bins, thread count or torch version."""
    ident = space_identity(space)
    for key in ("family", "options", "bins", "min_bins", "flops_bins", "round_to", "channels"):
        if table["space"].get(key) != ident[key]:
            raise SlimnasError(
                f"{source} was measured for another space ({key}: {table['space'].get(key)} "
                f"here {ident[key]}); build a table for this space")
    if table["threads"] != threads:
        raise SlimnasError(f"{source} was measured with {table['threads']} thread(s), the run "
                           f"uses {threads}; build a table with --threads {threads} or set "
                           f"threads: {table['threads']}")
    if table["machine"]["torch"] != _torch_version():
        raise SlimnasError(f"{source} was measured with torch {table['machine']['torch']}, "
                           f"this is torch {_torch_version()}; rebuild it")
    made_on = table["machine"].get("cpu_id")
    if made_on and str(table["machine"].get("device", "cpu")).startswith("cpu") \
            and made_on != cpu_identity():
        # a warning, not a refusal: one CPU can report itself differently across kernels
        warnings.warn(f"{source} was measured on another CPU ({made_on}; this one: "
                      f"{cpu_identity() or 'unknown'}): its predictions may not hold here; "
                      "`slimnas latency check` says how well they do", RuntimeWarning,
                      stacklevel=2)


def _torch_version() -> str:
    import torch

    return torch.__version__


class LatencyCost:
    """Predicted milliseconds per batch (of the table's batch size and threads)."""

    name, unit, field, label = "latency", "ms", "latency_ms_predicted", "predicted latency"

    def __init__(self, table: dict, space: WidthSpace):
        from slimnas.search.costs import TermTables

        self.table = table
        self.tables = TermTables(space, float(table["constant_ms"]),
                                 [(tuple(t["groups"]), np.asarray(t["ms"], dtype=float))
                                  for t in table["terms"]])

    def of(self, space: WidthSpace, widths: Sequence[int]) -> float:
        return float(self.tables.batch(np.asarray([widths]))[0])

    def batch(self, space: WidthSpace, widths: np.ndarray) -> np.ndarray:
        return self.tables.batch(widths)

    def form(self, space: WidthSpace):
        return self.tables

    def describe(self, value: float) -> str:
        return f"{value:.3f} ms"


def check_predictions(space: WidthSpace, table: dict, n: int, seed: int = 0,
                      device: str = "cpu", min_run_time: float | None = None,
                      log: Callable[[str], None] | None = None,
                      passes: int | None = None) -> dict:
    """Kendall tau and relative error of the table's predictions against whole-network
    measurements of `n` random widths (and Kendall tau of MACs alone, for comparison);
    each width timed in `passes` rounds over all (default: the table's), minimum kept."""
    from scipy.stats import kendalltau

    from slimnas.search.costs import flops_of

    say = log or (lambda _line: None)
    cost = LatencyCost(table, space)
    rng = random.Random(seed)
    widths: list[tuple[int, ...]] = []
    seen: set = set()
    limit = space.size()
    while len(widths) < min(n, limit):
        w = space.sample(rng)
        if w not in seen:
            seen.add(w)
            widths.append(w)
    rows = []
    mrt = table["min_run_time"] if min_run_time is None else min_run_time
    passes = table.get("passes", 1) if passes is None else passes
    best = [float("inf")] * len(widths)
    for p in range(passes):
        for i, w in enumerate(widths):
            best[i] = min(best[i], measure_network(space, w, table["batch"], table["threads"],
                                                   device, mrt))
        say(f"pass {p + 1}/{passes}: {len(widths)} networks timed")
    for i, w in enumerate(widths, 1):
        measured = best[i - 1]
        rows.append({"widths": list(w), "key": space.key(w),
                     "latency_ms_predicted": cost.of(space, w),
                     "latency_ms_measured": measured, "flops_macs": flops_of(space, w)})
        say(f"{i}/{len(widths)} {space.key(w)}: predicted {rows[-1]['latency_ms_predicted']:.3f}"
            f" ms, measured {measured:.3f} ms")
    pred = [r["latency_ms_predicted"] for r in rows]
    meas = [r["latency_ms_measured"] for r in rows]
    macs = [r["flops_macs"] for r in rows]
    rel = [abs(p - m) / m for p, m in zip(pred, meas, strict=True)]
    return {"n": len(rows), "seed": seed, "kendall_tau": float(kendalltau(pred, meas)[0]),
            "kendall_tau_macs": float(kendalltau(macs, meas)[0]),
            "median_relative_error": statistics.median(rel), "max_relative_error": max(rel),
            "batch": table["batch"], "threads": table["threads"], "passes": passes,
            "machine": machine(device), "table_machine": table["machine"], "widths": rows}
