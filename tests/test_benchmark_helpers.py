"""The study scripts' pure helpers: the comparison of vs_alternatives' report and the
latency benchmark's pausing of background jobs."""

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _method(accs: dict) -> dict:
    seeds = sorted(accs)
    acc = [accs[s] for s in seeds]
    return {"seeds": seeds, "test_top1": acc, "mean": sum(acc) / len(acc)}


def test_compare_pairs_by_seed_and_applies_the_target_rule():
    va = _load("vs_alternatives")
    ours = {0: 90.0, 1: 90.2, 2: 90.4}
    methods = {"search-scratch": _method(ours), "search-finetune": _method(ours)}
    for m in va.BASELINES:
        methods[m] = _method({0: 89.4, 1: 89.5, 2: 89.6})
    out = {"budgets": {"0.5": {"methods": methods}},
           "full_width": {"mean": 90.6}}
    va.compare(out)
    b = out["budgets"]["0.5"]
    row = b["search_scratch_vs"]["uniform"]
    assert row["paired_differences"] == pytest.approx([0.6, 0.7, 0.8])
    assert row["mean"] == pytest.approx(0.7)
    lo, hi = row["interval_95"]
    assert lo < 0.7 < hi and lo > 0 and row["decided"]
    assert b["target_met"] and b["complete"]
    assert b["headroom_full_minus_uniform"] == pytest.approx(90.6 - 89.5)

    # one TP seed above the worst search seed: the target fails even with a 0.5 mean gain
    methods["tp-scratch"] = _method({0: 89.4, 1: 89.5, 2: 90.1})
    va.compare(out)
    assert not b["target_met"]
    # a missing seed: incomplete, and the pairs use the common seeds only
    methods["random"] = _method({0: 89.0, 2: 89.1})
    va.compare(out)
    assert not b["complete"]
    assert b["search_scratch_vs"]["random"]["seeds"] == [0, 2]


def test_compare_calls_an_interval_through_zero_undecided():
    va = _load("vs_alternatives")
    methods = {"search-scratch": _method({0: 90.0, 1: 89.0, 2: 90.1}),
               "uniform": _method({0: 89.8, 1: 89.6, 2: 89.9})}
    out = {"budgets": {"0.3": {"methods": methods}}}
    va.compare(out)
    row = out["budgets"]["0.3"]["search_scratch_vs"]["uniform"]
    assert row["interval_95"][0] < 0 < row["interval_95"][1]
    assert not row["decided"]
    assert "headroom_full_minus_uniform" not in out["budgets"]["0.3"]


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_method_cost_charges_tp_scratch_with_its_twin_pruning():
    va = _load("vs_alternatives")
    units = {"tp-l1-global": [{"seed": 0, "full_train_cpu_s": 700.0, "prune_cpu_s": 5.0},
                              {"seed": 1, "full_train_cpu_s": 800.0, "prune_cpu_s": 6.0}]}
    assert va.method_cost("tp-scratch", {"seed": 1}, units) == 806.0
    assert va.method_cost("tp-scratch", {"seed": 2}, units) is None  # no twin: unknown
    assert va.method_cost("search-scratch",
                          {"seed": 0, "supernet_cpu_s": 10.0, "search_cpu_s": 2.0}) == 12.0
    assert va.method_cost("random", {"seed": 0}) == 0.0


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc")
def test_paused_stops_every_pid_and_resumes_them_after_an_error():
    lat = _load("latency")
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
             for _ in range(2)]
    try:
        with pytest.raises(RuntimeError), lat.paused(",".join(str(p.pid) for p in procs)):
            assert [_state(p.pid) for p in procs] == ["T", "T"]
            raise RuntimeError("boom")
        time.sleep(0.2)
        assert all(_state(p.pid) != "T" for p in procs)
        with lat.paused(None):  # nothing to stop
            pass
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_remeasure_pairs_each_macs_winner_with_its_seeds_latency_winner_per_round():
    lat = _load("latency")
    times = {"seed 0 latency": [5.0, 10.0, 6.0], "seed 0 macs": [7.5, 14.0, 9.0],
             "seed 0 macs-median": [5.0, 12.0, 6.6], "seed 1 macs": [1.0, 1.0, 1.0],
             "probe 1234": [3.0, 3.0, 3.0]}
    paired = lat._paired_ratios(times)
    # seed 1 has no latency winner, probes are not winners
    assert set(paired) == {"seed 0 macs", "seed 0 macs-median"}
    assert paired["seed 0 macs"]["rounds"] == pytest.approx([1.5, 1.4, 1.5])
    assert paired["seed 0 macs"]["median"] == pytest.approx(1.5)
    assert paired["seed 0 macs-median"]["min"] == pytest.approx(1.0)
    assert paired["seed 0 macs-median"]["max"] == pytest.approx(1.2)

    def sitting(when, seeds):
        return {"when": when, "median_round_spread": 0.1, "winners": {
            f"seed {s} {k}": {"times_ms": [2.0, 4.0] if k == "macs" else [1.0, 2.0]}
            for s in seeds for k in ("latency", "macs", "macs-median")}}

    res = {"remeasure_noisy_sittings": [sitting("2026-01-01 10:00:00 UTC", ["0", "1"]),
                                        sitting("2026-01-02 10:00:00 UTC", ["0"])]}
    # the newest sitting that timed every seed, its ratios filled in from its times
    best = lat._latest_paired(res, ["0", "1"])
    assert best["when"].startswith("2026-01-01")
    assert best["paired_to_latency_winner"]["seed 1 macs"]["median"] == pytest.approx(2.0)
    assert lat._latest_paired(res, ["0"])["when"].startswith("2026-01-02")
    assert lat._latest_paired(res, ["2"]) is None


