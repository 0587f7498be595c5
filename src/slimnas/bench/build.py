"""Build a width benchmark on your own data: train N architectures stand-alone, K seeds each.

`slimnas bench build` picks N width vectors of a space stratified over FLOPs (the space,
or a large seeded sample of it, sorted by FLOPs and cut into N equal-count strata, one
seeded pick per stratum), trains each from scratch K times with one recipe, and writes a
file in the Channel-Bench-Macro format: {key: {"acc": [...], "mean", "std", "flops",
"params"}} (FLOPs = MACs; std with ddof 1, as the published files).

`<out>.meta.json` (written before any training, so a partial build has it too) records
the space family, its options, bins and the recipe: every bench command given `--file
<out>` reads the keys, FLOPs and params with that space, and a search on it considers only
the built architectures. `<out>` itself stays {key: entry}.

Resumable: every finished (architecture, seed) run goes to `<out>.partial` at once (with
the recipe, so a resume with different settings is refused), and `<out>` is rewritten after
every completed architecture. A killed build reruns with the same command and loses at most
the run in progress; finished entries are never retrained.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from slimnas.bench.cbm import META_FORMAT, meta_path
from slimnas.errors import SlimnasError
from slimnas.io import atomic_write_json, probe_writable, read_json

FORMAT = "slimnas-bench-build/1"
SAMPLE_LIMIT = 100_000  # spaces up to this size are enumerated, larger ones sampled


def stratified_archs(space, n: int, seed: int) -> list[tuple[int, ...]]:
    """n distinct width vectors spread over the FLOPs range (one per equal-count stratum)."""
    from slimnas.search.costs import all_widths_array, flops_batch

    if n < 1:
        raise SlimnasError(f"--archs must be >= 1, got {n}")
    rng = random.Random(f"{seed}:bench-build")
    grid = all_widths_array(space, SAMPLE_LIMIT)
    if grid is None:  # too large to enumerate: a seeded uniform sample
        nrng = np.random.default_rng(rng.getrandbits(63))
        lo, hi = np.asarray(space.c_min), np.asarray(space.c_max)
        grid = np.unique(nrng.integers(lo, hi + 1, size=(SAMPLE_LIMIT, len(lo))), axis=0)
    if n > len(grid):
        raise SlimnasError(f"--archs {n} exceeds the {len(grid)} architectures of the space")
    flops = flops_batch(space, grid)
    order = np.lexsort((np.arange(len(grid)), flops))  # by FLOPs, stable
    picks = [int(stratum[rng.randrange(len(stratum))])
             for stratum in np.array_split(order, n)]
    return [tuple(int(v) for v in grid[i]) for i in picks]


def bench_meta(space: str, options: dict, bins: int, recipe: dict) -> dict:
    """The `<out>.meta.json` record of a built benchmark (see `slimnas.bench.cbm`)."""
    return {"format": META_FORMAT, "space": space, "options": dict(options), "bins": bins,
            "min_bins": 1, "flops": "multiply-accumulates (MACs)", "recipe": recipe}


def _entry(accs: list[float], flops: int, params: int,
           machines: list[str | None] | None = None) -> dict:
    out = {"acc": accs, "mean": statistics.fmean(accs),
           "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
           "flops": int(flops), "params": int(params)}
    if machines and any(machines):  # where each run was trained (None: not recorded)
        out["machines"] = machines
    return out


def run_machine(device, threads: int) -> str:
    """Where a run is trained, in one line: CPU model and fingerprint, torch, the thread
    count and the device (runs are bit-exact only on one machine and thread count)."""
    from slimnas.latency import machine

    m = machine(device)
    return (f"{m['cpu']} ({m['cpu_id']}); torch {m['torch']}; {threads} thread(s); "
            f"{m.get('gpu', m['device'])}")


def build_benchmark(space: str, options: dict, archs: int | None, seeds: int, data: str,
                    out: str | Path, root: str | None = None, bins: int = 4,
                    epochs: int = 3, batch_size: int = 64, lr: float = 0.05,
                    weight_decay: float = 5e-4, train_size: int | None = None,
                    test_size: int | None = None, pad: int = 2, flip: bool = False,
                    seed: int = 0, device: str = "auto", progress: bool = True,
                    jobs: int = 1, log=sys.stderr, held_out: int | None = None,
                    keys_file: str | Path | None = None,
                    known_runs: dict | None = None, channels_last: bool = False) -> dict:
    """Train and write the benchmark; returns {"out", "archs", "runs_done", "runs_trained"}.

    The architectures: `archs` FLOPs-stratified picks and/or the width keys listed in
    `keys_file` (a JSON list or one key a line). A build grows: rerun with more keys, a
    larger `archs` or more `seeds` and otherwise the same recipe, and only the missing runs
    are trained (finished entries are kept; an entry gains its new seeds when they are all
    done). Any other setting that differs is refused, naming it.

    `known_runs` ({key: {run number: top-1 %}}): runs of this build's keys already trained
    elsewhere with `train_width` under exactly this recipe (same data, seed, epochs, ...),
    taken as they are instead of being trained again (the caller vouches for the recipe).

    `held_out`: leave out that many training images, drawn with `seed` exactly as a
    supernet config with data.subset = train_size, data.held_out = held_out and
    data.held_out_seed = seed holds them out, so the benchmark trains on the supernets'
    training images and never on the ones they are scored on.

    `jobs` > 1 trains that many runs at once, each in its own process with one torch
    thread (a run's result depends only on its seed and the thread count, so a build with
    jobs=N gives the same numbers as jobs=1 in a one-thread process).

    Each entry of `out` gains "machines": the machine of each run (`run_machine`; None for
    a run taken from `known_runs` or trained before this was recorded).

    `channels_last`: train in the channels-last memory format (`retrain`'s option; faster on
    CPU, numbers equal to the default's only to float rounding), part of the recipe."""
    from slimnas.data import channel_stats, to_float
    from slimnas.flops import cost_model
    from slimnas.runs import resolve_device
    from slimnas.width.spaces import get_space

    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    if archs is None and keys_file is None:
        raise SlimnasError("give --archs N (FLOPs-stratified picks), --keys FILE, or both")
    _check_arguments(out, partial, seeds=seeds, epochs=epochs, batch_size=batch_size,
                     bins=bins, jobs=jobs, lr=lr, archs=1 if archs is None else archs)

    train, test = _load_data(data, root, train_size, test_size, seed, held_out)
    _, c, h, _ = train.x.shape
    opts = {"in_channels": c, "input_size": h, "num_classes": train.num_classes, **options}
    wspace = get_space(space, bins=bins, min_bins=1, **opts)
    model = cost_model(wspace.spec)

    recipe = {"format": FORMAT, "space": space, "options": opts, "bins": bins,
              "archs": archs, "seeds": seeds, "data": data, "root": root,
              "epochs": epochs, "batch_size": batch_size, "lr": lr,
              "weight_decay": weight_decay, "train_size": len(train), "test_size": len(test),
              "pad": pad, "flip": flip, "seed": seed}
    if held_out is not None:  # (absent otherwise: earlier partial builds stay resumable)
        recipe["held_out"] = held_out
    if channels_last:  # (likewise)
        recipe["channels_last"] = True
    wanted = [] if archs is None else [wspace.key(w) for w in
                                       stratified_archs(wspace, archs, seed)]
    if keys_file is not None:
        from slimnas.width.checkpoint import read_width_keys

        wanted += [wspace.key(w) for w in read_width_keys(keys_file, wspace)]
    keys, runs, kept, machines = _start_or_resume(out, partial, recipe)
    keys = list(dict.fromkeys([*keys, *wanted]))
    for key, known in (known_runs or {}).items():
        if key in keys:
            for s, top1 in known.items():
                if int(s) < seeds:
                    runs.setdefault(key, {}).setdefault(str(int(s)), float(top1))
    seeds = max([seeds, *(len(r) for r in runs.values())])
    recipe.update(archs=len(keys), seeds=seeds)
    # before any training, and again on a resume (the recipe is the same): a partial
    # <out> is always readable with its space
    atomic_write_json(meta_path(out), bench_meta(space, opts, bins, recipe))
    state = {"recipe": recipe, "keys": keys, "runs": runs, "machines": machines}
    atomic_write_json(partial, state)

    dev = resolve_device(device)
    mean, std = channel_stats(train)
    tensors = tuple(t.to(dev) for t in (to_float(train.x, mean, std), train.y,
                                        to_float(test.x, mean, std), test.y))
    todo = [(k, s) for k in keys for s in range(seeds) if str(s) not in runs.get(k, {})]
    done_before = len(keys) * seeds - len(todo)
    if done_before:
        print(f"resuming {partial}: {done_before} of {len(keys) * seeds} runs done",
              file=log)

    import torch

    where = run_machine(dev, 1 if _pooled(jobs, len(todo)) else torch.get_num_threads())
    t0 = time.perf_counter()
    job = _Job(wspace, seed, tensors, epochs, batch_size, lr, weight_decay, pad, flip, dev,
               channels_last)
    with _bar(len(keys) * seeds, done_before, progress) as bar:
        for key, s, top1 in _run_all(job, todo, jobs):
            runs.setdefault(key, {})[str(s)] = top1
            machines.setdefault(key, {})[str(s)] = where
            atomic_write_json(partial, state)
            if len(runs[key]) == seeds:  # an architecture is done: into <out> at once
                _write_entries(out, keys, runs, seeds, wspace, model, kept, machines)
            bar.update(1)
            bar.set_postfix(arch=key, top1=f"{top1:.2f}")
    entries = _write_entries(out, keys, runs, seeds, wspace, model, kept, machines)
    partial.unlink(missing_ok=True)
    flops = [e["flops"] for e in entries.values()]
    return {"out": str(out), "archs": len(keys), "seeds": seeds,
            "runs_trained": len(todo), "runs_done": len(keys) * seeds,
            "seconds": round(time.perf_counter() - t0, 1),
            "flops_range_macs": [min(flops), max(flops)],
            "note": "FLOPs are MACs; acc = top-1 % on the test split"}


def _bar(total: int, initial: int, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="bench build", disable=not progress)


def _load_data(data: str, root: str | None, train_size: int | None, test_size: int | None,
               seed: int, held_out: int | None = None):
    """(training images, test images): the training part as a supernet config with
    data.subset = train_size (and data.held_out = held_out, data.held_out_seed = seed:
    without the held-out images) sees it; `test_size` images of the test part."""
    from slimnas.config import load_config
    from slimnas.data import load_parts, split_held_out, train_and_test

    cfg = load_config(None, [])
    cfg["seed"] = seed
    cfg["data"].update({"name": data, "root": root, "subset": train_size})
    if held_out is not None:
        if held_out < 1:
            raise SlimnasError(f"--held-out must be >= 1, got {held_out}")
        cfg["data"].update({"held_out": held_out, "held_out_seed": seed})
        train, _, test = load_parts(cfg)
    else:
        train, test = train_and_test(cfg)
    if test_size is not None and test_size < len(test):
        _, test = split_held_out(test, int(test_size), seed)
    return train, test


def _check_arguments(out: Path, partial: Path, lr: float, **counts: int) -> None:
    for name, v in counts.items():
        if v < 1:
            raise SlimnasError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if not out.parent.is_dir():
        raise SlimnasError(f"no such directory: {out.parent}")
    probe_writable(out.parent)
    if not isinstance(lr, int | float) or isinstance(lr, bool) or not lr > 0:
        raise SlimnasError(f"--lr must be > 0, got {lr!r}")


GROWABLE = ("archs", "seeds")  # may grow between runs of one build; the rest may not


def _start_or_resume(out: Path, partial: Path,
                     recipe: dict) -> tuple[list[str], dict, dict, dict]:
    """(architecture keys, finished runs, entries of <out> to keep until regrown, the
    machine of each run where recorded) of the build at `out`: an unfinished one
    (<out>.partial), a finished one (<out> and its meta, when the recipe is the same but for
    GROWABLE), or a new one."""
    if partial.exists():
        state = read_json(partial)
        if not isinstance(state, dict) or state.get("recipe", {}).get("format") != FORMAT:
            raise SlimnasError(f"{partial} is not a slimnas bench build in progress")
        _same_recipe(partial, state["recipe"], recipe)
        kept = read_json(out) if out.is_file() else {}
        return state["keys"], state["runs"], kept, state.get("machines", {})
    if not out.exists():
        return [], {}, {}, {}
    meta = read_json(meta_path(out)) if meta_path(out).is_file() else None
    old = meta.get("recipe") if isinstance(meta, dict) else None
    if not isinstance(old, dict) or old.get("format") != FORMAT:
        raise SlimnasError(f"{out} already exists and is no slimnas bench build to grow; "
                           "choose another --out")
    _same_recipe(out, old, recipe)
    entries = read_json(out)
    runs = {k: {str(s): a for s, a in enumerate(e["acc"])} for k, e in entries.items()}
    machines = {k: {str(s): m for s, m in enumerate(e["machines"]) if m}
                for k, e in entries.items() if e.get("machines")}
    return list(entries), runs, entries, machines


def _same_recipe(where: Path, old: dict, recipe: dict) -> None:
    for key in dict.fromkeys([*recipe, *old]):  # a setting either side lacks differs too
        value = recipe.get(key)
        if key not in GROWABLE and old.get(key) != value:
            raise SlimnasError(f"{where}: this build was made with {key}={old.get(key)!r}, "
                               f"not {value!r}; only --archs, --keys and --seeds may grow it")


def _write_entries(out: Path, keys: list[str], runs: dict, seeds: int, wspace, model,
                   kept: dict | None = None, machines: dict | None = None) -> dict:
    """Write every architecture whose seeds are all trained to `out` (one still growing
    keeps its entry from before, in `kept`), each run's machine beside its top-1 where
    recorded; returns the entries."""
    entries = {}
    for k in keys:
        accs = runs.get(k, {})
        if len(accs) == seeds:
            ch = wspace.channels_of(wspace.parse(k))
            where = (machines or {}).get(k, {})
            entries[k] = _entry([accs[str(s)] for s in range(seeds)], model.macs(ch),
                                model.params(ch), [where.get(str(s)) for s in range(seeds)])
        elif kept and k in kept:
            entries[k] = kept[k]
    atomic_write_json(out, entries)
    return entries


@dataclass(frozen=True)
class _Job:
    """Everything one (architecture, seed) run needs; picklable for the worker processes."""

    wspace: Any
    seed: int
    tensors: tuple  # train_x, train_y, test_x, test_y
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    pad: int
    flip: bool
    device: Any
    channels_last: bool = False

    def run(self, key: str, s: int) -> float:
        return train_width(self.wspace, key, s, self.seed, self.tensors, self.epochs,
                           self.batch_size, self.lr, self.weight_decay, self.pad, self.flip,
                           self.device, channels_last=self.channels_last)


def train_width(wspace, key: str, s: int, seed: int, tensors, epochs: int, batch_size: int,
                lr: float, weight_decay: float, pad: int, flip: bool, device,
                net_out: list | None = None, channels_last: bool = False) -> float:
    """One benchmark run: the width `key` of `wspace` built fresh (seeded by `seed`, the
    key and the run number `s`) and trained with the recipe; test top-1 %. `tensors`:
    (train_x, train_y, test_x, test_y), normalised. Whoever trains a width this way gets
    exactly a `bench build` entry's run (`net_out` receives the trained network)."""
    import torch

    from slimnas.data import Augment
    from slimnas.retrain import retrain
    from slimnas.runs import derived_seed
    from slimnas.width.net import WidthNet

    widths = wspace.parse(key)
    run_seed = derived_seed(seed, "bench-build", key, s)
    torch.manual_seed(run_seed)
    net = WidthNet(wspace.spec, wspace.channels_of(widths), dynamic=False)
    tensors = (t.to(device) for t in tensors)
    stats = retrain(net.to(device), *tensors, epochs, batch_size, lr,
                    weight_decay=weight_decay, seed=run_seed, augment=Augment(pad, flip),
                    eval_each_epoch=False, measure_before=False,
                    label=f"bench build run {key} seed {s}", lr_name="--lr",
                    channels_last=channels_last)
    if net_out is not None:
        net_out.append(net)
    return float(stats["held_out_top1"])


_WORKER_JOB: _Job | None = None


def _worker_init(job: _Job) -> None:
    global _WORKER_JOB
    import torch

    torch.set_num_threads(1)
    _WORKER_JOB = job


def _worker_run(key: str, s: int) -> tuple[str, int, float]:
    assert _WORKER_JOB is not None
    return key, s, _WORKER_JOB.run(key, s)


def _pooled(jobs: int, runs: int) -> bool:
    """Whether `runs` runs go to a pool of single-thread worker processes."""
    return jobs > 1 and runs > 1


def _run_all(job: _Job, todo: list[tuple[str, int]], jobs: int):
    """Yield (key, seed, top-1) as runs finish: in order in this process, or from a pool of
    `jobs` spawned processes (a failed run stops the build; finished runs are kept)."""
    if not _pooled(jobs, len(todo)):
        for key, s in todo:
            yield key, s, job.run(key, s)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if job.device.type != "cpu":  # CUDA tensors do not cross a spawn; workers copy back
        job = replace(job, tensors=tuple(t.cpu() for t in job.tensors))
    with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=mp.get_context("spawn"),
                             initializer=_worker_init, initargs=(job,)) as pool:
        pending = {pool.submit(_worker_run, key, s) for key, s in todo}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()
