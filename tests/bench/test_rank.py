import json

import pytest

from slimnas.bench import load_bench
from slimnas.bench.rank import rank_correlation, read_score_table
from slimnas.cli import main
from slimnas.errors import SlimnasError


def test_flops_as_scores_reproduce_the_published_flops_baseline(bench_dir):
    # ALGORITHMS.md: FLOPs alone ranks with Kendall tau 0.546 (MobileNet), 0.673 (ResNet)
    for space, tau in (("mobilenet", 0.546), ("resnet", 0.673)):
        bench = load_bench(space)
        res = rank_correlation(space, {k: v["flops"] for k, v in bench.items()})
        assert res["all"]["n"] == 16384 and res["no_ones"]["n"] == 3**7
        assert round(res["all"]["kendall_tau"], 3) == tau
        assert res["all"] == res["flops_alone"]["all"]
        assert res["missing"] == 0


def test_true_means_rank_perfectly_and_partial_int_key_tables_work(bench_dir, tmp_path, capsys):
    bench = load_bench("resnet")
    keys = sorted(bench)[::97]
    f = tmp_path / "s.json"
    f.write_text(json.dumps({int(k): {"score": bench[k]["mean"]} for k in keys}))
    table = read_score_table(f)
    assert set(table) == set(keys)
    code = main(["bench", "rank", "--space", "resnet", "--scores", str(f), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0
    assert res["all"]["kendall_tau"] == pytest.approx(1.0) and res["all"]["n"] == len(keys)
    assert res["missing"] == 16384 - len(keys)
    assert res["flops_alone"]["all"]["n"] == len(keys)
    assert set(res) >= {"all", "no_ones", "flops_alone"}


@pytest.mark.parametrize("content, needle", [
    ('{"4444444": "high"}', "not a number"),
    ('{"444444": 1.0}', "6 entries"),
    ('{"4444445": 1.0}', "outside"),
    ('[1, 2]', "JSON object"),
    ('{"4444444": NaN}', "not finite"),
])
def test_bad_score_tables(tmp_path, content, needle):
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(SlimnasError, match=needle):
        read_score_table(f)