def test_search_why_report_gathers_random_spread_tau_and_both_searches(tmp_path):
    import argparse
    import json

    why = _load("search_why")
    va = why._study()
    sdir = tmp_path / "seed-0"
    sdir.mkdir()

    def unit(name, widths, top1, **extra):
        (sdir / f"{name}.json").write_text(json.dumps(
            {"widths": widths, "key": "".join(map(str, widths)), "test_top1": top1,
             "macs": 100, **extra}))

    unit("b0.3-search-scratch", [1, 2], 89.5)
    unit("b0.3-uniform", [2, 2], 89.4)
    unit("b0.3-random", [1, 1], 89.0)
    for i, (w, top1) in enumerate([([2, 1], 89.2), ([3, 1], 89.6), ([1, 3], 88.8)]):
        unit(f"why-b0.3-random-{i}", w, top1)
    scores = {"1,1": 80.0, "2,1": 81.0, "3,1": 82.0, "1,3": 79.0, "1,2": 83.0, "3,3": 84.0}
    (sdir / "why-b0.3.scores.json").write_text(json.dumps({"scores": scores, "cpu_s": 1.0}))
    for tag, w in (("", [1, 2]), (f"-q{why.LONG_QUERIES}", [3, 3])):
        (sdir / f"search-evolution{tag}-0.3.json").write_text(json.dumps(
            {"widths": w, "key": "".join(map(str, w)), "flops_macs": 100, "queries": 1,
             "cpu_s": 2.0}))
    unit(f"why-b0.3-search-q{why.LONG_QUERIES}", [3, 3], 89.7)
    args = argparse.Namespace(dir=str(tmp_path), k=3, why_out=str(tmp_path / "why.json"))
    row = why.report(va, args)["seeds"]["0"]
    assert row["n"] == 4 and row["best"] == 89.6 and row["worst"] == 88.8
    assert row["spread"] == pytest.approx(0.8)
    assert row["best_minus_uniform"] == pytest.approx(0.2)
    assert row["search_above_randoms"] == 3  # 89.5 beats all but 89.6
    # scores and accuracy rank the four random widths identically
    assert row["tau_score_vs_top1"] == pytest.approx(1.0)
    short, long = row["searches"][va.QUERIES], row["searches"][why.LONG_QUERIES]
    assert short["test_top1"] == 89.5 and short["supernet_score"] == 83.0
    assert long["test_top1"] == 89.7 and long["supernet_score"] == 84.0


