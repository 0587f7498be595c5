"""Working with a trained supernet checkpoint: reload it, score widths, export a width."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from slimnas.config import with_defaults
from slimnas.errors import SlimnasError
from slimnas.io import atomic_write_json, load_checkpoint, read_json
from slimnas.width.context import Context, build_context
from slimnas.width.evaluate import WidthScorer, recalibrate_bn
from slimnas.width.net import WidthNet, build_supernet, selections
from slimnas.width.train import FORMAT


@dataclass
class LoadedSupernet:
    supernet: WidthNet
    ctx: Context
    cfg: dict
    scorer: WidthScorer


def load_supernet(path: str | Path, device: torch.device | None = None,
                  recal_batches: int | None = None,
                  rule_options: dict | None = None, model: str | None = None) -> LoadedSupernet:
    """Reload a supernet checkpoint for scoring and export.

    `recal_batches` and `rule_options` override the training config's scoring settings:
    only a rule's `scoring_options` may change (e.g. CafeNet's candidates), never what
    the weights were trained with. `model`: the user's model the checkpoint was trained
    on, if any ("zoo:NAME" or "package.module:factory"), named by the caller.
    """
    state = load_checkpoint(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SlimnasError(f"{path} is not a slimnas supernet checkpoint")
    cfg = with_defaults(state["config"])  # checkpoints of older versions lack newer keys
    _check_model(path, cfg.get("model"), model)
    if recal_batches is not None:
        if recal_batches < 1:
            raise SlimnasError(f"recal_batches must be >= 1, got {recal_batches}")
        cfg["score"]["recal_batches"] = recal_batches
    if rule_options:
        from slimnas.width.sharing import get_rule

        allowed = get_rule(cfg["rule"], **cfg["rule_options"]).scoring_options
        for key in rule_options:
            if key not in allowed:
                raise SlimnasError(
                    f"rule {cfg['rule']!r}: {key!r} cannot change after training "
                    f"(scoring options: {', '.join(allowed) or 'none'})")
        cfg["rule_options"] = {**cfg["rule_options"], **rule_options}
    ctx = build_context(cfg, device)
    _check_space(path, state.get("space"), ctx.space)
    supernet = build_supernet(ctx.space).to(ctx.device)
    supernet.load_state_dict(state["model"])
    supernet.eval()
    scorer = WidthScorer(supernet, ctx.space, ctx.rule, ctx.recal_x, ctx.held_x, ctx.held_y,
                         cfg["score"]["recal_batches"], cfg["score"]["batch_size"],
                         recal_y=ctx.recal_y)
    return LoadedSupernet(supernet, ctx, cfg, scorer)


def _check_space(path, stored: dict | None, space) -> None:
    """The space rebuilt from the checkpoint's config must be the one it was trained on
    (older checkpoints' descriptions lack round_to: theirs is 1)."""
    if not isinstance(stored, dict):
        return
    trained = stored.get("round_to", 1)
    if trained != space.round_to:
        raise SlimnasError(f"{path} was trained on a space with round_to {trained!r}, its "
                           f"config rebuilds round_to {space.round_to}: refusing to load it")


def _check_model(path, stored: str | None, given: str | None) -> None:
    """A checkpoint of a user's model names it but is never what imports it: the caller
    names the same model (`model=` in the config, on the CLI and here)."""
    if stored == given:
        return
    if stored is None:
        raise SlimnasError(f"{path} is a supernet of the built-in space, not of model {given!r}")
    raise SlimnasError(f"{path} is a supernet of the model {stored!r}: pass model={stored} "
                       f"(--model on the command line)"
                       + ("" if given is None else f", not {given!r}"))


def export_width(loaded: LoadedSupernet, widths: Sequence[int], out: str | Path,
                 side: str = "best", onnx: bool = True) -> Path:
    """Export one width: its best-scoring path (or `side`), BN recalibrated for that path."""
    from slimnas.width.export import export_path

    space, rule = loaded.ctx.space, loaded.ctx.rule
    widths = space.validate(widths)
    paths = {p.side: p for p in loaded.scorer.chosen_paths(widths)}  # min-min: best candidate
    scores = loaded.scorer.score_paths(widths)
    if side == "best":
        chosen = max(paths, key=lambda s: (scores[s], s == "left"))
        why = "best held-out score" if len(paths) > 1 else "the rule's only path"
    elif side in paths:
        chosen, why = side, "chosen by the user"
    else:
        raise SlimnasError(f"rule {loaded.cfg['rule']} has paths {sorted(paths)}, not {side!r}")
    path = paths[chosen]
    sels = selections(space, path)
    recalibrate_bn(loaded.supernet, sels, loaded.scorer.recal)  # the path's own BN statistics
    extra = {"path_scores": scores, "path_choice": why, "score": scores[chosen],
             "bins_used": [list(b) for b in path.bins],
             "data_stats": {"mean": loaded.ctx.mean, "std": loaded.ctx.std}}
    if rule.minmin:  # the rule's own account of the candidate it chose
        info = loaded.scorer.choice_info(widths)
        reason = rule.choice_reason(info)
        if reason and side == "best":
            extra["path_choice"] = reason
        extra["minmin"] = info
    return export_path(loaded.supernet, space, loaded.cfg["rule"], path, out, extra, onnx)


MAX_ALL = 100_000  # `--all` enumerates the space: refuse spaces too large to score


def read_width_keys(path: str | Path, space) -> list[tuple[int, ...]]:
    """Width vectors from a JSON list (or object: its keys) or a text file, one key a line."""
    path = Path(path)
    if not path.is_file():
        raise SlimnasError(f"no such file: {path}")
    text = path.read_text()
    try:
        raw = json.loads(text)
        keys = list(raw) if isinstance(raw, dict | list) else [raw]  # a lone key parses too
    except json.JSONDecodeError:
        keys = [line.strip() for line in text.splitlines() if line.strip()]
    if not keys:
        raise SlimnasError(f"{path}: expected a JSON list of width keys or one key a line")
    return list(dict.fromkeys(space.parse(k) for k in keys))  # de-duplicated, in order


def score_widths(loaded: LoadedSupernet, widths: Sequence[Sequence[int]], out: str | Path,
                 progress: bool = True, save_every: int = 50) -> dict[str, float]:
    """Score every width vector; write {key: score} to `out` atomically.

    Partial results go to `<out>.partial` every `save_every` widths, and a rerun with the
    same `out` continues from there, so a killed run loses at most `save_every` scores.
    """
    from tqdm import tqdm

    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    space = loaded.ctx.space
    scores: dict[str, float] = {}
    if partial.is_file():
        scores = {k: float(v) for k, v in read_json(partial).items()}
    todo = [w for w in widths if space.key(w) not in scores]
    for i, w in enumerate(tqdm(todo, desc="scoring", disable=not progress), 1):
        scores[space.key(w)] = loaded.scorer.score(w)
        if i % save_every == 0:
            atomic_write_json(partial, scores)
    result = {space.key(w): scores[space.key(w)] for w in widths}
    atomic_write_json(out, result)
    partial.unlink(missing_ok=True)
    return result
