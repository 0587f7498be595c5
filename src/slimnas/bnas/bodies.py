"""The two network topologies, shared by the search networks and the evaluation networks.

A body is built from a cell factory and run with a cell runner, so the same wiring holds
MixedOp cells (search) and genotype cells (evaluation):

- `DartsBody`: stem, a stack of cells (stride 2 at `reduction_at`), pool, Linear.
- `BroadBody` (BCNN): stem, convolution blocks (each ends with a stride-2 cell), side paths
  (ReLU-conv1x1-BN then factorized reductions to the final resolution) from every block's
  input to the head and from the last two block outputs to the first enhancement cell,
  stride-1 enhancement cells, and a head that concatenates the broad features with the
  enhancement outputs (each through a 1x1 projection), pools, and applies a Linear.

Cell kinds: in a DARTS body "normal" / "reduce" by stride; in a BCNN "normal" are the
convolution cells and "reduce" the enhancement cells (the genotype's field names).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from slimnas.bnas.ops import ReLUConvBN, side_path

# make_cell(kind, c_pp, c_p, c, reduction, reduction_prev, identity_pre) -> cell with
# an `out_channels` attribute
CellFactory = Callable[[str, int, int, int, bool, bool, bool], nn.Module]
CellRunner = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def default_reductions(net: str, cells: int) -> list[int]:
    """0-based positions of the stride-2 cells: DARTS' thirds, or a BCNN of two blocks that
    each end with a reduction (6 cells: positions 2 and 5)."""
    if net == "darts":
        return sorted({cells // 3, 2 * cells // 3})
    return sorted({max(0, cells // 2 - 1), cells - 1})


class _Stem(nn.Sequential):
    def __init__(self, in_channels: int, c_out: int, affine: bool):
        super().__init__(nn.Conv2d(in_channels, c_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


def _build_cells(make_cell: CellFactory, stem_channels: int, channels: int, cells: int,
                 reduction_at: Sequence[int], kind: Callable[[bool], str]):
    """DARTS' stacking rule: channels double at every stride-2 cell."""
    c_pp = c_p = stem_channels
    c, reduction_prev = channels, False
    out = nn.ModuleList()
    for i in range(cells):
        reduction = i in reduction_at
        if reduction:
            c *= 2
        cell = make_cell(kind(reduction), c_pp, c_p, c, reduction, reduction_prev, False)
        cell.kind = kind(reduction)
        out.append(cell)
        c_pp, c_p, reduction_prev = c_p, cell.out_channels, reduction
    return out, c_p, c


class DartsBody(nn.Module):
    def __init__(self, make_cell: CellFactory, in_channels: int, num_classes: int,
                 channels: int, cells: int, reduction_at: Sequence[int], affine: bool):
        super().__init__()
        self.stem = _Stem(in_channels, 3 * channels, affine)
        self.cells, c_out, _ = _build_cells(make_cell, 3 * channels, channels, cells,
                                            reduction_at, lambda r: "reduce" if r else "normal")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_out, num_classes)

    def forward(self, x: torch.Tensor, run_cell: CellRunner) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, run_cell(cell, s0, s1)
        return self.classifier(self.pool(s1).flatten(1))


class BroadBody(nn.Module):
    def __init__(self, make_cell: CellFactory, in_channels: int, num_classes: int,
                 channels: int, cells: int, reduction_at: Sequence[int],
                 enhancement_cells: int, affine: bool):
        super().__init__()
        if enhancement_cells < 1:
            raise ValueError("a BCNN needs at least one enhancement cell")
        self.stem = _Stem(in_channels, 3 * channels, affine)
        self.cells, _, c_final = _build_cells(make_cell, 3 * channels, channels, cells,
                                              reduction_at, lambda r: "normal")
        # blocks end with each stride-2 cell; trailing stride-1 cells join the last block
        ends = [i + 1 for i in sorted(reduction_at)] or [cells]
        ends[-1] = cells
        starts = [0, *ends[:-1]]
        self.blocks = [list(range(a, b)) for a, b in zip(starts, ends, strict=True)]
        total = len(reduction_at)
        # (channels, reductions so far) of the stem and of each block output
        states = [(3 * channels, 0)]
        for block in self.blocks:
            last = self.cells[block[-1]]
            states.append((last.out_channels, sum(i in reduction_at for i in range(block[-1] + 1))))
        self.broad = nn.ModuleList(side_path(c, c_final, total - level, affine)
                                   for c, level in states[:-1])
        self.to_enhance = nn.ModuleList(side_path(c, c_final, total - level, affine)
                                        for c, level in states[-2:])
        self.enhance = nn.ModuleList()
        self.project = nn.ModuleList()
        c_pp = c_p = c_final
        for _ in range(enhancement_cells):
            cell = make_cell("reduce", c_pp, c_p, c_final, False, False, True)
            cell.kind = "reduce"
            self.enhance.append(cell)
            self.project.append(ReLUConvBN(cell.out_channels, c_final, 1, 1, 0, affine))
            c_pp, c_p = c_p, cell.out_channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear((len(self.blocks) + enhancement_cells) * c_final,
                                    num_classes)

    def forward(self, x: torch.Tensor, run_cell: CellRunner) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        features, outputs = [], [s1]
        for side, block in zip(self.broad, self.blocks, strict=True):
            features.append(side(s1))  # the block's input, sideways to the head
            for i in block:
                s0, s1 = s1, run_cell(self.cells[i], s0, s1)
            outputs.append(s1)
        e0, e1 = (side(s) for side, s in zip(self.to_enhance, outputs[-2:], strict=True))
        for cell, project in zip(self.enhance, self.project, strict=True):
            e0, e1 = e1, run_cell(cell, e0, e1)
            features.append(project(e1))
        return self.classifier(self.pool(torch.cat(features, dim=1)).flatten(1))
