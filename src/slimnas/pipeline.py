"""The main job: train a supernet -> learn the prior -> search under a FLOPs budget ->
export the winner -> retrain it and the uniform-width baseline of the same budget -> report.

Plain calls into the wings; every stage writes into one report directory:
  run.json         the config the run was started with (a rerun must match it)
  supernet/        the supernet run (checkpoint.pt, log.csv, records.json, tb/)
  search.json      every evaluated candidate: widths, FLOPs (MACs), score, generation
  winner/ uniform/ exported networks (arch.json, model.pt with the retrained weights,
                   retrain.json), each built in a hidden directory and renamed into place
                   only when exported AND retrained
  result.json      the winner, its retrained test accuracy, the uniform baseline's, the config
  search.png generations.png
Every stage resumes: a rerun with the same `out` and the same settings keeps the finished
stages, resumes the supernet from its last checkpoint and redoes an unfinished search,
export or retraining from its start (each is deterministic, so the report is the same as an
uninterrupted run's). A rerun with other settings is refused, naming the differing keys.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import sys
from pathlib import Path
from typing import TextIO

from slimnas.config import check_config, differing_keys, with_defaults
from slimnas.data import Augment, has_test_split, load_split, load_test, to_float
from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.io import (
    atomic_torch_save,
    atomic_write_json,
    load_checkpoint,
    probe_writable,
    read_json,
)
from slimnas.retrain import retrain
from slimnas.runs import CHECKPOINT, torch_threads
from slimnas.width.checkpoint import export_width, load_supernet
from slimnas.width.context import make_space
from slimnas.width.export import load_exported
from slimnas.width.train import COSMETIC, train_supernet

FORMAT = "slimnas-run/1"
NETWORKS = ("winner", "uniform")


_STDERR = object()  # the default `log`: sys.stderr as it is when `run` is called


def run(cfg: dict, progress: bool = True, log: TextIO | None = _STDERR) -> dict:  # type: ignore[assignment]
    """Run (or resume) the whole pipeline as `cfg` says; returns the content of result.json.

    `log` gets one line per stage (None: silent; default: sys.stderr at call time)."""
    if log is _STDERR:
        log = sys.stderr
    check_config(cfg)
    with torch_threads(cfg["threads"]):
        return _run(cfg, progress, log)


def _run(cfg: dict, progress: bool, log: TextIO | None) -> dict:
    from slimnas.search.budget import Budget, check_feasible, parse_cost_budget
    from slimnas.search.costs import flops_of
    from slimnas.search.searchers import get_searcher

    def say(line: str) -> None:
        if log is not None:
            print(f"slimnas run: {line}", file=log, flush=True)

    out = Path(cfg["out"])
    s = cfg["search"]
    searcher = get_searcher(s["searcher"], **s["options"])  # fail on bad options before training
    if s["init"] == "prior" and cfg["train"]["records"] < 1:
        raise SlimnasError("search.init prior learns from the supernet's loss records: "
                           "train.records must be >= 1 (or use search.init random)")
    if getattr(searcher, "needs_prior", False) and s["init"] != "prior":
        raise SlimnasError("search.options.mutation prior redraws genes from the learned prior: "
                           "it needs search.init prior (or use mutation uniform)")
    space, _ = make_space(cfg, load_split(cfg)[0])

    def flops(w) -> int:
        return flops_of(space, w)

    cost = search_cost(cfg, space)  # a latency table that does not fit fails here
    budget = Budget(parse_cost_budget(s["budget"], cost.of(space, space.max_widths()), cost),
                    tuple(s["window"]), cost)
    check_feasible(space, budget)  # an impossible budget fails before any work
    _start_or_resume(out, cfg)
    if (out / "result.json").is_file():
        say(f"every stage finished earlier; report: {out / 'result.json'}")
        return read_json(out / "result.json")

    # 1. supernet (resumes an interrupted run in the same report directory)
    sn_cfg = copy.deepcopy(cfg)
    sn_cfg["out"] = str(out / "supernet")
    ckpt = out / "supernet" / CHECKPOINT
    state = load_checkpoint(ckpt) if ckpt.exists() else None
    epochs = cfg["train"]["epochs"]
    if state is not None and state["epoch"] >= epochs:
        say(f"[1/4] supernet: finished earlier, kept ({ckpt})")
    else:
        say(f"[1/4] supernet: {cfg['rule']} on {cfg['model'] or cfg['space']['name']}, {epochs} epochs"
            + (f", resuming at step {state['global_step']}" if state else "")
            + f" -> {out / 'supernet'}")
        train_supernet(sn_cfg, resume=state is not None)
    del state
    loaded = load_supernet(ckpt, model=cfg["model"])
    space = loaded.ctx.space

    # 2. the prior, then the search with the supernet evaluator
    search = _search_stage(out, cfg, loaded, searcher, budget, flops, ckpt, progress, say)
    best = space.validate(search["winner"]["widths"])

    # 3-4. export the winner and the uniform baseline, retrain both with one recipe
    uniform = _uniform_widths(space, budget, lambda w: budget.of(space, w))
    nets = {}
    for i, (name, widths) in enumerate(zip(NETWORKS, (best, uniform), strict=True), 3):
        nets[name] = _network_stage(out, name, widths, cfg, loaded, flops, progress,
                                    lambda line, i=i: say(f"[{i}/4] {line}"), budget.cost)
    res = {**_budget_fields(budget), "searcher": s["searcher"], "init": s["init"],
           "queries": search["queries"], "winner": nets["winner"], "uniform": nets["uniform"],
           "test_set": "the dataset's test split" if has_test_split(cfg["data"]) else
           f"{cfg['data']['test_fraction']} of the training data, never trained on or scored",
           "note": "FLOPs are multiply-accumulates (MACs) of convs + the final Linear",
           "config": cfg}
    atomic_write_json(out / "result.json", res)
    return res


def _start_or_resume(out: Path, cfg: dict) -> None:
    """Write run.json in a new (or empty) `out`, or check a rerun's settings against it."""
    manifest = out / "run.json"
    if manifest.is_file():
        old = read_json(manifest)
        if not isinstance(old, dict) or old.get("format") != FORMAT:
            raise SlimnasError(f"{manifest} is not a slimnas run manifest; choose another out")
        # compared as stored: JSON has lists where a caller's dict may hold tuples; keys
        # added since the run was made take their defaults (the values it ran with)
        diff = differing_keys(json.loads(json.dumps(with_defaults(old["config"]))),
                              json.loads(json.dumps(cfg)), ignore=COSMETIC)
        if diff:
            raise SlimnasError(f"{out} holds a run made with other settings: "
                               f"{', '.join(diff)} differ; rerun with its settings or choose "
                               "another out")
        probe_writable(out)
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SlimnasError(f"{out} already exists and holds no slimnas run; choose another out")
    probe_writable(out)
    atomic_write_json(manifest, {"format": FORMAT, "config": cfg})


