"""Continuous relaxation of a cell: MixedOp (optionally on partial channels) and SearchCell
(optionally with edge normalisation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from slimnas.bnas.genotype import num_edges
from slimnas.bnas.ops import PRIMITIVES, make_op, preprocess, shuffle_concat

Parts = tuple[torch.Tensor, torch.Tensor | None]


def split_channels(x: torch.Tensor, width: int, stride: int) -> Parts:
    """(the first `width` channels, the rest bypassed) or (x, None) when width is all.

    The bypass is the identity, or a 2x2 max-pool at stride 2. A cell splits each state once
    for all the edges leaving it (they share the same channels and stride), so backward
    keeps one pooled bypass per state, not one per edge.
    """
    if width == x.shape[1]:
        return x, None
    rest = x[:, width:]
    if stride == 2:
        rest = F.max_pool2d(rest, 2, 2, ceil_mode=True)
    return x[:, :width], rest


class MixedOp(nn.Module):
    """sum_o w_o * o(x) over the primitives.

    With `partial` K > 1 (PC-DARTS) only the first C / K channels go through the ops; the
    rest bypass them (identity, or a 2x2 max-pool at stride 2), are concatenated back, and
    the channels are shuffled in K groups. K = 1 is the plain MixedOp. `none` contributes
    exactly zero to the output and to every gradient, so it is left out of the sum.
    """

    def __init__(self, channels: int, stride: int, partial: int = 1):
        super().__init__()
        if partial < 1 or channels % partial:
            raise ValueError(f"partial_channels {partial} must divide the {channels} channels")
        self.partial = partial
        self.width = channels // partial
        self.ops = nn.ModuleList(make_op(p, self.width, stride, affine=False)
                                 for p in PRIMITIVES)
        self.stride = stride
        self._live = [k for k, p in enumerate(PRIMITIVES) if p != "none"]

    def forward(self, x: torch.Tensor, weights: torch.Tensor,
                scale: torch.Tensor | None = None) -> torch.Tensor:
        return self.mix(split_channels(x, self.width, self.stride), weights, scale)

    def mix(self, parts: Parts, weights: torch.Tensor,
            scale: torch.Tensor | None = None) -> torch.Tensor:
        """The edge's output from its input's `split_channels` (with this edge's stride),
        times `scale` if given."""
        part, rest = parts
        if scale is not None:  # folded into the op weights: no extra tensor kept for backward
            weights = weights * scale
        mixed = sum(weights[k] * self.ops[k](part) for k in self._live)
        if rest is None:
            return mixed
        if scale is not None:
            rest = scale * rest
        return shuffle_concat(mixed, rest, self.partial)


class SearchCell(nn.Module):
    """A DARTS cell of MixedOps: inputs s0, s1 -> `nodes` nodes -> concat of all nodes.

    `reduction`: the edges from the two inputs stride 2. `reduction_prev`: s0 is at twice
    s1's resolution (factorized reduction). `identity_pre`: no 1x1 adapter on an input that
    already has `channels` channels (the BCNN enhancement cells' side-projected inputs).
    """

    def __init__(self, nodes: int, c_pp: int, c_p: int, channels: int, reduction: bool,
                 reduction_prev: bool, partial: int = 1, identity_pre: bool = False):
        super().__init__()
        self.nodes, self.reduction = nodes, reduction
        self.width = channels // partial
        self.pre0 = preprocess(c_pp, channels, reduction_prev, False, identity_pre)
        self.pre1 = preprocess(c_p, channels, False, False, identity_pre)
        self.edges = nn.ModuleList()
        for i in range(nodes):
            for j in range(i + 2):
                stride = 2 if reduction and j < 2 else 1
                self.edges.append(MixedOp(channels, stride, partial))
        self.out_channels = nodes * channels

    def node(self, i: int, states: list[torch.Tensor], weights: torch.Tensor,
             edge_weights: torch.Tensor | None = None,
             parts: list[Parts] | None = None) -> torch.Tensor:
        """Node i+2 from the earlier states: sum_j [beta_ij *] MixedOp_ij(states[j])."""
        parts = parts or [self._split(j, s) for j, s in enumerate(states)]
        start = num_edges(i)
        out = 0
        for j in range(i + 2):
            e = start + j
            out = out + self.edges[e].mix(parts[j], weights[e],
                                          None if edge_weights is None else edge_weights[e])
        return out

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                edge_weights: torch.Tensor | None = None) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        parts = [self._split(j, s) for j, s in enumerate(states)]
        for i in range(self.nodes):
            states.append(self.node(i, states, weights, edge_weights, parts))
            parts.append(self._split(i + 2, states[-1]))
        return torch.cat(states[2:], dim=1)

    def _split(self, j: int, state: torch.Tensor) -> Parts:
        return split_channels(state, self.width, 2 if self.reduction and j < 2 else 1)


def edge_softmax(betas: torch.Tensor, nodes: int) -> torch.Tensor:
    """Edge normalisation: softmax of the betas over each node's incoming edges."""
    parts, start = [], 0
    for i in range(nodes):
        parts.append(torch.softmax(betas[start:start + i + 2], dim=-1))
        start += i + 2
    return torch.cat(parts)
