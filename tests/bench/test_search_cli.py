import json

from slimnas.cli import main


def test_bench_search_json_reports_true_ranks(bench_dir, capsys):
    code = main(["bench", "search", "--space", "resnet", "--budget", "0.5", "--queries", "100",
                 "--seeds", "3", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(res) >= {"space", "budget_flops_macs", "searcher", "queries", "runs",
                        "median_rank"}
    assert "budget_flops" not in res  # FLOPs fields say MACs in their name (README)
    assert len(res["runs"]) == 3
    for r in res["runs"]:
        assert r["queries_used"] <= 100
        assert 0.8 * res["budget_flops_macs"] <= r["flops_macs"] <= res["budget_flops_macs"]
        assert r["rank"] >= 1
    assert res["median_rank"] <= 3


def test_bench_search_with_a_score_table_and_errors(bench_dir, tmp_path, capsys):
    from slimnas.bench import load_bench

    bench = load_bench("mobilenet")
    f = tmp_path / "s.json"
    f.write_text(json.dumps({k: v["flops"] for k, v in bench.items()}))  # FLOPs as scores
    code = main(["bench", "search", "--space", "mobilenet", "--budget", "0.25", "--seeds", "1",
                 "--searcher", "random", "--queries", "50", "--scores", str(f), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0 and res["runs"][0]["queries_used"] <= 50
    code = main(["bench", "search", "--space", "mobilenet", "--budget", "0.5", "--init", "prior"])
    assert code == 2 and "prior" in capsys.readouterr().err
    code = main(["bench", "search", "--space", "mobilenet", "--budget", "1K"])
    assert code == 2 and "smallest" in capsys.readouterr().err