def test_decisive_gate_is_seed_vs_seed_tau_over_the_pairs_built():
    ds = _load("decisive_study")
    truth = {"a": {"acc": [90.0, 89.0]}, "b": {"acc": [89.0, 88.0]},
             "c": {"acc": [88.0, 90.0]}, "d": {"acc": [87.0, 89.5]},
             "e": {"acc": [91.0]}}  # one seed only: not a pair
    g = ds.gate(truth, ["a", "b", "c", "d", "e", "missing"], n_boot=200)
    assert g["architectures"] == 4
    # pairs (90,89) (89,88) (88,90) (87,89.5): concordant ab, cd; discordant ac, ad, bc, bd
    assert g["seed0_vs_seed1_kendall_tau"] == pytest.approx(-1 / 3)
    assert g["passed"] is False and g["threshold"] == ds.GATE_TAU
    lo, hi = g["interval_95"]
    assert -1 <= lo <= g["seed0_vs_seed1_kendall_tau"] <= hi <= 1 and lo < hi
    assert "flops_vs_seed_mean_kendall_tau" not in g  # no FLOPs in this truth
    flops = {k: {**v, "flops": 100 - i} for i, (k, v) in enumerate(truth.items())}
    # FLOPs fall a..d; seed means 89.5, 88.5, 89.0, 88.25: only bc of the 6 pairs discordant
    assert ds.gate(flops, list("abcd"), n_boot=200)["flops_vs_seed_mean_kendall_tau"] == \
        pytest.approx(4 / 6)
    ordered = {k: {"acc": [float(i), float(i) + 0.5]} for i, k in enumerate("abcd")}
    assert ds.gate(ordered, list("abcd"), n_boot=200)["passed"] is True
    assert ds.gate(ordered, ["a", "b"])["passed"] is None  # too few pairs to judge


def test_decisive_spread_splits_the_seed_means_into_true_spread_and_run_noise():
    import math

    ds = _load("decisive_study")
    # differences a - b: 1, -1, 1, -1 (sd 2 / sqrt 3); means 0.5, 1.5, 2.5, 3.5 (sd sqrt(5/3))
    s = ds.spread([1.0, 1.0, 3.0, 3.0], [0.0, 2.0, 2.0, 4.0])
    noise = (2 / math.sqrt(3)) / math.sqrt(2)
    assert s["run_noise_sd"] == pytest.approx(noise)
    assert s["seed_mean_sd"] == pytest.approx(math.sqrt(5 / 3))
    assert s["true_spread_sd"] == pytest.approx(math.sqrt(5 / 3 - noise ** 2 / 2))
    assert s["seed_mean_range"] == [0.5, 3.5]
    r = s["true_spread_sd"] ** 2 / (s["true_spread_sd"] ** 2 + noise ** 2)
    assert s["implied_kendall_tau"] == pytest.approx(2 / math.pi * math.asin(r))
    flat = ds.spread([1.0, 2.0, 1.0, 2.0], [2.0, 1.0, 2.0, 1.0])  # all noise: means equal
    assert flat["true_spread_sd"] == 0.0 and flat["implied_kendall_tau"] == 0.0
    exact = ds.spread([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])  # no noise at all
    assert exact["true_over_noise"] is None and exact["implied_kendall_tau"] == 1.0
    truth = {k: {"acc": [a, b]} for k, a, b in zip("abcd", [1.0, 1.0, 3.0, 3.0],
                                                     [0.0, 2.0, 2.0, 4.0], strict=True)}
    assert ds.gate(truth, list("abcd"), n_boot=100)["spread"] == s


