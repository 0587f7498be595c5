"""The main job: train a supernet -> learn the prior -> search under a FLOPs budget ->
export the winner -> retrain it and the uniform-width baseline of the same budget -> report.

Plain calls into the wings; every stage writes into one report directory:
  supernet/        the supernet run (checkpoint.pt, log.csv, records.json, tb/)
  winner/ uniform/ exported networks (arch.json, model.pt, model.onnx) after retraining
  search.json      every evaluated candidate: widths, FLOPs (MACs), score, generation
  result.json      the winner, its retrained test accuracy, the uniform baseline's
  search.png generations.png
A rerun with the same `out` resumes an unfinished supernet run and redoes the rest.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

from slimnas.data import Augment, to_float
from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.io import atomic_torch_save, atomic_write_json, load_checkpoint
from slimnas.retrain import retrain
from slimnas.width.checkpoint import export_width, load_supernet
from slimnas.width.context import has_test_split, load_split, load_test, make_space
from slimnas.width.export import load_exported
from slimnas.width.train import CHECKPOINT, train_supernet


def run(cfg: dict, progress: bool = True) -> dict:
    """Run the whole pipeline as `cfg` says; returns the content of result.json."""
    from slimnas.search.budget import Budget, check_feasible, parse_budget
    from slimnas.search.costs import flops_of
    from slimnas.search.evaluators import CachedEvaluator
    from slimnas.search.prior import PriorSampler
    from slimnas.search.searchers import get_searcher

    out = Path(cfg["out"])
    if (out / "result.json").exists():
        raise SlimnasError(f"{out} already holds a finished run; choose another out")
    s = cfg["search"]
    if s["init"] not in ("prior", "random"):
        raise SlimnasError(f"search.init must be prior or random, got {s['init']!r}")
    searcher = get_searcher(s["searcher"], **s["options"])  # fail on bad options before training
    space, _ = make_space(cfg, load_split(cfg)[0])
    model = cost_model(space.spec)

    def flops(w) -> int:
        return flops_of(space, w)

    budget = Budget(parse_budget(s["budget"], flops(space.max_widths())), tuple(s["window"]))
    check_feasible(space, budget)  # an impossible budget fails before any work

    # 1. supernet (resumes an interrupted run in the same report directory)
    sn_cfg = copy.deepcopy(cfg)
    sn_cfg["out"] = str(out / "supernet")
    ckpt = out / "supernet" / CHECKPOINT
    resume = ckpt.exists()
    if not (resume and load_checkpoint(ckpt)["epoch"] >= cfg["train"]["epochs"]):
        train_supernet(sn_cfg, resume=resume)
    loaded = load_supernet(ckpt)
    space = loaded.ctx.space

    # 2. the prior
    init = None
    if s["init"] == "prior":
        records = load_checkpoint(ckpt)["records"]
        init = PriorSampler(space, records, budget.flops, budget.window)

    # 3. search with the supernet evaluator (BN recalibration + held-out top-1)
    evaluator = CachedEvaluator(loaded.scorer, max_queries=s["queries"])
    result = searcher.search(space, evaluator, budget, random.Random(cfg["seed"]), init=init)
    history = [dict(h) for h in result.history]
    atomic_write_json(out / "search.json", {
        "budget_flops_macs": budget.flops, "window": list(budget.window),
        "searcher": s["searcher"], "init": s["init"], "queries": evaluator.queries,
        "candidates": history,
    })
    _plots(out, history, budget, result.best, flops(result.best))

    # 4. export the winner and the uniform baseline, retrain both with one recipe
    uniform = _uniform_widths(space, budget, flops)
    test = load_test(cfg)
    test_x = to_float(test.x, loaded.ctx.mean, loaded.ctx.std).to(loaded.ctx.device)
    test_y = test.y.to(loaded.ctx.device)
    nets = {}
    for name, widths in (("winner", result.best), ("uniform", uniform)):
        supernet_score = loaded.scorer.score(widths)
        export_width(loaded, widths, out / name, onnx=False)
        net = load_exported(out / name).to(loaded.ctx.device)
        r = cfg["retrain"]
        stats = retrain(net, loaded.ctx.train_x, loaded.ctx.train_y, test_x, test_y,
                        r["epochs"], r["batch_size"], r["lr"],
                        weight_decay=r["weight_decay"], seed=cfg["seed"],
                        augment=Augment(cfg["data"]["pad"], cfg["data"]["flip"]),
                        progress=progress)
        atomic_torch_save(net.cpu().state_dict(), out / name / "model.pt")  # retrained weights
        nets[name] = {"key": space.key(widths), "widths": list(widths),
                      "flops_macs": flops(widths), "params": model.params(
                          space.channels_of(widths)),
                      "supernet_score": supernet_score,
                      "test_top1_inherited": stats["held_out_top1_before"],
                      "test_top1_retrained": stats["held_out_top1"],
                      "retrain_history": stats["history"]}
    res = {"budget_flops_macs": budget.flops, "searcher": s["searcher"], "init": s["init"],
           "queries": evaluator.queries, "winner": nets["winner"], "uniform": nets["uniform"],
           "test_set": "the dataset's test split" if has_test_split(cfg["data"]) else
           f"{cfg['data']['test_fraction']} of the training data, never trained on or scored",
           "note": "FLOPs are multiply-accumulates (MACs) of convs + the final Linear"}
    atomic_write_json(out / "result.json", res)
    return res


def _uniform_widths(space, budget, flops) -> tuple[int, ...]:
    """Every group at the same bin count: the largest whose FLOPs fit the budget."""
    lo, hi = max(space.c_min), min(space.c_max)
    fits = [c for c in range(lo, hi + 1) if flops(space.uniform_widths(c)) <= budget.high]
    if not fits:
        raise SlimnasError("no uniform width fits the budget")
    return space.uniform_widths(max(fits))


def _plots(out: Path, history: list[dict], budget, best, best_flops: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([h["flops"] / 1e6 for h in history], [h["score"] for h in history], s=12,
               alpha=0.6, label="candidates")
    ax.axvline(budget.flops / 1e6, color="k", ls="--", label="budget")
    ax.axvspan(budget.low / 1e6, budget.high / 1e6, color="k", alpha=0.06, label="window")
    best_score = max(h["score"] for h in history if tuple(h["widths"]) == tuple(best))
    ax.scatter([best_flops / 1e6], [best_score], marker="*", s=200, color="C3", label="winner")
    ax.set_xlabel("MFLOPs (multiply-accumulates)")
    ax.set_ylabel("supernet score (held-out top-1 %)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "search.png", dpi=120)
    plt.close(fig)

    gens: dict[int, float] = {}
    for h in history:
        g = h.get("generation", 0)
        gens[g] = max(gens.get(g, float("-inf")), h["score"])
    xs = sorted(gens)
    running, ys = float("-inf"), []
    for g in xs:
        running = max(running, gens[g])
        ys.append(running)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, ys, marker="o")
    ax.set_xlabel("generation")
    ax.set_ylabel("best score so far (held-out top-1 %)")
    fig.tight_layout()
    fig.savefig(out / "generations.png", dpi=120)
    plt.close(fig)
