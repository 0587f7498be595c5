"""Channel-Bench-Macro: load the ground-truth files, check our FLOPs/params, query entries.

A key "d1..d7" (digits 1..4) names one architecture of a space: layer i has width
round(d_i * max_i / 4) channels (ALGORITHMS.md section 2). In a `WidthSpace` built
with 4 bins per group (see `bench_space`), digit d is exactly a width of d bins.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np

from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.io import read_json
from slimnas.width.space import WidthSpace
from slimnas.width.spaces import get_space

# space name -> (width-space family, file name in the data directory)
BENCH_SPACES: dict[str, tuple[str, str]] = {
    "mobilenet": ("cbm-mobilenet", "Results_MobileNet.json"),
    "resnet": ("cbm-resnet", "Results_ResNet.json"),
}
BENCH_DIR_ENV = "SLIMNAS_BENCH_DIR"
NUM_LAYERS = 7
NUM_WIDTHS = 4
REQUIRED_FIELDS = ("mean", "flops", "params")
MAX_MISMATCHES = 10

# resolved path -> (mtime_ns, size, entries)
_CACHE: dict[Path, tuple[int, int, dict[str, dict]]] = {}


def _resolve_space(space: str) -> str:
    """The BENCH_SPACES name of `space` (its family name is accepted too)."""
    if space in BENCH_SPACES:
        return space
    for name, (family, _) in BENCH_SPACES.items():
        if space == family:
            return name
    raise SlimnasError(
        f"unknown benchmark space {space!r}; known: {', '.join(sorted(BENCH_SPACES))}"
    )


def default_bench_file(space: str) -> Path:
    """The data file of `space`: in $SLIMNAS_BENCH_DIR if set, else ../shared/data/channel_bench_macro."""
    name = BENCH_SPACES[_resolve_space(space)][1]
    env = os.environ.get(BENCH_DIR_ENV)
    if env:
        return Path(env) / name
    return Path.cwd() / ".." / "shared" / "data" / "channel_bench_macro" / name


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


def _validate(raw: object, path: Path) -> dict[str, dict]:
    if not isinstance(raw, dict) or not raw:
        raise SlimnasError(
            f"{path} is not a Channel-Bench-Macro file: expected a non-empty JSON object "
            "of architecture keys"
        )
    out: dict[str, dict] = {}
    for key, value in raw.items():
        k = _normalise_key(key, path)
        if not isinstance(value, dict):
            raise SlimnasError(f"{path}: entry {k} is not an object")
        missing = [f for f in REQUIRED_FIELDS if f not in value]
        if missing:
            raise SlimnasError(f"{path}: entry {k} has no field {missing[0]!r}")
        if k in out:
            raise SlimnasError(f"{path}: architecture {k} appears twice")
        out[k] = value
    return out


def load_bench(space: str, path: str | os.PathLike | None = None) -> dict[str, dict]:
    """Entries of a benchmark file keyed by 7-digit strings (cached by path and mtime).

    The returned dict is shared with the cache: do not mutate it.
    """
    _resolve_space(space)
    p = _bench_path(space, path)
    if not p.is_file():
        raise SlimnasError(
            f"no Channel-Bench-Macro file at {p} (set {BENCH_DIR_ENV} or pass the path)"
        )
    resolved = p.resolve()
    st = resolved.stat()
    hit = _CACHE.get(resolved)
    if hit is not None and hit[0] == st.st_mtime_ns and hit[1] == st.st_size:
        return hit[2]
    try:
        raw = read_json(resolved)
    except UnicodeDecodeError as e:
        raise SlimnasError(f"{p} is not valid JSON: {e}") from None
    entries = _validate(raw, p)
    _CACHE[resolved] = (st.st_mtime_ns, st.st_size, entries)
    return entries


def bench_space(space: str, **options) -> WidthSpace:
    """The width space of a benchmark space, 4 bins per group: digit d == d bins."""
    family = BENCH_SPACES[_resolve_space(space)][0]
    return get_space(family, bins=NUM_WIDTHS, min_bins=1, **options)


@cache
def _default_space(name: str) -> WidthSpace:
    """One shared default space per benchmark (the cost model caches per spec object)."""
    return bench_space(name)


def _digits(keys: list[str]) -> np.ndarray:
    """(N, 7) int64 array of the digits of 7-digit keys."""
    buf = np.frombuffer("".join(keys).encode("ascii"), dtype=np.uint8)
    return (buf.reshape(len(keys), NUM_LAYERS) - ord("0")).astype(np.int64)


def _channels(ws: WidthSpace, digits: np.ndarray) -> np.ndarray:
    full = np.asarray(ws.full_channels, dtype=np.int64)
    # every max width is divisible by 4, so d * max // 4 == round(d * max / 4) exactly
    assert np.all(full % NUM_WIDTHS == 0), f"max widths {ws.full_channels} not divisible by 4"
    return digits * full // NUM_WIDTHS


def verify(space: str, path: str | os.PathLike | None = None) -> dict:
    """Compare the file's flops/params of every entry with the library's closed form.

    Returns {"space", "file", "n_total", "n_exact", "mismatches"} with at most the first
    10 mismatching entries as {"arch", "flops_file", "flops_ours", "params_file", "params_ours"}.
    """
    name = _resolve_space(space)
    p = _bench_path(name, path)
    entries = load_bench(name, p)
    keys = list(entries)
    ws = _default_space(name)
    model = cost_model(ws.spec)
    ch = _channels(ws, _digits(keys))
    ours_f = model.macs_batch(ch)
    ours_p = model.params_batch(ch)
    try:
        file_f = np.array([entries[k]["flops"] for k in keys], dtype=np.float64)
        file_p = np.array([entries[k]["params"] for k in keys], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise SlimnasError(f"{p}: non-numeric flops or params: {e}") from None
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
        "space": name,
        "file": str(p),
        "n_total": len(keys),
        "n_exact": int(exact.sum()),
        "mismatches": mismatches,
    }


def query(space: str, arch: str | int, path: str | os.PathLike | None = None) -> dict:
    """One entry: {"space", "arch", "mean", "std", "acc", "flops_macs", "params",
    "flops_macs_ours", "params_ours"} (the last two from the closed form)."""
    name = _resolve_space(space)
    ws = _default_space(name)
    text = str(arch).strip() if isinstance(arch, (str, int)) and not isinstance(arch, bool) else ""
    if len(text) != NUM_LAYERS or any(ch not in "1234" for ch in text):
        raise SlimnasError(
            f"malformed architecture {arch!r}: expected {NUM_LAYERS} digits in 1..{NUM_WIDTHS}, "
            "e.g. 4444342"
        )
    p = _bench_path(name, path)
    entries = load_bench(name, p)
    entry = entries.get(text)
    if entry is None:
        raise SlimnasError(f"architecture {text} is not in {p}")
    ch = _channels(ws, _digits([text]))
    model = cost_model(ws.spec)
    return {
        "space": name,
        "arch": text,
        "mean": entry["mean"],
        "std": entry.get("std"),
        "acc": entry.get("acc"),
        "flops_macs": entry["flops"],
        "params": entry["params"],
        "flops_macs_ours": int(model.macs_batch(ch)[0]),
        "params_ours": int(model.params_batch(ch)[0]),
    }
