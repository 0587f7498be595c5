"""Search networks: a BCNN (BNAS-D / BNAS-v2) or a plain DARTS stack of MixedOp cells,
with their architecture parameters (alphas, and betas under edge normalisation)."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch
from torch import nn

from slimnas.bnas.bodies import BroadBody, DartsBody, default_reductions
from slimnas.bnas.genotype import CELLS, Genotype, derive_genotype, num_edges
from slimnas.bnas.ops import PRIMITIVES, shared_relu
from slimnas.bnas.search_cell import SearchCell, edge_softmax


@dataclass(frozen=True)
class SearchSpec:
    net: str = "bcnn"  # bcnn | darts
    in_channels: int = 1
    num_classes: int = 10
    channels: int = 16  # C
    nodes: int = 4
    blocks: int = 2  # bcnn: convolution blocks, one reduction cell each
    enhancement_cells: int = 1  # bcnn
    layout: str = "released"  # bcnn side-path widths: released | compact (bodies.py)
    cells: int = 5  # darts: cells, stride 2 at 1/3 and 2/3
    partial_channels: int = 1  # K; 1 = every channel through the MixedOp
    edge_norm: bool = False


class SearchNetwork(nn.Module):
    """forward(x) -> logits with the current softmax(alpha) (and softmax(beta)) mixtures."""

    def __init__(self, spec: SearchSpec):
        super().__init__()
        self.spec = spec
        s = spec

        def make_cell(kind, c_pp, c_p, c, reduction, reduction_prev, identity_pre):
            return SearchCell(s.nodes, c_pp, c_p, c, reduction, reduction_prev,
                              s.partial_channels, identity_pre)

        if s.net == "bcnn":
            self.body: nn.Module = BroadBody(make_cell, s.in_channels, s.num_classes,
                                             s.channels, s.blocks, list(range(s.blocks)),
                                             s.enhancement_cells, affine=False,
                                             layout=s.layout)
        elif s.net == "darts":
            self.body = DartsBody(make_cell, s.in_channels, s.num_classes, s.channels, s.cells,
                                  default_reductions("darts", s.cells), affine=False)
        else:
            raise ValueError(f"unknown search net {s.net!r}")
        edges, ops = num_edges(s.nodes), len(PRIMITIVES)
        self.alphas = nn.ParameterDict(
            {c: nn.Parameter(1e-3 * torch.randn(edges, ops)) for c in CELLS})
        self.betas = nn.ParameterDict(
            {c: nn.Parameter(1e-3 * torch.randn(edges)) for c in CELLS} if s.edge_norm else {})

    def arch_parameters(self) -> list[nn.Parameter]:
        return [*self.alphas.values(), *self.betas.values()]

    def weight_parameters(self) -> list[nn.Parameter]:
        return list(self.body.parameters())

    def mixtures(self) -> tuple[dict, dict | None]:
        """({cell kind: softmax(alpha) per edge}, {cell kind: edge weights} or None)."""
        weights = {c: torch.softmax(a, dim=-1) for c, a in self.alphas.items()}
        if not self.spec.edge_norm:
            return weights, None
        return weights, {c: edge_softmax(b, self.spec.nodes) for c, b in self.betas.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights, edge = self.mixtures()

        def run_cell(cell, s0, s1):
            return cell(s0, s1, weights[cell.kind], None if edge is None else edge[cell.kind])

        # without autograd nothing is kept for backward, so there is nothing to share
        with shared_relu() if torch.is_grad_enabled() else contextlib.nullcontext():
            return self.body(x, run_cell)

    @torch.no_grad()
    def arch_state(self) -> dict:
        """The architecture as plain lists: op probabilities (and edge weights) per cell."""
        weights, edge = self.mixtures()
        state = {"primitives": list(PRIMITIVES),
                 "alphas": {c: w.cpu().tolist() for c, w in weights.items()}}
        if edge is not None:
            state["edge_weights"] = {c: e.cpu().tolist() for c, e in edge.items()}
        return state

    def genotype(self) -> Genotype:
        state = self.arch_state()
        return derive_genotype(state["alphas"], self.spec.nodes, state.get("edge_weights"))

    def describe(self) -> dict:
        return asdict(self.spec)