def test_decisive_known_runs_take_only_window_widths_trained_from_scratch(tmp_path):
    import json

    ds = _load("decisive_study")
    for seed, name, key, inside in ((0, "search-scratch", "111", True),
                                    (1, "search-scratch", "111", True),
                                    (0, "random", "222", False),  # outside the window
                                    (0, "search-finetune", "333", True),  # inherited weights
                                    (2, "greedy", "444", True)):
        d = tmp_path / f"seed-{seed}"
        d.mkdir(exist_ok=True)
        (d / f"b{ds.BUDGET}-{name}.json").write_text(json.dumps(
            {"key": key, "in_window": inside, "test_top1": 90.0 + seed}))
    (tmp_path / "seed-0" / "b0.3-random.json").write_text(json.dumps(
        {"key": "555", "in_window": True, "test_top1": 80.0}))  # another budget
    assert ds.known_runs(tmp_path) == {"111": {0: 90.0, 1: 91.0}, "444": {2: 92.0}}


def test_decisive_pilot_keys_split_by_one_bin_groups_inside_the_window(tmp_path):
    import json

    ds = _load("decisive_study")
    keys = ds.choose_keys(tmp_path / "keys.json")
    space, widths, macs = ds.window_space()
    inside = {space.key(w) for w in widths}
    assert len(keys) == 2 * ds.PILOT_HALF == len(set(keys)) and set(keys) <= inside
    ones = [("1" in k) for k in keys]
    assert ones == [False] * ds.PILOT_HALF + [True] * ds.PILOT_HALF
    assert ds.choose_keys(tmp_path / "keys.json") == keys  # read back, not re-drawn
    assert ds.choose_keys(tmp_path / "again.json") == keys  # seeded
    committed = BENCH / "results" / "decisive_study_runs" / "pilot_keys.json"
    assert json.loads(committed.read_text())["keys"] == keys  # the pilot's, reproducible


def test_decisive_stops_at_the_pilot_unless_a_gate_passed(tmp_path):
    import argparse

    ds = _load("decisive_study")
    args = argparse.Namespace(truth=str(tmp_path / "t.json"))
    with pytest.raises(SystemExit, match="no gate has passed"):
        ds.passed_truth(args, {"gate": {"passed": False}})
    assert ds.passed_truth(args, {"gate": {"passed": True}}) == args.truth
    assert ds.passed_truth(args, {"gate": {"passed": False}, "gate_re_pilot": {"passed": True}}
                           ).endswith(f"t_{ds.RE_PILOT_EPOCHS}ep.json")


def test_decisive_re_pilot_is_the_pilot_recipe_longer_in_channels_last():
    import inspect

    from slimnas.bench.build import build_benchmark

    ds = _load("decisive_study")
    longer = ds.re_pilot_recipe()
    assert longer == {**ds.BUILD, "epochs": 16, "channels_last": True}
    assert ds.BUILD["epochs"] == 8 and "channels_last" not in ds.BUILD  # the pilot's own
    assert set(longer) <= set(inspect.signature(build_benchmark).parameters)


