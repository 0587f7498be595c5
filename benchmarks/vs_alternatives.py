"""Does the search pay? slimnas' searched widths against what a user gets otherwise, end to end.

Fashion-MNIST (Debian's dataset-fashion-mnist), the Channel-Bench-Macro MobileNet space at
0.25x widths (28x28x1; 7 groups x 4 widths, 10.8M MACs at full width: the benchmark behind
the papers, and ~500 img/s full-width training on 2 CPU cores, fast enough for ~50
trainings). One split for every seed: a 35,000-image training subset (subset_seed 0) of
which 5,000 are held out for supernet scoring (held_out_seed 0) and 30,000 train every
network; the full 10,000-image test split scores every final network. Seeds 0/1/2 change
initialisation, data order, augmentation, widths and searches. Budgets 0.3 and 0.5 of the
full width's MACs, window [0.9, 1.0] x budget for every method.

A width of the space trained from scratch (search-scratch, random, greedy, full) is
trained exactly as `slimnas bench build --space cbm-mobilenet --option width_mult=0.25
--data fashion-mnist --train-size 35000 --held-out 5000 --seed 0 --epochs 8
--batch-size 128 --flip` trains run S of that key (`bench.build.train_width`), so these
runs are entries of such a ground truth too.

Methods (each ends in the same training recipe: SGD + Nesterov 0.9, cosine, weight decay
5e-4 on weights, batch 128, EPOCHS epochs, pad-2 crops + flips; from scratch at lr 0.05,
fine-tuning at lr 0.005 for the same epochs):
  search-scratch   bcnetv2 supernet (complementary pairs) -> prior -> evolution (60
                   queries) -> the winner trained from scratch
  search-finetune  the same winner, fine-tuned from its inherited supernet weights
  uniform          one multiplier for every group at channel level, the widest in the window
  tp-l1-local      Torch-Pruning L1-magnitude pruning (per layer) of the full-width network
  tp-l1-global     ... (global ranking), both from the full-width network trained with the
                   recipe, then fine-tuned
  tp-scratch       tp-l1-global's architecture trained from scratch
  random           one random width of the window (seeded)
  greedy           AutoSlim's greedy slimming on an autoslim supernet (configs/autoslim.yaml
                   recipe: UA + sandwich + in-place distillation)
  full             the full-width network (the reference TP prunes; not a method)
MACs come from slimnas' closed form for every network (pruned ones traced), params from
the networks. Each method's own cost is counted in process CPU seconds: supernet + search
for the search methods, full-width training + pruning for TP, the search (if any) for
greedy and random; the final training is the same recipe for everyone and counted apart.

Resumable: every finished unit (supernet, search, network) is kept under --dir and never
redone; an interrupted supernet resumes; an interrupted network restarts. The default --dir
is inside the repository (benchmarks/results/vs_alternatives_runs/, a few MB: unit JSONs,
the full-width weights TP prunes, and each finished supernet without its optimiser state)
so that the study, which outlives a session, is committed as it grows and continues on
the next machine. Every unit records the machine it ran on (CPU seconds and bits are
per machine). Results go to benchmarks/results/vs_alternatives.json (+ .png) after every
finished network.

    python benchmarks/vs_alternatives.py [--dir DIR] [--seeds 0,1,2]
    python benchmarks/vs_alternatives.py --report   # rewrite JSON + PNG from what is done
    python benchmarks/vs_alternatives.py --smoke --seeds 0 --dir /tmp/va --out /tmp/va.json
"""

from __future__ import annotations

import argparse
import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from slimnas.io import atomic_torch_save, atomic_write_json, load_checkpoint, read_json