def _search_stage(out: Path, cfg: dict, loaded, searcher, budget, flops, ckpt: Path,
                  progress: bool, say) -> dict:
    """The content of search.json: read back when the stage finished earlier."""
    from tqdm import tqdm

    from slimnas.search.evaluators import CachedEvaluator

    s, space = cfg["search"], loaded.ctx.space
    if (out / "search.json").is_file():
        say("[2/4] search: finished earlier, kept (search.json)")
        return read_json(out / "search.json")
    say(f"[2/4] search: {s['searcher']} from a {s['init']} initial population, "
        f"{s['queries']} widths scored in the supernet, budget {budget.describe()}")
    init = None
    if s["init"] == "prior":
        init = prior_sampler(cfg, space, load_checkpoint(ckpt)["records"], budget)
    bar = tqdm(total=s["queries"], desc="search (widths scored)", leave=False,
               disable=not progress)
    evaluator = CachedEvaluator(_Counted(loaded.scorer, bar), max_queries=s["queries"])
    result = searcher.search(space, evaluator, budget, random.Random(cfg["seed"]), init=init)
    bar.close()
    history = [_cost_named(h, budget.cost, space) for h in result.history]
    best = tuple(result.best)
    winner = {"key": space.key(best), "widths": list(best), "flops_macs": flops(best)}
    if budget.cost.name != "macs":
        winner[budget.cost.field] = budget.of(space, best)
    search = {
        **_budget_fields(budget), "window": list(budget.window),
        "searcher": s["searcher"], "init": s["init"], "queries": evaluator.queries,
        "winner": winner, "candidates": history,
    }
    atomic_write_json(out / "search.json", search)
    _plots(out, history, budget, best)
    return search