def test_decisive_plot_draws_the_gates_and_each_widths_two_runs(tmp_path):
    import json

    ds = _load("decisive_study")
    truth = tmp_path / "t.json"
    truth.write_text(json.dumps({k: {"acc": [89.0 + i / 10, 89.5 - i / 20]}
                                 for i, k in enumerate("abcd")}))
    result = {"pilot": {"keys": list("abcd"), "truth": str(truth)},
              "gate": ds.gate(json.loads(truth.read_text()), list("abcd"), n_boot=100),
              "re_pilot": {"truth": str(tmp_path / "not_yet.json")},  # still building
              "gate_re_pilot": {}}
    png = tmp_path / "study.png"
    ds.plot(result, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_decisive_compute_choice_follows_the_rule_fixed_before_the_levels():
    ds = _load("decisive_study")
    grows = ds.choose_compute({"6.4e+12": {"kendall_tau": 0.20},
                               "1.28e+13": {"kendall_tau": 0.25}})
    assert grows["compute"] == 1.28e13 and grows["taus"] == {"6.4e+12": 0.20,
                                                             "1.28e+13": 0.25}
    flat = ds.choose_compute({"1.28e+13": {"kendall_tau": 0.25},  # order does not matter
                              "6.4e+12": {"kendall_tau": 0.25}})
    assert flat["compute"] == 6.4e12  # no growth: the smaller level
    assert ds.choose_compute({"6.4e+12": {"kendall_tau": 0.3},
                              "1.28e+13": {"kendall_tau": 0.1}})["compute"] == 6.4e12


def test_decisive_supernet_stages_wait_for_the_full_truth_and_a_compute_level(tmp_path):
    import argparse
    import json

    ds = _load("decisive_study")
    args = argparse.Namespace(stage="supernets", compute=None, seeds=1, jobs=1, boot=10,
                              dir=str(tmp_path), out=str(tmp_path / "s.json"), smoke=False)
    with pytest.raises(SystemExit, match="full truth is not built"):
        ds.supernet_stages(args, {"gate_re_pilot": {"passed": True}})
    truth = tmp_path / "t.json"
    truth.write_text(json.dumps({"a": {"acc": [1.0, 2.0, 3.0], "flops": 5}}))
    with pytest.raises(SystemExit, match="no training compute chosen"):
        ds.supernet_stages(args, {"full_truth": {"truth": str(truth)}})
    assert ds.unit_dir(args, "BCNet", 1, 1.28e13) == tmp_path / "BCNet-c1.28e+13-seed1"


def test_decisive_verdict_counts_better_worse_and_no_difference():
    ds = _load("decisive_study")

    def pair(lo, hi):
        return {"value": (lo + hi) / 2, "interval": [lo, hi], "beats": lo > 0}

    pairs = {"BCNet - UA": pair(0.1, 0.3), "BCNet - FLOPs alone": pair(-0.2, 0.1),
             "BCNetV2 - UA": pair(-0.4, -0.1)}
    study = {"decision": {"holds": False, "pairs": pairs}, "ceiling": {"kendall_tau": 0.64}}
    text = ds.verdict(study)
    assert "does not hold" in text and "of 3 pairs 1 better, 1 worse, 1 no difference" in text
    assert text.endswith("ceiling 0.64")
    study["decision"] = {"holds": True, "pairs": {"BCNet - UA": pair(0.1, 0.3)}}
    assert "better holds" in ds.verdict(study) and "1 better, 0 worse, 0 no" in ds.verdict(study)


def test_decisive_table_rows_per_scorer_and_words_each_difference_by_its_interval(tmp_path):
    import numpy as np

    from slimnas.bench.compare import compare_scorers

    ds = _load("decisive_study")
    rng = np.random.default_rng(0)
    keys = [f"k{i}" for i in range(12)]
    true = {k: float(i) for i, k in enumerate(keys)}
    truth = {k: [true[k] + rng.normal(0, 0.3) for _ in range(3)] for k in keys}
    flops = {k: 100.0 + (i * 7) % 12 for i, k in enumerate(keys)}  # unrelated to the truth
    perfect = [{k: true[k] + rng.normal(0, 0.01) for k in keys} for _ in range(2)]
    reverse = [{k: -true[k] for k in keys}]
    study = compare_scorers({"BCNet": perfect, "UA": reverse}, truth, flops, n_boot=200)
    text = ds.table(study)
    lines = text.splitlines()
    bc = next(line for line in lines if line.startswith("| BCNet |"))
    assert bc.split("|")[2].strip() == "2" and len(bc.split("|")[3].split(",")) == 2
    diff = next(line for line in lines if line.startswith("| BCNet - |"))
    cells = [c.strip() for c in diff.split("|")[2:-1]]
    assert len(cells) == 2 and cells[0].endswith("better")  # vs UA: far apart
    assert "CafeNet" not in text and "ceiling" in lines[-1] and "12 widths x 3" in lines[-1]
    png = tmp_path / "study.png"
    ds.plot({"study": study, "verdict": ds.verdict({**study, "decision": {
        "holds": True, "pairs": {}}})}, png)  # the study panel, no gate yet
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
