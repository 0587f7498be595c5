"""Channel-Bench-Macro: the closed form reproduces every stored flops/params entry."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from slimnas.bench import BENCH_SPACES, bench_space, default_bench_file, load_bench, query, verify
from slimnas.errors import SlimnasError

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/channel_bench_macro"
needs_data = pytest.mark.skipif(
    not (DATA / "Results_MobileNet.json").is_file(), reason=f"no benchmark data at {DATA}"
)


@pytest.fixture
def bench_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SLIMNAS_BENCH_DIR", str(DATA))
    return DATA


def test_default_bench_file_env_and_cwd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLIMNAS_BENCH_DIR", str(tmp_path))
    assert default_bench_file("resnet") == tmp_path / "Results_ResNet.json"
    monkeypatch.delenv("SLIMNAS_BENCH_DIR")
    monkeypatch.chdir(tmp_path)
    got = default_bench_file("mobilenet")
    want = tmp_path.parent / "shared" / "data" / "channel_bench_macro" / "Results_MobileNet.json"
    assert got.resolve() == want.resolve()


def test_unknown_space_lists_known() -> None:
    with pytest.raises(SlimnasError, match="mobilenet, resnet"):
        default_bench_file("vgg")
    with pytest.raises(SlimnasError, match="mobilenet, resnet"):
        verify("vgg")


def test_bench_space_digit_is_bins() -> None:
    for name in BENCH_SPACES:
        ws = bench_space(name)
        assert ws.num_groups == 7
        assert ws.bins == (4,) * 7
        assert ws.c_min == (1,) * 7 and ws.c_max == (4,) * 7
        assert ws.size() == 4**7
        assert all(c % 4 == 0 for c in ws.full_channels)
        assert ws.channels == ws.full_channels


@needs_data
@pytest.mark.parametrize("space", sorted(BENCH_SPACES))
def test_verify_all_entries_exact(bench_dir: Path, space: str) -> None:
    start = time.perf_counter()
    report = verify(space)
    elapsed = time.perf_counter() - start
    assert report["space"] == space
    assert report["n_total"] == 16384
    assert report["n_exact"] == 16384, report["mismatches"]
    assert report["mismatches"] == []
    assert Path(report["file"]) == bench_dir / BENCH_SPACES.get(space).file
    assert elapsed < 3.0, f"verify({space}) took {elapsed:.2f}s"


@needs_data
def test_query_best_mobilenet(bench_dir: Path) -> None:
    for arch in ("4444342", 4444342):
        q = query("mobilenet", arch)
        assert q["arch"] == "4444342"
        assert q["mean"] == pytest.approx(91.887, abs=1e-3)
        assert len(q["acc"]) == 3
        assert q["std"] > 0
        assert q["flops_macs"] == q["flops_macs_ours"]
        assert q["params"] == q["params_ours"]
    q = query("resnet", "4344424")
    assert q["mean"] == pytest.approx(93.893, abs=1e-3)
    assert q["flops_macs"] == q["flops_macs_ours"]


@needs_data
@pytest.mark.parametrize("arch", ["444434", "44443425", "4444340", "abcdefg", "", 12, True])
def test_query_malformed_arch(bench_dir: Path, arch: object) -> None:
    with pytest.raises(SlimnasError, match="malformed architecture"):
        query("mobilenet", arch)  # type: ignore[arg-type]


def _subset(space: str, keys: list[str]) -> dict[str, dict]:
    full = load_bench(space, DATA / BENCH_SPACES.get(space).file)
    return {k: full[k] for k in keys}


@needs_data
def test_integer_keys_accepted(tmp_path: Path) -> None:
    keys = ["4444342", "1111111", "4321432"]
    sub = _subset("mobilenet", keys)
    path = tmp_path / "int_keys.json"
    # json writes integer dict keys as their decimal text; padded text is normalised too
    path.write_text(json.dumps({(int(k) if i else f" {k} "): v for i, (k, v) in
                                enumerate(sub.items())}))
    loaded = load_bench("mobilenet", path)
    assert sorted(loaded) == sorted(keys)
    q = query("mobilenet", 4321432, path=path)
    assert q["mean"] == sub["4321432"]["mean"]
    assert q["flops_macs"] == q["flops_macs_ours"]
    report = verify("mobilenet", path)
    assert (report["n_total"], report["n_exact"]) == (3, 3)
    with pytest.raises(SlimnasError, match="not in"):
        query("mobilenet", "2222222", path=path)


@needs_data
def test_one_corrupted_flops_value(tmp_path: Path) -> None:
    src = DATA / "Results_ResNet.json"
    data = json.loads(src.read_text())
    data["4344424"]["flops"] += 1
    path = tmp_path / "corrupt.json"
    path.write_text(json.dumps(data))
    report = verify("resnet", path)
    assert report["n_total"] == 16384
    assert report["n_exact"] == 16383
    (bad,) = report["mismatches"]
    assert bad["arch"] == "4344424"
    assert bad["flops_file"] == bad["flops_ours"] + 1
    assert bad["params_file"] == bad["params_ours"]


def test_cache_sees_rewritten_file(tmp_path: Path) -> None:
    path = tmp_path / "small.json"
    entry = {"acc": [1.0, 2.0, 3.0], "mean": 2.0, "std": 1.0, "flops": 1, "params": 2}
    path.write_text(json.dumps({"1111111": entry}))
    assert list(load_bench("resnet", path)) == ["1111111"]
    path.write_text(json.dumps({"2222222": entry, "3333333": entry}))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert sorted(load_bench("resnet", path)) == ["2222222", "3333333"]


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SlimnasError, match="nothere.json"):
        load_bench("mobilenet", tmp_path / "nothere.json")
    monkeypatch.setenv("SLIMNAS_BENCH_DIR", str(tmp_path))
    with pytest.raises(SlimnasError, match="Results_ResNet.json"):
        verify("resnet")
    with pytest.raises(SlimnasError, match="Results_MobileNet.json"):
        query("mobilenet", "4444444")


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2, 3]", "not a Channel-Bench-Macro file"),
        ("{}", "not a Channel-Bench-Macro file"),
        ('{"1111115": {"mean": 1, "flops": 1, "params": 1}}', "bad architecture key"),
        ('{"111111": {"mean": 1, "flops": 1, "params": 1}}', "bad architecture key"),
        ('{"1111111": [1, 2]}', "not an object"),
        ('{"1111111": {"mean": 1, "params": 1}}', "no field 'flops'"),
        ('{"1111111": {"mean": 1, "flops": 1, "params": 1},'
         ' " 1111111": {"mean": 1, "flops": 1, "params": 1}}', "appears twice"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad_bench.json"
    path.write_text(text)
    with pytest.raises(SlimnasError, match=match) as info:
        load_bench("mobilenet", path)
    assert "bad_bench.json" in str(info.value)