def search_cost(cfg: dict, space):
    """The cost a run's budget counts (search.cost): MACs, params, or the predicted latency
    of search.latency_table, refused unless it was measured for this space and threads."""
    from slimnas.search.costs import MACS, PARAMS

    s = cfg["search"]
    if s["cost"] == "macs":
        return MACS
    if s["cost"] == "params":
        return PARAMS
    from slimnas.latency import LatencyCost, check_table, load_table

    if not s["latency_table"]:
        raise SlimnasError("search.cost latency needs search.latency_table: a table made by "
                           "`slimnas latency build` for this space")
    table = load_table(s["latency_table"])
    check_table(table, space, cfg["threads"], source=s["latency_table"])
    return LatencyCost(table, space)


def _budget_fields(budget) -> dict:
    """The budget as the JSON states it: budget_flops_macs, budget_params or
    budget_latency_ms_predicted, and the cost's name."""
    return {f"budget_{budget.cost.field}": budget.flops, "cost": budget.cost.name}


def prior_sampler(cfg: dict, space, records, budget):
    """The learned prior of a run: `cfg`'s search.prior options (lam, target, lr, steps,
    init), its random init seeded with the run's seed, sampling into `budget`'s window."""
    from slimnas.search.prior import PriorSampler

    return PriorSampler(space, records, budget.flops, budget.window, **cfg["search"]["prior"],
                        seed=cfg["seed"], cost=budget.cost)


class _Counted:
    """A scorer that advances a progress bar at every real (uncached) query."""

    def __init__(self, inner, bar):
        self.inner, self.bar = inner, bar

    def score(self, widths) -> float:
        value = self.inner.score(widths)
        self.bar.update(1)
        return value


def _cost_named(h: dict, cost, space) -> dict:
    """A search-history row with its cost named as what it is (flops_macs, params,
    latency_ms_predicted); MACs are always given."""
    from slimnas.search.costs import flops_of

    row = dict(h)
    if "flops" in row:
        row[cost.field] = row.pop("flops")
    if "flops_macs" not in row:
        row["flops_macs"] = flops_of(space, row["widths"])
    return row


