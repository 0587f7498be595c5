"""Channel-Bench-Macro: load the ground-truth files, check our FLOPs/params, query entries.

A key "d1..d7" (digits 1..4) names one architecture of a space: layer i has width
round(d_i * max_i / 4) channels (ALGORITHMS.md section 2). In a `WidthSpace` built
with 4 bins per group (see `bench_space`), digit d is exactly a width of d bins.

A file written by `slimnas bench build` has a `<file>.meta.json` beside it (the space
family, its options, bins): every command then reads the file's keys, FLOPs and params
with that space, and a search or a rank considers only the architectures in the file.
A file without one is a Channel-Bench-Macro file of the `--space` given.

Every entry needs a finite number for "mean", "flops" and "params" (flops and params
>= 0): anything else is refused when the file is loaded, naming the file and the entry.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.io import read_json
from slimnas.registry import Registry
from slimnas.width.space import WidthSpace
from slimnas.width.spaces import get_space


@dataclass(frozen=True)
class BenchSpace:
    """A benchmark space: its width-space family and its file in the data directory."""

    name: str
    family: str
    file: str


BENCH_SPACES: Registry[BenchSpace] = Registry("benchmark space")
BENCH_SPACES.register()(BenchSpace("mobilenet", "cbm-mobilenet", "Results_MobileNet.json"))
BENCH_SPACES.register()(BenchSpace("resnet", "cbm-resnet", "Results_ResNet.json"))
BENCH_DIR_ENV = "SLIMNAS_BENCH_DIR"
NUM_LAYERS = 7
NUM_WIDTHS = 4
REQUIRED_FIELDS = ("mean", "flops", "params")
MAX_MISMATCHES = 10

META_SUFFIX = ".meta.json"
META_FORMAT = "slimnas-bench-meta/1"
# options of get_space itself, which a meta file's "options" must not repeat
_SPACE_ARGS = ("bins", "min_bins", "enlarge", "flops_bins", "flops_bins_min")

# resolved path -> (signature, entries, meta, meta space); the signature holds the
# mtime and size of the file and of its meta file
_CACHE: dict[Path, tuple[tuple, dict[str, dict], dict | None, WidthSpace | None]] = {}


def _resolve_space(space: str) -> str:
    """The BENCH_SPACES name of `space` (its family name is accepted too)."""
    for name in BENCH_SPACES:
        if space == BENCH_SPACES.get(name).family:
            return name
    return BENCH_SPACES.get(space).name  # an unknown name: one line listing the known ones


def default_bench_file(space: str) -> Path:
    """The data file of `space`: in $SLIMNAS_BENCH_DIR if set, else ../shared/data/channel_bench_macro."""
    name = BENCH_SPACES.get(_resolve_space(space)).file
    env = os.environ.get(BENCH_DIR_ENV)
    if env:
        return Path(env) / name
    return Path.cwd() / ".." / "shared" / "data" / "channel_bench_macro" / name


def meta_path(path: str | os.PathLike) -> Path:
    """`<path>.meta.json`: where `bench build` records the space of a benchmark file."""
    p = Path(path)
    return p.with_name(p.name + META_SUFFIX)


def _bench_path(space: str, path: str | os.PathLike | None) -> Path:
    return default_bench_file(space) if path is None else Path(path)


def _normalise_key(key: object, path: Path) -> str:
    """A 7-digit string key; integer (or integer-looking) keys are accepted."""
    if isinstance(key, bool):
        raise SlimnasError(f"{path}: bad architecture key {key!r}")
    text = str(key).strip()
    if len(text) != NUM_LAYERS or any(ch not in "1234" for ch in text):
        raise SlimnasError(
            f"{path}: bad architecture key {key!r}; expected {NUM_LAYERS} digits in 1..{NUM_WIDTHS}"
        )
    return text


def _space_key(space: WidthSpace, key: object, path: Path) -> str:
    """The canonical key of `key` in a built file's space."""
    if isinstance(key, bool):
        raise SlimnasError(f"{path}: bad architecture key {key!r}")
    try:
        return space.key(space.parse(str(key).strip()))
    except SlimnasError as e:
        raise SlimnasError(f"{path}: bad architecture key {key!r} for its space "
                           f"{space.spec.family}: {e}") from None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bad_number(value: object, nonneg: bool) -> str | None:
    """Why `value` is not a valid number field (None if it is one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "is not finite"
    if nonneg and value < 0:
        return "is negative"
    return None


def _validate(raw: object, path: Path, space: WidthSpace | None = None) -> dict[str, dict]:
    """{canonical key: entry}; keys are 7 digits in 1..4, or keys of a built file's `space`.

    Every entry must be an object with a finite number in each of REQUIRED_FIELDS."""
    if not isinstance(raw, dict) or not raw:
        raise SlimnasError(
            f"{path} is not a Channel-Bench-Macro file: expected a non-empty JSON object "
            "of architecture keys"
        )
    out: dict[str, dict] = {}
    for key, value in raw.items():
        k = _normalise_key(key, path) if space is None else _space_key(space, key, path)
        if not isinstance(value, dict):
            raise SlimnasError(f"{path}: entry {k} is not an object")
        for field in REQUIRED_FIELDS:
            v = value.get(field, _MISSING)
            if type(v) is int or type(v) is float and math.isfinite(v):  # the fast path
                if v >= 0 or field == "mean":
                    continue
            if v is _MISSING:
                raise SlimnasError(f"{path}: entry {k} has no field {field!r}")
            why = _bad_number(v, field != "mean")
            if why:
                raise SlimnasError(f"{path}: entry {k}: {field!r} {why}: {_short(v)}")
        if k in out:
            raise SlimnasError(f"{path}: architecture {k} appears twice")
        out[k] = value
    return out


_MISSING = object()


def _read_meta(mp: Path) -> tuple[dict, WidthSpace]:
    """The meta of a built file and the space it describes (SlimnasError naming `mp`)."""
    try:
        meta = read_json(mp)
    except UnicodeDecodeError as e:
        raise SlimnasError(f"{mp} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise SlimnasError(f"{mp} is not a benchmark meta file (expected a JSON object with "
                           f"\"format\": \"{META_FORMAT}\")")
    family, options = meta.get("space"), meta.get("options", {})
    bins, min_bins = meta.get("bins"), meta.get("min_bins", 1)
    if not isinstance(family, str):
        raise SlimnasError(f"{mp}: \"space\" must be a space name, got {_short(family)}")
    if not isinstance(options, dict) or any(k in options for k in _SPACE_ARGS):
        raise SlimnasError(f"{mp}: \"options\" must be an object of space options "
                           f"(not {', '.join(_SPACE_ARGS)}), got {_short(options)}")
    for label, v in (("bins", bins), ("min_bins", min_bins)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise SlimnasError(f"{mp}: {label!r} must be an integer, got {_short(v)}")
    try:
        space = get_space(family, bins=bins, min_bins=min_bins, **options)
    except SlimnasError as e:
        raise SlimnasError(f"{mp}: {e}") from None
    return meta, space


@dataclass(frozen=True, eq=False)
class BenchFile:
    """A loaded benchmark file: its entries and the width space its keys belong to.

    `name` is the BENCH_SPACES name asked for ("mobilenet" | "resnet"); `meta` is the
    `bench build` record (None for a Channel-Bench-Macro file, read with the default
    space of `name`). `entries` is shared with the load cache: do not mutate it.
    """

    name: str
    path: Path
    space: WidthSpace
    entries: dict[str, dict]
    meta: dict | None

    @property
    def built(self) -> bool:
        return self.meta is not None

    def key(self, arch: object) -> str:
        """The canonical key of an architecture (str, int or width vector) of this file's
        space; a malformed one raises SlimnasError (it need not be in the file)."""
        if self.meta is None:
            text = (str(arch).strip()
                    if isinstance(arch, (str, int)) and not isinstance(arch, bool) else "")
            if len(text) != NUM_LAYERS or any(ch not in "1234" for ch in text):
                raise SlimnasError(
                    f"malformed architecture {arch!r}: expected {NUM_LAYERS} digits in "
                    f"1..{NUM_WIDTHS}, e.g. 4444342"
                )
            return text
        if isinstance(arch, bool):
            raise SlimnasError(f"malformed architecture {arch!r}")
        try:
            return self.space.key(self.space.parse(arch))
        except SlimnasError as e:
            raise SlimnasError(f"malformed architecture {arch!r} for {self.path}'s space "
                               f"{self.space.spec.family}: {e}") from None

    def widths(self, keys: list[str]) -> np.ndarray:
        """(N, G) int64 width vectors of canonical keys of this file."""
        if self.meta is None:
            return _digits(keys)
        rows = [self.space.parse(k) for k in keys]
        return np.array(rows, dtype=np.int64).reshape(len(keys), self.space.num_groups)

    def full_flops(self) -> int:
        """MACs of the space's full width (CBM: the "4444444" entry's flops)."""
        from slimnas.search.costs import flops_of

        return flops_of(self.space, self.space.max_widths())

    def complete(self) -> bool:
        """True when the file holds every architecture of its space."""
        return len(self.entries) == self.space.size()


def open_bench(space: str, path: str | os.PathLike | None = None) -> BenchFile:
    """The benchmark file at `path` (default: the Channel-Bench-Macro file of `space`),
    validated and cached by path and mtime (of the file and of its meta file).

    With a `<path>.meta.json` its space is the one the meta describes, and its family must
    be `space`'s (cbm-mobilenet for "mobilenet", cbm-resnet for "resnet")."""
    name = _resolve_space(space)
    p = _bench_path(name, path)
    if not p.is_file():
        raise SlimnasError(
            f"no Channel-Bench-Macro file at {p} (set {BENCH_DIR_ENV} or pass the path)"
        )
    resolved = p.resolve()
    st = resolved.stat()
    mp = meta_path(p)
    mst = mp.stat() if mp.is_file() else None
    sig = (st.st_mtime_ns, st.st_size, str(mp),
           None if mst is None else (mst.st_mtime_ns, mst.st_size))
    hit = _CACHE.get(resolved)
    if hit is not None and hit[0] == sig:
        _, entries, meta, mspace = hit
        _check_family(name, meta, p, mp)
    else:
        meta, mspace = _read_meta(mp) if mst is not None else (None, None)
        _check_family(name, meta, p, mp)  # before reading keys with the wrong space
        try:
            raw = read_json(resolved)
        except UnicodeDecodeError as e:
            raise SlimnasError(f"{p} is not valid JSON: {e}") from None
        entries = _validate(raw, p, mspace)
        _CACHE[resolved] = (sig, entries, meta, mspace)
    if meta is None:
        return BenchFile(name, p, _default_space(name), entries, None)
    return BenchFile(name, p, mspace, entries, meta)