SPACE = {"name": "cbm-mobilenet", "width_mult": 0.25, "input_size": 28, "in_channels": 1}
BUDGETS = (0.3, 0.5)
WINDOW = (0.9, 1.0)
EPOCHS = 8
BATCH = 128
LR, FT_LR = 0.05, 0.005
SUPERNET_EPOCHS = 8
QUERIES = 60
SUBSET, HELD_OUT = 35000, 5000
METHODS = ("search-scratch", "search-finetune", "uniform", "tp-l1-local", "tp-l1-global",
           "tp-scratch", "random", "greedy")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def machine() -> dict:
    from slimnas.latency import cpu_identity, cpu_model

    return {"platform": platform.platform(), "cpu": cpu_model(), "cpu_id": cpu_identity(),
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def unit_machine() -> dict:
    """What a unit's record says of where it ran."""
    m = machine()
    return {"cpu": m["cpu"], "cpu_id": m["cpu_id"], "threads": m["threads"],
            "torch": m["torch"]}


def base_config(args, seed: int, out: Path, rule: str = "bcnetv2", **train) -> dict:
    from slimnas.config import load_config

    cfg = load_config(None, [])
    cfg.update({"seed": seed, "out": str(out), "rule": rule, "space": dict(SPACE),
                "complementary": rule == "bcnetv2", "bins": 4, "min_bins": 1})
    cfg["data"].update({"name": "fashion-mnist", "root": args.root, "held_out": HELD_OUT,
                        "held_out_seed": 0, "subset": SUBSET, "subset_seed": 0, "pad": 2,
                        "flip": True})
    cfg["train"].update({"epochs": SUPERNET_EPOCHS, "batch_size": BATCH, "lr": 0.1,
                         "eval_every": 0, "progress": False, "tensorboard": False, **train})
    cfg["score"].update({"recal_batches": 20, "batch_size": 128})
    cfg["search"].update({"window": list(WINDOW), "queries": QUERIES})
    return cfg


class ReplayScorer:
    """A supernet scorer whose scores are kept in `file` as they come: a search killed
    part-way and run again with its seed asks for the same widths in the same order, and
    gets the kept scores at once (a score is a deterministic function of the supernet and
    the widths), so it resumes where it stopped. `earlier_cpu_s`: the CPU seconds the
    kept scores cost."""

    def __init__(self, inner, file: Path):
        self.inner, self.file = inner, Path(file)
        kept = read_json(self.file) if self.file.is_file() else {}
        self.scores = dict(kept.get("scores", {}))
        self.earlier_cpu_s = float(kept.get("cpu_s", 0.0))
        self._cpu = self.earlier_cpu_s
        self.replayed = 0

    def score(self, widths) -> float:
        key = ",".join(str(int(v)) for v in widths)
        if key in self.scores:
            self.replayed += 1
            return self.scores[key]
        c0 = cpu_seconds()
        value = self.inner.score(widths)
        self._cpu += cpu_seconds() - c0
        self.scores[key] = value
        atomic_write_json(self.file, {"scores": self.scores, "cpu_s": self._cpu})
        return value


class Seed:
    """Everything of one seed: data, supernets, searches, networks (each unit kept on disk)."""

    def __init__(self, args, seed: int):
        self.args, self.seed = args, seed
        self.dir = Path(args.dir) / f"seed-{seed}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ctx = self._test = None
        self._loaded: dict = {}

    # --- data ------------------------------------------------------------------------
    def ctx(self):
        """The seed's training part (30,000 images) and the full test split, normalised."""
        if self._ctx is None:
            from slimnas.data import load_test, to_float
            from slimnas.width.context import build_context

            cfg = base_config(self.args, self.seed, self.dir / "data")
            self._ctx = build_context(cfg, torch.device("cpu"))
            test = load_test(cfg)
            self._test = (to_float(test.x, self._ctx.mean, self._ctx.std), test.y)
        return self._ctx

    # --- supernets and searches -------------------------------------------------------
    def supernet(self, kind: str):
        """'bcnetv2' or 'autoslim', trained (or resumed) once; (loaded, cpu seconds)."""
        from slimnas.runs import CHECKPOINT
        from slimnas.width.checkpoint import load_supernet
        from slimnas.width.train import train_supernet

        if kind in self._loaded:
            return self._loaded[kind]
        out = self.dir / f"supernet-{kind}"
        train = {"sandwich": True, "inplace_distill": True} if kind == "autoslim" else {}
        cfg = base_config(self.args, self.seed, out, "ua" if kind == "autoslim" else "bcnetv2",
                          **train)
        cost_file = out / "cpu_seconds.json"
        ckpt = out / CHECKPOINT
        if not cost_file.is_file():
            state = load_checkpoint(ckpt) if ckpt.is_file() else None
            log(f"seed {self.seed}: supernet {kind} ({'resume' if state else 'start'})")
            c0, w0 = cpu_seconds(), time.perf_counter()
            summary = train_supernet(cfg, resume=state is not None)
            cpu, wall = cpu_seconds() - c0, time.perf_counter() - w0
            total_wall = summary["history"][-1]["seconds"]  # carried across a resume
            # a resumed run's earlier part: its wall time at this part's CPU/wall ratio
            spent = cpu if state is None else total_wall * cpu / max(wall, 1e-9)
            # finished: what scoring, export and the prior need, without the optimiser's
            # state (halves what the repository keeps)
            final = load_checkpoint(ckpt)
            atomic_torch_save({k: v for k, v in final.items()
                               if k not in ("optimizer", "scheduler")}, ckpt)
            atomic_write_json(cost_file, {"cpu_s": spent, "resumed": state is not None,
                                          "wall_s": total_wall,
                                          "compute_macs": summary["compute_macs"],
                                          "machine": unit_machine()})
            log(f"seed {self.seed}: supernet {kind} done, {spent:.0f} CPU s")
        loaded = load_supernet(ckpt)
        self._loaded[kind] = (loaded, read_json(cost_file)["cpu_s"])
        return self._loaded[kind]

    def search(self, kind: str, budget_frac: float, queries: int = QUERIES) -> dict:
        """The evolution (bcnetv2, prior init; `queries` supernet scores) or greedy
        (autoslim) search at a budget."""
        from slimnas.pipeline import prior_sampler
        from slimnas.search.budget import Budget
        from slimnas.search.costs import flops_of
        from slimnas.search.evaluators import CachedEvaluator
        from slimnas.search.searchers import get_searcher

        tag = "" if queries == QUERIES or kind != "evolution" else f"-q{queries}"
        out = self.dir / f"search-{kind}{tag}-{budget_frac}.json"
        if out.is_file():
            return read_json(out)
        loaded, _ = self.supernet("bcnetv2" if kind == "evolution" else "autoslim")
        space = loaded.ctx.space
        budget = Budget(round(budget_frac * flops_of(space, space.max_widths())), WINDOW)
        log(f"seed {self.seed}: {kind}{tag} search at {budget_frac}")
        c0 = cpu_seconds()
        init = None
        if kind == "evolution":
            init = prior_sampler(loaded.cfg, space, load_checkpoint(
                self.dir / "supernet-bcnetv2" / "checkpoint.pt")["records"], budget)
        scorer = ReplayScorer(loaded.scorer, out.with_suffix(".scores.json"))
        evaluator = CachedEvaluator(scorer, max_queries=queries if kind == "evolution"
                                    else None)
        result = get_searcher(kind).search(space, evaluator, budget, random.Random(self.seed),
                                           init=init)
        best, note = tuple(result.best), "the searcher's winner"
        if not budget.legal(flops_of(space, best)):  # greedy may step below the window
            legal = [h for h in result.history if budget.legal(h["flops"])]
            if legal:
                top = max(legal, key=lambda h: h["score"])
                best = tuple(top["widths"])
                note = ("greedy's result left the window; the best-scoring in-window width "
                        "it evaluated on its way")
            else:
                note = "greedy's result left the window and it evaluated no in-window width"
        res = {"widths": list(best), "key": space.key(best), "flops_macs": flops_of(space, best),
               "budget_macs": budget.flops, "queries": evaluator.queries, "note": note,
               "cpu_s": cpu_seconds() - c0 + scorer.earlier_cpu_s, "replayed": scorer.replayed,
               "machine": unit_machine()}
        atomic_write_json(out, res)
        return res

    # --- networks -----------------------------------------------------------------------
    def inherited(self, widths):
        """The bcnetv2 supernet's exported path at `widths`: inherited weights, BN
        recalibrated for that path."""
        import tempfile

        from slimnas.width.checkpoint import export_width
        from slimnas.width.export import load_exported

        loaded, _ = self.supernet("bcnetv2")
        with tempfile.TemporaryDirectory() as tmp:
            export_width(loaded, widths, Path(tmp) / "net", onnx=False)
            return load_exported(Path(tmp) / "net")

    def scratch(self, widths) -> tuple:
        """A width trained from scratch as `bench build` run `seed` trains it: (the trained
        network, its record)."""
        from slimnas.bench.build import train_width
        from slimnas.width.spaces import get_space

        ctx = self.ctx()
        wspace = get_space(SPACE["name"], bins=4, min_bins=1, num_classes=10,
                           **{k: v for k, v in SPACE.items() if k != "name"})
        key = wspace.key(widths)
        nets: list = []
        c0 = cpu_seconds()
        top1 = train_width(wspace, key, self.seed, 0, (ctx.train_x, ctx.train_y) + self._test,
                           EPOCHS, BATCH, LR, 5e-4, 2, True, torch.device("cpu"), nets)
        net = nets[0]
        return net, {"widths": list(widths), "key": key, "test_top1": top1,
                     "train_cpu_s": cpu_seconds() - c0,
                     "params": sum(p.numel() for p in net.parameters())}

    def train(self, name: str, net, lr: float) -> dict:
        """Train `net` with the recipe on the seed's 30,000 images; test on 10,000."""
        from slimnas.data import Augment
        from slimnas.retrain import retrain

        ctx = self.ctx()
        test_x, test_y = self._test
        c0 = cpu_seconds()
        stats = retrain(net, ctx.train_x, ctx.train_y, test_x, test_y, EPOCHS, BATCH, lr,
                        weight_decay=5e-4, seed=self.seed, augment=Augment(2, True),
                        eval_each_epoch=False, measure_before=False, label=name)
        return {"test_top1": stats["held_out_top1"], "train_cpu_s": cpu_seconds() - c0,
                "params": sum(p.numel() for p in net.parameters())}

    def network(self, name: str, build, budget=None, keep_weights: bool = False,
                then_report: bool = True) -> dict:
        """A finished network's record, or build + train + record it (atomically; with
        `keep_weights` its trained weights are saved first, as NAME.pt; `then_report`
        rewrites the study's JSON and PNG)."""
        out = self.dir / f"{name}.json"
        if out.is_file():
            return read_json(out)
        log(f"seed {self.seed}: {name}")
        net, lr, info = build()
        if lr is not None:  # (None: `build` trained it already)
            info.update(self.train(name, net, lr))
        info["macs"] = self.macs(net)
        if budget is not None:
            info.update(budget_macs=budget.flops, macs_fraction=info["macs"] / budget.flops,
                        in_window=budget.low <= info["macs"] <= budget.high)
        info["machine"] = unit_machine()
        if keep_weights:
            atomic_torch_save(net.state_dict(), self.dir / f"{name}.pt")
        atomic_write_json(out, info)
        log(f"seed {self.seed}: {name} -> {info['test_top1']:.2f} % at {info['macs']:,} MACs")
        if then_report:
            report(self.args)
        return info

    def macs(self, net) -> int:
        from slimnas.baselines import closed_form_macs

        return closed_form_macs(net, torch.zeros(1, SPACE["in_channels"], SPACE["input_size"],
                                                 SPACE["input_size"]))

    def full_net(self):
        """The full-width network trained with the recipe (kept: TP prunes it)."""
        loaded, _ = self.supernet("bcnetv2")
        space = loaded.ctx.space
        built: list = []

        def build():
            net, info = self.scratch(space.max_widths())
            built.append(net)
            return net, None, info
        info = self.network("full", build, keep_weights=True)
        if built:
            return built[0], info
        from slimnas.width.net import WidthNet

        net = WidthNet(space.spec, space.channels_of(space.max_widths()), dynamic=False)
        net.load_state_dict(torch.load(self.dir / "full.pt", weights_only=True))
        return net, info

    def run(self, budget_frac: float) -> None:
        """Every method at one budget; a unit (supernet, search, full-width net) is made
        only when a network that is not done yet needs it."""
        from slimnas.baselines import reinitialised, tp_prune, widest_uniform
        from slimnas.search.budget import Budget
        from slimnas.search.costs import flops_of
        from slimnas.search.sampling import LegalSampler
        from slimnas.width.spaces import get_space

        space = get_space(SPACE["name"], bins=4, min_bins=1, num_classes=10,
                          **{k: v for k, v in SPACE.items() if k != "name"})
        budget = Budget(round(budget_frac * flops_of(space, space.max_widths())), WINDOW)
        example = torch.zeros(1, SPACE["in_channels"], SPACE["input_size"], SPACE["input_size"])
        b = f"b{budget_frac}"

        def scratch(widths, **extra):
            net, info = self.scratch(widths)
            return net, None, {**info, **extra}

        def searched(kind: str) -> tuple:
            """(the search's record, the method's cost: its supernet + its search)."""
            found = self.search(kind, budget_frac)
            _, sn_cpu = self.supernet("bcnetv2" if kind == "evolution" else "autoslim")
            return found, {"supernet_cpu_s": sn_cpu, "search_cpu_s": found["cpu_s"]}

        def search_scratch():
            found, cost = searched("evolution")
            return scratch(found["widths"], **cost)
        self.network(f"{b}-search-scratch", search_scratch, budget)

        def search_finetune():
            found, cost = searched("evolution")
            return self.inherited(found["widths"]), FT_LR, {"widths": found["widths"], **cost}
        self.network(f"{b}-search-finetune", search_finetune, budget)

        def uniform():
            full, _ = self.full_net()
            c0 = cpu_seconds()
            net, mult, _ = widest_uniform(full, example, budget.low, budget.high)
            return reinitialised(net, self.seed), LR, {"multiplier": mult,
                                                       "method_cpu_s": cpu_seconds() - c0}
        self.network(f"{b}-uniform", uniform, budget)

        for scope in ("local", "global"):
            def prune(scope=scope):
                full, info = self.full_net()
                c0 = cpu_seconds()
                net, ratio, _ = tp_prune(full, example, budget.low, budget.high,
                                         global_pruning=scope == "global")
                return net, FT_LR, {"pruning_ratio": ratio, "full_top1": info["test_top1"],
                                    "full_train_cpu_s": info["train_cpu_s"],
                                    "prune_cpu_s": cpu_seconds() - c0}
            self.network(f"{b}-tp-l1-{scope}", prune, budget)

        def tp_scratch():
            full, _ = self.full_net()
            net, ratio, _ = tp_prune(full, example, budget.low, budget.high, global_pruning=True)
            return reinitialised(net, self.seed), LR, {"pruning_ratio": ratio}
        self.network(f"{b}-tp-scratch", tp_scratch, budget)

        self.network(f"{b}-random", lambda: scratch(
            LegalSampler(space, budget).sample(random.Random(self.seed), 1)[0]), budget)

        def greedy():
            found, cost = searched("greedy")
            return scratch(found["widths"], note=found["note"], **cost)
        self.network(f"{b}-greedy", greedy, budget)


def import_results(args, file: str) -> None:
    """Seed --dir with the networks a results JSON already reports (a study that began on
    another machine, whose work directory is gone): each run's record as it was, with
    the machine that file names; units already in --dir are kept."""
    res = read_json(file)
    n = 0
    for frac, b in res["budgets"].items():
        for method, m in b["methods"].items():
            for r in m["runs"]:
                seed = r["seed"]
                out = Path(args.dir) / f"seed-{seed}" / f"b{frac}-{method}.json"
                if out.is_file():
                    continue
                rec = {k: v for k, v in r.items() if k != "seed"}
                rec.setdefault("machine", {"cpu": res["machine"]["cpu"],
                                           "threads": res["machine"]["threads"],
                                           "torch": res["machine"]["torch"]})
                rec.setdefault("imported_from", str(file))
                atomic_write_json(out, rec)
                n += 1
    log(f"imported {n} finished networks from {file}")


def method_cost(name: str, r: dict, units: dict | None = None) -> float | None:
    """The method's own CPU seconds (its final training excluded). `tp-scratch`'s
    architecture is tp-l1-global's, so it costs what that one's pruning did (the same
    seed's unit in `units`, {method: [records with "seed"]})."""
    if name == "tp-scratch":
        twin = [u for u in (units or {}).get("tp-l1-global", []) if u["seed"] == r["seed"]]
        return method_cost("tp-l1-global", twin[0]) if twin else None
    if name.startswith("search") or name == "greedy":
        return r.get("supernet_cpu_s", 0) + r.get("search_cpu_s", 0)
    if name.startswith("tp-l1"):
        return r.get("full_train_cpu_s", 0) + r.get("prune_cpu_s", 0)
    if name == "uniform":
        return r.get("method_cpu_s", 0)
    return 0.0


def report(args) -> dict:
    """Gather every finished network under --dir into the JSON and the PNG."""
    out = {"benchmark": "vs_alternatives", "machine": machine(),
           "machines_note": "the study spans sessions and so machines: every run names its "
                            "own (runs[].machine); CPU seconds compare only on one machine",
           "space": SPACE,
           "data": "Fashion-MNIST: 30,000 training images per seed (35,000-image subset, "
                   "5,000 held out for supernet scoring), the full 10,000-image test split",
           "recipe": {"epochs": EPOCHS, "batch": BATCH, "lr_scratch": LR, "lr_finetune": FT_LR,
                      "schedule": "cosine per step, SGD Nesterov 0.9, wd 5e-4 on weights",
                      "augment": "random crop (pad 2) + horizontal flip",
                      "supernet_epochs": SUPERNET_EPOCHS, "search_queries": QUERIES},
           "window": list(WINDOW), "budgets": {}}
    seeds = sorted(int(d.name.split("-")[1]) for d in Path(args.dir).glob("seed-*"))
    done = {}
    for seed in seeds:
        for f in (Path(args.dir) / f"seed-{seed}").glob("b*-*.json"):
            if f.name.endswith("-done.json"):
                continue
            frac, method = f.stem[1:].split("-", 1)
            done.setdefault(frac, {}).setdefault(method, []).append({"seed": seed,
                                                                     **read_json(f)})
    for frac in map(str, BUDGETS):
        summary = {}
        for m in METHODS:
            rs = sorted(done.get(frac, {}).get(m, []), key=lambda r: r["seed"])
            if not rs:
                continue
            acc = [r["test_top1"] for r in rs]
            summary[m] = {
                "seeds": [r["seed"] for r in rs], "test_top1": acc,
                "mean": statistics.fmean(acc),
                "std": statistics.stdev(acc) if len(acc) > 1 else None,
                "macs": [r["macs"] for r in rs], "params": [r["params"] for r in rs],
                "in_window": [r["in_window"] for r in rs],
                "method_cpu_s": [method_cost(m, r, done.get(frac, {})) for r in rs],
                "train_cpu_s": [r["train_cpu_s"] for r in rs], "runs": rs}
        budget_macs = next((v["runs"][0]["budget_macs"] for v in summary.values()), None)
        for v in summary.values():
            v["machines"] = [r.get("machine", {}).get("cpu") for r in v["runs"]]
        out["budgets"][frac] = {"budget_macs": budget_macs, "methods": summary}
    done = {s: None for s in seeds}
    full = [read_json(Path(args.dir) / f"seed-{s}" / "full.json") for s in sorted(done)
            if (Path(args.dir) / f"seed-{s}" / "full.json").is_file()]
    if full:
        acc = [f["test_top1"] for f in full]
        out["full_width"] = {"test_top1": acc, "mean": statistics.fmean(acc),
                             "machines": [f.get("machine", {}).get("cpu") for f in full],
                             "macs": full[0]["macs"], "params": full[0]["params"]}
    compare(out)
    path = Path(args.out)
    atomic_write_json(path, out)
    plot(out, path.with_suffix(".png"))
    return out


BASELINES = ("uniform", "tp-l1-local", "tp-l1-global", "tp-scratch", "random", "greedy")


def compare(out: dict) -> None:
    """Per budget: search-scratch minus each other method, paired by seed (one seed shares the
    data split and recipe), with a 95 % t-interval of the mean difference; the issue's target
    (>= 0.5 points over uniform and every TP variant, the worst search seed above their best);
    and the headroom (full width minus uniform: what any width choice could win at most,
    short of beating the full-width network)."""
    from scipy import stats

    full = out.get("full_width")
    for b in out["budgets"].values():
        ms = b["methods"]
        if "search-scratch" not in ms:
            continue
        ours = dict(zip(ms["search-scratch"]["seeds"], ms["search-scratch"]["test_top1"],
                        strict=True))
        rows = {}
        for m in ("search-finetune", *BASELINES):
            if m not in ms:
                continue
            theirs = dict(zip(ms[m]["seeds"], ms[m]["test_top1"], strict=True))
            seeds = sorted(set(ours) & set(theirs))
            d = [ours[s] - theirs[s] for s in seeds]
            row = {"seeds": seeds, "paired_differences": d,
                   "mean": statistics.fmean(d) if d else None}
            if len(d) > 1:
                sd = statistics.stdev(d)
                half = stats.t.ppf(0.975, len(d) - 1) * sd / len(d) ** 0.5
                row.update(std=sd, interval_95=[row["mean"] - half, row["mean"] + half],
                           decided=bool(row["mean"] - half > 0 or row["mean"] + half < 0))
            rows[m] = row
        target = ("uniform", "tp-l1-local", "tp-l1-global", "tp-scratch")
        met = all(m in rows and rows[m]["mean"] is not None and rows[m]["mean"] >= 0.5
                  and min(ours.values()) > max(ms[m]["test_top1"]) for m in target)
        b["search_scratch_vs"] = rows
        b["target_met"] = met
        b["complete"] = all(m in ms and len(ms[m]["test_top1"]) == 3
                            for m in ("search-scratch", "search-finetune", *BASELINES))
        if full and "uniform" in ms:
            b["headroom_full_minus_uniform"] = full["mean"] - ms["uniform"]["mean"]


def plot(res: dict, file: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(BUDGETS), figsize=(6 * len(BUDGETS), 4.5))
    for ax, frac in zip(axes, BUDGETS, strict=True):
        methods = res["budgets"].get(str(frac), {}).get("methods", {})
        for i, (m, s) in enumerate(methods.items()):
            x = statistics.fmean(s["macs"]) / 1e6
            ax.errorbar([x], [s["mean"]], yerr=[s["std"] or 0], fmt="o", capsize=4,
                        color=f"C{i}", label=f"{m} (n={len(s['test_top1'])})")
        ax.set_title(f"budget {frac} x full MACs, window {WINDOW[0]}-{WINDOW[1]}")
        ax.set_xlabel("MMACs (slimnas closed form)")
        ax.set_ylabel("test top-1 % (Fashion-MNIST, 10k)")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:  # one legend under both panels, where it hides no point
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1 if handles else 0, 1, 1))
    fig.savefig(file, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="benchmarks/results/vs_alternatives_runs")
    ap.add_argument("--root", default=None, help="Fashion-MNIST IDX directory")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/vs_alternatives.json")
    ap.add_argument("--report", action="store_true", help="only rewrite the JSON and PNG")
    ap.add_argument("--import-results", metavar="JSON",
                    help="first seed --dir with the finished networks of a results JSON")
    ap.add_argument("--smoke", action="store_true",
                    help="a minutes-long check of every stage (tiny data, 1 epoch)")
    args = ap.parse_args()
    if args.smoke:
        global EPOCHS, SUPERNET_EPOCHS, QUERIES, SUBSET, HELD_OUT
        EPOCHS, SUPERNET_EPOCHS, QUERIES, SUBSET, HELD_OUT = 1, 1, 8, 3000, 500
    torch.set_num_threads(args.threads)
    if args.import_results:
        import_results(args, args.import_results)
    if not args.report:
        for seed in (int(s) for s in args.seeds.split(",") if s):
            s = Seed(args, seed)
            for frac in BUDGETS:
                s.run(frac)
    res = report(args)
    print(markdown(res))