def _network_stage(out: Path, name: str, widths, cfg: dict, loaded, flops, progress: bool,
                   say, cost=None) -> dict:
    """Export `widths` and retrain it into `out/name`; the directory appears complete or not
    at all, so an interrupted stage is redone from its start on the next run."""
    space = loaded.ctx.space
    key = space.key(widths)
    done = out / name
    if (done / "retrain.json").is_file():
        say(f"{name} {key}: exported and retrained earlier, kept ({done})")
        return read_json(done / "retrain.json")
    if done.exists():
        raise SlimnasError(f"{done} exists but holds no finished network; move it away")
    work = out / f".{name}.partial"
    shutil.rmtree(work, ignore_errors=True)  # an interrupted attempt: redo it from the start
    work.mkdir(parents=True)
    r = cfg["retrain"]
    say(f"{name} {key}: exporting from the supernet")
    supernet_score = loaded.scorer.score(widths)
    export_width(loaded, widths, work / "net", onnx=False)
    # a user's model is rebuilt from the traced instance (the same class), never by name
    net = load_exported(work / "net", model=getattr(space.spec, "model", None))
    net = net.to(loaded.ctx.device)
    say(f"{name} {key}: retraining {r['epochs']} epochs")
    test = load_test(cfg)
    test_x = to_float(test.x, loaded.ctx.mean, loaded.ctx.std).to(loaded.ctx.device)
    stats = retrain(net, loaded.ctx.train_x, loaded.ctx.train_y, test_x,
                    test.y.to(loaded.ctx.device), r["epochs"], r["batch_size"], r["lr"],
                    weight_decay=r["weight_decay"], seed=cfg["seed"],
                    augment=Augment(cfg["data"]["pad"], cfg["data"]["flip"]),
                    progress=progress, label=f"retrain {name} {key}")
    atomic_torch_save(net.cpu().state_dict(), work / "net" / "model.pt")  # retrained weights
    model = cost_model(space.spec)
    info = {"key": key, "widths": list(widths), "flops_macs": flops(widths),
            "params": model.params(space.channels_of(widths)),
            **_latency_fields(cost, space, widths, net),
            "supernet_score": supernet_score,
            "test_top1_inherited": stats["held_out_top1_before"],
            "test_top1_retrained": stats["held_out_top1"],
            "retrain_history": stats["history"]}
    atomic_write_json(work / "net" / "retrain.json", info)
    os.replace(work / "net", done)
    work.rmdir()
    return info


def _latency_fields(cost, space, widths, net) -> dict:
    """With a latency budget: the table's prediction and the exported network measured as
    the table was (its batch, threads and device)."""
    if cost is None or cost.name != "latency":
        return {}
    import torch

    from slimnas.latency import measure
    from slimnas.runs import torch_threads

    t = cost.table
    spec = space.spec
    with torch_threads(t["threads"]):
        measured = measure(copy.deepcopy(net).cpu() if t["machine"]["device"] == "cpu"
                           else copy.deepcopy(net), (spec.in_channels, spec.input_size,
                                                     spec.input_size),
                           t["batch"], t["threads"], torch.device(t["machine"]["device"]),
                           t["min_run_time"])
    return {"latency_ms_predicted": cost.of(space, widths), "latency_ms_measured": measured}


def _uniform_widths(space, budget, flops) -> tuple[int, ...]:
    """Every group at the same bin count: the largest whose FLOPs fit the budget."""
    lo, hi = max(space.c_min), min(space.c_max)
    fits = [c for c in range(lo, hi + 1) if flops(space.uniform_widths(c)) <= budget.high]
    if not fits:
        raise SlimnasError("no uniform width fits the budget")
    return space.uniform_widths(max(fits))


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (cost, score) points no other point beats on both (lower cost, higher score),
    by increasing cost."""
    front: list[tuple[float, float]] = []
    for c, v in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or v > front[-1][1]:
            front.append((c, v))
    return front


def _plots(out: Path, history: list[dict], budget, best) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cost = budget.cost
    scale, xlabel = {"macs": (1e6, "MFLOPs (multiply-accumulates)"),
                     "params": (1e6, "M params"),
                     "latency": (1.0, "predicted latency (ms per batch, the table's)")
                     }[cost.name]
    xs = [h[cost.field] / scale for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(xs, [h["score"] for h in history], s=12, alpha=0.6, label="candidates")
    front = pareto_front(list(zip(xs, [h["score"] for h in history], strict=True)))
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="C2", lw=1,
            label="Pareto front")
    ax.axvline(budget.flops / scale, color="k", ls="--", label="budget")
    ax.axvspan(budget.low / scale, budget.high / scale, color="k", alpha=0.06, label="window")
    best_row = next(h for h in history if tuple(h["widths"]) == tuple(best))
    ax.scatter([best_row[cost.field] / scale], [best_row["score"]], marker="*", s=200,
               color="C3", label="winner")
    ax.set_xlabel(xlabel)
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
