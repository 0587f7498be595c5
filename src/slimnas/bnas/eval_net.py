"""Evaluation networks built from a genotype: a BCNN (convolution cells from `normal`,
enhancement cells from `reduce`) or a DARTS stack, with drop-path."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from slimnas.bnas.bodies import BroadBody, DartsBody, default_reductions
from slimnas.bnas.genotype import Gene, Genotype
from slimnas.bnas.ops import drop_path, make_op, preprocess
from slimnas.errors import SlimnasError


class GenotypeCell(nn.Module):
    """Each node sums two ops of earlier states; the cell concatenates the `concat` nodes."""

    def __init__(self, gene: Gene, concat: tuple[int, ...], c_pp: int, c_p: int, channels: int,
                 reduction: bool, reduction_prev: bool, identity_pre: bool = False):
        super().__init__()
        self.pre0 = preprocess(c_pp, channels, reduction_prev, True, identity_pre)
        self.pre1 = preprocess(c_p, channels, False, True, identity_pre)
        self.inputs = [j for _, j in gene]
        self.ops = nn.ModuleList(make_op(name, channels, 2 if reduction and j < 2 else 1, True)
                                 for name, j in gene)
        self.concat = list(concat)
        self.out_channels = len(concat) * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for k in range(0, len(self.ops), 2):
            total = 0
            for op, j in ((self.ops[k], self.inputs[k]), (self.ops[k + 1], self.inputs[k + 1])):
                h = op(states[j])
                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                total = total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


@dataclass(frozen=True)
class EvalSpec:
    net: str = "bcnn"  # bcnn | darts
    in_channels: int = 1
    num_classes: int = 10
    channels: int = 16
    cells: int = 6
    reduction_at: tuple[int, ...] = field(default=())  # () = the net's default positions
    enhancement_cells: int = 2  # bcnn

    def reductions(self) -> list[int]:
        return sorted(self.reduction_at) if self.reduction_at else default_reductions(
            self.net, self.cells)


class EvalNetwork(nn.Module):
    """forward(x) -> logits. `drop_prob` (set by the trainer) applies in train mode only."""

    def __init__(self, spec: EvalSpec, genotype: Genotype):
        super().__init__()
        self.spec, self.genotype = spec, genotype
        self.drop_prob = 0.0

        def make_cell(kind, c_pp, c_p, c, reduction, reduction_prev, identity_pre):
            gene, concat = genotype.cell(kind)
            return GenotypeCell(gene, concat, c_pp, c_p, c, reduction, reduction_prev,
                                identity_pre)

        s = spec
        try:
            if s.net == "bcnn":
                self.body: nn.Module = BroadBody(make_cell, s.in_channels, s.num_classes,
                                                 s.channels, s.cells, s.reductions(),
                                                 s.enhancement_cells, affine=True,
                                                 layout="compact")
            elif s.net == "darts":
                self.body = DartsBody(make_cell, s.in_channels, s.num_classes, s.channels,
                                      s.cells, s.reductions(), affine=True)
            else:
                raise SlimnasError(f"unknown evaluation net {s.net!r} (bcnn or darts)")
        except ValueError as e:
            raise SlimnasError(f"cannot build the {s.net} evaluation net: {e}") from None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        drop = self.drop_prob if self.training else 0.0
        return self.body(x, lambda cell, s0, s1: cell(s0, s1, drop))

    def describe(self) -> dict:
        d = asdict(self.spec)
        d["reduction_at"] = self.spec.reductions()
        return d


def eval_spec_from(d: dict) -> EvalSpec:
    """An EvalSpec from `describe()`'s dict (SlimnasError on a malformed one)."""
    try:
        d = dict(d)
        d["reduction_at"] = tuple(d.get("reduction_at") or ())
        return EvalSpec(**d)
    except TypeError as e:
        raise SlimnasError(f"malformed evaluation network description: {e}") from None
