"""The two network topologies, shared by the search networks and the evaluation networks.

A body is built from a cell factory and run with a cell runner, so the same wiring holds
MixedOp cells (search) and genotype cells (evaluation):

- `DartsBody`: stem, a stack of cells (stride 2 at `reduction_at`), pool, Linear.
- `BroadBody` (BCNN): stem, convolution blocks (each ends with a stride-2 cell), side paths
  (ReLU-conv1x1-BN then factorized reductions to the final resolution) from every block's
  input to the head and from the last two block outputs to the first enhancement cell,
  stride-1 enhancement cells, and a head that concatenates the broad features with the
  enhancement outputs (each through a 1x1 projection), pools, and applies a Linear.

BCNN side-path widths come in two layouts (C: the base width, c: the cell width of the last
block, 4C for two blocks; the cell output is nodes x c):

- "released": as the authors' `model_search_b.py` (BNASv2, commit cf2577f). A block's input
  goes sideways at the cell width of the block before it (C for the stem, then 2C, ...); the
  second-to-last block output reaches the enhancement cell at its cell width, the last one
  at its full width (nodes x c); the enhancement cells adapt their inputs with their own
  1x1 ReLU-conv-BN; the head keeps the last enhancement output at full width (earlier ones
  at c). A later enhancement cell reads the previous cell's output and, for the second one,
  the raw last block output. Stem BN, side paths and head projections are affine even in
  the search network (the cells are not). C = 16, 2 blocks, 4 nodes: broad 16 + 32, head
  16 + 32 + 256 = 304 = 19C.
- "compact": every side path and head projection at c, the enhancement cells take their
  inputs as they are (no adapter), affine only where the body is. Head (blocks +
  enhancement cells) x c = 12C.

Cell kinds: in a DARTS body "normal" / "reduce" by stride; in a BCNN "normal" are the
convolution cells and "reduce" the enhancement cells (the genotype's field names).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from slimnas.bnas.config import LAYOUTS
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
    """DARTS' stacking rule: channels double at every stride-2 cell. Returns the cells, the
    last one's output width and every cell's own width c."""
    c_pp = c_p = stem_channels
    c, reduction_prev = channels, False
    out, widths = nn.ModuleList(), []
    for i in range(cells):
        reduction = i in reduction_at
        if reduction:
            c *= 2
        cell = make_cell(kind(reduction), c_pp, c_p, c, reduction, reduction_prev, False)
        cell.kind = kind(reduction)
        out.append(cell)
        widths.append(c)
        c_pp, c_p, reduction_prev = c_p, cell.out_channels, reduction
    return out, c_p, widths


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
    """A BCNN; `layout` "released" or "compact" sets the side-path widths (module doc)."""

    def __init__(self, make_cell: CellFactory, in_channels: int, num_classes: int,
                 channels: int, cells: int, reduction_at: Sequence[int],
                 enhancement_cells: int, affine: bool, layout: str = "compact"):
        super().__init__()
        if enhancement_cells < 1:
            raise ValueError("a BCNN needs at least one enhancement cell")
        if layout not in LAYOUTS:
            raise ValueError(f"unknown BCNN layout {layout!r} ({' or '.join(LAYOUTS)})")
        self.layout = layout
        released = layout == "released"
        side_affine = affine or released  # the released search net: affine outside the cells
        self.stem = _Stem(in_channels, 3 * channels, side_affine)
        self.cells, _, widths = _build_cells(make_cell, 3 * channels, channels, cells,
                                             reduction_at, lambda r: "normal")
        c_final = widths[-1]
        # blocks end with each stride-2 cell; trailing stride-1 cells join the last block
        ends = [i + 1 for i in sorted(reduction_at)] or [cells]
        ends[-1] = cells
        starts = [0, *ends[:-1]]
        self.blocks = [list(range(a, b)) for a, b in zip(starts, ends, strict=True)]
        total = len(reduction_at)
        # (full width, reductions so far, narrow width) of the stem and each block output;
        # narrow: the cell width c of the block's last cell (C for the stem)
        states = [(3 * channels, 0, channels)]
        for block in self.blocks:
            last = block[-1]
            states.append((self.cells[last].out_channels,
                           sum(i in reduction_at for i in range(last + 1)), widths[last]))

        def width(state, full: bool = False) -> int:
            return (state[0] if full else state[2]) if released else c_final

        self.broad = nn.ModuleList(side_path(st[0], width(st), total - st[1], side_affine)
                                   for st in states[:-1])
        (c_a, level_a, _), (c_b, level_b, _) = states[-2:]
        e_pp, e_p = width(states[-2]), width(states[-1], full=True)
        self.to_enhance = nn.ModuleList([side_path(c_a, e_pp, total - level_a, side_affine),
                                         side_path(c_b, e_p, total - level_b, side_affine)])
        self.enhance = nn.ModuleList()
        self.project = nn.ModuleList()
        head = sum(width(st) for st in states[:-1])
        # the state the second enhancement cell reads besides the first one's output
        after = c_b if released else e_p
        for j in range(enhancement_cells):
            cell = make_cell("reduce", e_pp, e_p, c_final, False, False, not released)
            cell.kind = "reduce"
            self.enhance.append(cell)
            c_head = cell.out_channels if released and j == enhancement_cells - 1 else c_final
            self.project.append(ReLUConvBN(cell.out_channels, c_head, 1, 1, 0, side_affine))
            head += c_head
            e_pp, e_p, after = after, cell.out_channels, cell.out_channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x: torch.Tensor, run_cell: CellRunner) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        features, outputs = [], [s1]
        for side, block in zip(self.broad, self.blocks, strict=True):
            features.append(side(s1))  # the block's input, sideways to the head
            for i in block:
                s0, s1 = s1, run_cell(self.cells[i], s0, s1)
            outputs.append(s1)
        e0, e1 = (side(s) for side, s in zip(self.to_enhance, outputs[-2:], strict=True))
        after = s1 if self.layout == "released" else e1
        for cell, project in zip(self.enhance, self.project, strict=True):
            out = run_cell(cell, e0, e1)
            features.append(project(out))
            e0, e1, after = after, out, out
        return self.classifier(self.pool(torch.cat(features, dim=1)).flatten(1))