def markdown(res: dict) -> str:
    """The README's table: per method and budget, test top-1 per seed, mean +- std, MACs,
    and search-scratch's paired difference to it."""
    fracs = list(res["budgets"])
    head = "| method | " + " | ".join(
        f"budget {f}: top-1 per seed | mean +- std | MMACs | search-scratch minus it "
        "(95 % interval)" for f in fracs) + " |"
    lines = [head, "|---|" + "---|---|---|---|" * len(fracs)]
    for m in METHODS:
        cells = []
        for f in fracs:
            b = res["budgets"][f]
            v = b["methods"].get(m)
            if v is None:
                cells += ["-"] * 4
                continue
            per = ", ".join(f"{a:.2f}" for a in v["test_top1"])
            std = "" if v["std"] is None else f" +- {v['std']:.2f}"
            d = b.get("search_scratch_vs", {}).get(m)
            diff = "-"
            if d and d.get("mean") is not None:
                diff = f"{d['mean']:+.2f}"
                if "interval_95" in d:
                    lo, hi = d["interval_95"]
                    diff += f" ({lo:+.2f}, {hi:+.2f})"
            cells += [per, f"{v['mean']:.2f}{std}",
                      f"{statistics.fmean(v['macs']) / 1e6:.2f}", diff]
        lines.append(f"| `{m}` | " + " | ".join(cells) + " |")
    full = res.get("full_width")
    if full:
        lines.append(f"\nfull width ({full['macs'] / 1e6:.2f} MMACs): "
                     + ", ".join(f"{a:.2f}" for a in full["test_top1"]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