def _check_family(name: str, meta: dict | None, p: Path, mp: Path) -> None:
    """A built file must be read as the space it was built on."""
    family = BENCH_SPACES.get(name).family
    if meta is None or meta["space"] == family:
        return
    known = {BENCH_SPACES.get(n).family: n for n in BENCH_SPACES}
    hint = (f"use --space {known[meta['space']]}" if meta["space"] in known else
            f"the bench commands read {' and '.join(sorted(known))} benchmarks")
    raise SlimnasError(f"{p} was built on space {meta['space']!r} (see {mp}), not "
                       f"{family!r} (--space {name}); {hint}")


def load_bench(space: str, path: str | os.PathLike | None = None) -> dict[str, dict]:
    """Entries of a benchmark file by canonical key (cached by path and mtime; a built
    file's keys are read with its meta's space, see `open_bench`).

    The returned dict is shared with the cache: do not mutate it.
    """
    return open_bench(space, path).entries


def bench_space(space: str, **options) -> WidthSpace:
    """The width space of a benchmark space, 4 bins per group: digit d == d bins."""
    family = BENCH_SPACES.get(_resolve_space(space)).family
    if options.get("round_to", 1) != 1:  # the benchmark measured its exact channel counts
        raise SlimnasError(f"the Channel-Bench-Macro {family} space has its exact channel "
                           f"counts: round_to must be 1, got {options['round_to']!r}")
    return get_space(family, bins=NUM_WIDTHS, min_bins=1, **options)


