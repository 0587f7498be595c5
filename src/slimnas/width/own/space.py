"""`from_model`: a width space over a user's own CNN."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from slimnas.errors import SlimnasError
from slimnas.width.own.trace import trace_spec
from slimnas.width.space import WidthSpace


def from_model(model: nn.Module, example_input: torch.Tensor, bins: int = 4,
               min_bins: int = 1, *, ignore: Sequence[str] = (), round_to: int = 1,
               enlarge: bool = False, flops_bins: bool = False, flops_bins_min: int = 2,
               se: str = "follow", name: str = "own") -> WidthSpace:
    """A width space over `model`'s coupled channel groups (`model` is never changed).

    Each group of C channels gets `bins` bins of C / bins channels, a multiple of
    `round_to` (widths deployed as multiples of 8 or 16 run faster). `ignore`: module
    names (as in `named_modules()`) whose output channels stay at full width. `enlarge`:
    BCNetV2's wider supernet (what its `bcnetv2` rule needs). `se`: a squeeze-excitation's
    hidden width "follow"s the width it gates, scaled (its left-most ceil(w * hidden / C)
    channels), or is "search"ed as a group of its own. The space is checked by two forward
    passes, every group at its fewest and at its most bins."""
    if isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1:
        raise SlimnasError(f"round_to must be an integer >= 1, got {round_to!r}")
    if not isinstance(example_input, torch.Tensor) or example_input.ndim != 4:
        raise SlimnasError("example_input must be one (batch, channels, height, width) tensor")
    spec = trace_spec(model, example_input[:1], ignore, family=name,
                      options={"round_to": round_to, "ignore": list(ignore), "se": se}, se=se)
    if spec.num_groups == 0:
        raise SlimnasError("the model has no channel group slimnas can search; kept at full "
                           "width: " + "; ".join(spec.frozen))
    space = WidthSpace(spec, bins, min_bins, enlarge, flops_bins=flops_bins,
                       flops_bins_min=flops_bins_min, round_to=round_to)
    _check_forward(space, example_input[:1])
    return space


@torch.no_grad()
def _check_forward(space: WidthSpace, x: torch.Tensor) -> None:
    from slimnas.width.net import build_supernet, selections
    from slimnas.width.sharing.base import left_path

    supernet = build_supernet(space).eval()
    for widths in (space.min_widths(), space.max_widths()):
        try:
            out = supernet(x, selections(space, left_path(space, widths)))
        except Exception as e:
            raise SlimnasError(f"the model does not run at widths {space.key(widths)}: "
                               f"{type(e).__name__}: {' '.join(str(e).split())[:300]}") from None
        if out.shape != (1, space.spec.num_classes):
            raise SlimnasError(f"at widths {space.key(widths)} the model returns "
                               f"{tuple(out.shape)}, not (1, {space.spec.num_classes})")
