"""Working with a trained supernet checkpoint: reload it, score widths, export a width."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from slimnas.errors import SlimnasError
from slimnas.io import load_checkpoint
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


def load_supernet(path: str | Path, device: torch.device | None = None) -> LoadedSupernet:
    state = load_checkpoint(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SlimnasError(f"{path} is not a slimnas supernet checkpoint")
    cfg = state["config"]
    ctx = build_context(cfg, device)
    supernet = build_supernet(ctx.space).to(ctx.device)
    supernet.load_state_dict(state["model"])
    supernet.eval()
    scorer = WidthScorer(supernet, ctx.space, ctx.rule, ctx.recal_x, ctx.held_x, ctx.held_y,
                         cfg["score"]["recal_batches"], cfg["score"]["batch_size"])
    return LoadedSupernet(supernet, ctx, cfg, scorer)


def export_width(loaded: LoadedSupernet, widths: Sequence[int], out: str | Path,
                 side: str = "best", onnx: bool = True) -> Path:
    """Export one width: its best-scoring path (or `side`), BN recalibrated for that path."""
    from slimnas.width.export import export_path

    space, rule = loaded.ctx.space, loaded.ctx.rule
    widths = space.validate(widths)
    paths = {p.side: p for p in rule.paths(space, widths)}
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
             "data_stats": {"mean": loaded.ctx.mean, "std": loaded.ctx.std}}
    return export_path(loaded.supernet, space, loaded.cfg["rule"], path, out, extra, onnx)