@cache
def _default_space(name: str) -> WidthSpace:
    """One shared default space per benchmark (the cost model caches per spec object)."""
    return bench_space(name)


def _digits(keys: list[str]) -> np.ndarray:
    """(N, 7) int64 array of the digits of 7-digit keys."""
    buf = np.frombuffer("".join(keys).encode("ascii"), dtype=np.uint8)
    return (buf.reshape(len(keys), NUM_LAYERS) - ord("0")).astype(np.int64)


def _channels(bench: BenchFile, keys: list[str]) -> np.ndarray:
    """(N, G) channel counts of the file's keys (left path, as the cost model counts)."""
    from slimnas.search.costs import channels_batch

    ws = bench.space
    if not bench.built:
        full = np.asarray(ws.full_channels, dtype=np.int64)
        # every max width is divisible by 4, so d * max // 4 == round(d * max / 4) exactly
        assert np.all(full % NUM_WIDTHS == 0), f"max widths {ws.full_channels} not divisible by 4"
    return channels_batch(ws, bench.widths(keys))


def verify(space: str, path: str | os.PathLike | None = None) -> dict:
    """Compare the file's flops/params of every entry with the library's closed form (of
    the file's space: a built file's meta, else the Channel-Bench-Macro space).

    Returns {"space", "family", "file", "built", "n_total", "n_exact", "mismatches"} with
    at most the first 10 mismatching entries as {"arch", "flops_file", "flops_ours",
    "params_file", "params_ours"}.
    """
    bench = open_bench(space, path)
    entries = bench.entries
    keys = list(entries)
    model = cost_model(bench.space.spec)
    ch = _channels(bench, keys)
    ours_f = model.macs_batch(ch)
    ours_p = model.params_batch(ch)
    file_f = np.array([entries[k]["flops"] for k in keys], dtype=np.float64)
    file_p = np.array([entries[k]["params"] for k in keys], dtype=np.float64)
    exact = (file_f == ours_f) & (file_p == ours_p)
    mismatches = [
        {
            "arch": keys[i],
            "flops_file": entries[keys[i]]["flops"],
            "flops_ours": int(ours_f[i]),
            "params_file": entries[keys[i]]["params"],
            "params_ours": int(ours_p[i]),
        }
        for i in np.flatnonzero(~exact)[:MAX_MISMATCHES]
    ]
    return {
        "space": bench.name,
        "family": bench.space.spec.family,
        "file": str(bench.path),
        "built": bench.built,
        "n_total": len(keys),
        "n_exact": int(exact.sum()),
        "mismatches": mismatches,
    }


def query(space: str, arch: str | int, path: str | os.PathLike | None = None) -> dict:
    """One entry: {"space", "arch", "mean", "std", "acc", "flops_macs", "params",
    "flops_macs_ours", "params_ours"} (the last two from the closed form of the file's
    space)."""
    bench = open_bench(space, path)
    text = bench.key(arch)
    entry = bench.entries.get(text)
    if entry is None:
        raise SlimnasError(f"architecture {text} is not in {bench.path}")
    ch = _channels(bench, [text])
    model = cost_model(bench.space.spec)
    return {
        "space": bench.name,
        "arch": text,
        "mean": entry["mean"],
        "std": entry.get("std"),
        "acc": entry.get("acc"),
        "flops_macs": entry["flops"],
        "params": entry["params"],
        "flops_macs_ours": int(model.macs_batch(ch)[0]),
        "params_ours": int(model.params_batch(ch)[0]),
    }
