"""The BCNN search network's layout against the authors' released network, counted by hand.

Reference: github.com/zixiangding/BNASv2, commit cf2577f06116953889e3b420969ecae7eb14c2c2:
BNASv2CLR/model_search_b.py (every channel through the MixedOp, 8 DARTS primitives) and
BNASv2PC/model_search_b.py (MixedOp on C // 4 channels, `self.k = 4`, plus betas), both
`Network(C, num_classes, layers, criterion, en_layers=1, steps=4, multiplier=4,
stem_multiplier=3)`, built by train_search_b.py with --init_channels 16 --layers 2
--en_layers 1 (the authors' default), 3 input channels (CIFAR), 10 classes. The repository
holds no operations.py: `from operations import *` is taken as DARTS' cnn/operations.py (the
op names and signatures are DARTS'), where ReLUConvBN and FactorizedReduce default to
affine=True and the MixedOp ops get the cells' affine=False.

Weights of one MixedOp edge on c channels (ops built with affine=False: no BN weights):
  none, max_pool_3x3 + BN, avg_pool_3x3 + BN:           0
  skip_connect: stride 1 Identity 0; stride 2 FactorizedReduce(c, c): 2 x c x c/2 = c^2
  sep_conv_3x3: 2 x (depthwise 9c + pointwise c^2)       = 18c + 2c^2
  sep_conv_5x5: 2 x (25c + c^2)                          = 50c + 2c^2
  dil_conv_3x3: 9c + c^2;   dil_conv_5x5: 25c + c^2
  stride-1 edge: 102c + 6c^2;   stride-2 edge: 102c + 7c^2
  c =  4: 504 / 520      c =  8: 1200 / 1264     c = 16: 3168 / 3424
  c = 32: 9408 / 10432   c = 64: 31104 / 35200   (stride 1 / stride 2)
A reduction cell has 8 stride-2 edges (j < 2 at each of the 4 nodes) and 6 stride-1 edges;
an enhancement cell 14 stride-1 edges. Cell preprocessing is affine=False (no BN weights).
"""

import pytest
import torch

from slimnas.bnas.config import load_bnas_config
from slimnas.bnas.ops import FactorizedReduce, ReLUConvBN
from slimnas.bnas.search_net import SearchNetwork, SearchSpec
from slimnas.errors import SlimnasError

# C = 16, the released network's weights outside the cells (the same for CLR and PC):
#   stem: Conv2d(3, 48, 3) 3*48*9 = 1296 + BatchNorm2d(48) (affine) 96               = 1392
#   restricted_convs_gap (block inputs -> head, `C_out = self._C` then `C_curr`):
#     ReLUConvBN(48, 16) 768 + 32 = 800; ReLUConvBN(128, 32) 4096 + 64 = 4160          = 4960
#   reduction_convs_gap (`FactorizedReduce(C_gap_list[t], C_gap_list[t])`): FR(16, 16)
#     twice (the stem's feature, at block 2 and at the end) 2 * (2*16*8 + 32) = 576;
#     FR(32, 32) 2*32*16 + 64 = 1088                                                   = 1664
#   restricted_convs_en (block outputs -> enhancement, `C_out_conv = C_curr`, the last
#     block `C_curr * multiplier`): ReLUConvBN(128, 32) 4160;
#     ReLUConvBN(256, 256) 65536 + 512 = 66048                                         = 70208
#   reduction_convs_en: FR(32, 32)                                                     = 1088
#   restricted_ens_gap (last enhancement cell: `C_out = C_prev`): ReLUConvBN(256, 256) = 66048
#   classifier: Linear(C_final = 16 + 32 + 0*64 + 256 = 304, 10) 3040 + 10             = 3050
# Cells, K = 1 (BNASv2CLR):
#   conv_cells[0] = Cell(4, 4, 48, 48, 32, reduction=True, reduction_prev=False):
#     preprocess0/1 ReLUConvBN(48, 32) 1536 each; 8 * 10432 + 6 * 9408                 = 142976
#   conv_cells[1] = Cell(4, 4, 48, 128, 64, reduction=True, reduction_prev=True):
#     preprocess0 FactorizedReduce(48, 64) 2*48*32 = 3072, preprocess1 ReLUConvBN(128,
#     64) 8192; 8 * 35200 + 6 * 31104                                                  = 479488
#   en_cells[0] = Cell(4, 4, 32, 256, 64, reduction=False) (PC: C_en_list[0], CLR:
#     C_curr // 2, both 32): ReLUConvBN(32, 64) 2048 + ReLUConvBN(256, 64) 16384;
#     14 * 31104                                                                       = 453888
# Cells, K = 4 (BNASv2PC, MixedOp(C) runs its ops on C // 4 channels):
#   conv_cells[0]: 3072 + 8 * 1264 + 6 * 1200 = 20384; conv_cells[1]: 11264 + 8 * 3424
#   + 6 * 3168 = 57664; en_cells[0]: 18432 + 14 * 3168 = 62784
C16_OUTSIDE = {"stem": 1392, "broad": 4960 + 1664, "to_enhance": 70208 + 1088,
               "project": 66048, "classifier": 3050}
C16 = {1: {**C16_OUTSIDE, "cells.0": 142976, "cells.1": 479488, "enhance.0": 453888},
       4: {**C16_OUTSIDE, "cells.0": 20384, "cells.1": 57664, "enhance.0": 62784}}

# C = 8, the same modules at half the width:
#   stem: 3*24*9 = 648 + 48 = 696;  restricted_convs_gap: ReLUConvBN(24, 8) 192 + 16 = 208,
#   ReLUConvBN(64, 16) 1024 + 32 = 1056 -> 1264;  reduction_convs_gap: FR(8, 8) twice
#   2 * (2*8*4 + 16) = 160, FR(16, 16) 2*16*8 + 32 = 288 -> 448;  restricted_convs_en:
#   ReLUConvBN(64, 16) 1056, ReLUConvBN(128, 128) 16384 + 256 = 16640 -> 17696;
#   reduction_convs_en: FR(16, 16) 288;  restricted_ens_gap: ReLUConvBN(128, 128) 16640;
#   classifier: Linear(8 + 16 + 128 = 152, 10) 1530
# Cells, K = 1: conv_cells[0] = Cell(.., 24, 24, 16): 2 * 384 + 8 * 3424 + 6 * 3168 = 47168;
#   conv_cells[1] = Cell(.., 24, 64, 32): FR(24, 32) 768 + ReLUConvBN(64, 32) 2048
#   + 8 * 10432 + 6 * 9408 = 142720; en_cells[0] = Cell(.., 16, 128, 32): 512 + 4096
#   + 14 * 9408 = 136320
# Cells, K = 4: 768 + 8 * 520 + 6 * 504 = 7952; 2816 + 8 * 1264 + 6 * 1200 = 20128;
#   4608 + 14 * 1200 = 21408
C8_OUTSIDE = {"stem": 696, "broad": 1264 + 448, "to_enhance": 17696 + 288,
              "project": 16640, "classifier": 1530}
C8 = {1: {**C8_OUTSIDE, "cells.0": 47168, "cells.1": 142720, "enhance.0": 136320},
      4: {**C8_OUTSIDE, "cells.0": 7952, "cells.1": 20128, "enhance.0": 21408}}

HAND = {16: C16, 8: C8}
# the totals, summed by hand: C = 16: 148410 outside + cells = 1224762 (K=1), 289242 (K=4);
# C = 8: 38562 outside + cells = 364770 (K=1), 88050 (K=4)
TOTALS = {(16, 1): 1224762, (16, 4): 289242, (8, 1): 364770, (8, 4): 88050}
# The one unavoidable difference: the released alphas (2 x 14 edges x 8 ops) and, in the PC
# file, betas (2 x 14) are `Variable(..., requires_grad=True)` attributes, outside
# `model.parameters()`; slimnas registers them (nn.ParameterDict), so its parameters() holds
# 224 (+ 28 with edge normalisation) more. BN running statistics are buffers in both.
ARCH = {False: 2 * 14 * 8, True: 2 * 14 * 8 + 2 * 14}


def _groups(net: SearchNetwork) -> dict[str, int]:
    body, out = net.body, {}
    for name in ("stem", "broad", "to_enhance", "project", "classifier"):
        out[name] = sum(p.numel() for p in getattr(body, name).parameters())
    for name in ("cells", "enhance"):
        for i, cell in enumerate(getattr(body, name)):
            out[f"{name}.{i}"] = sum(p.numel() for p in cell.parameters())
    return out


def _spec(channels: int, k: int, **kw) -> SearchSpec:
    return SearchSpec(net="bcnn", in_channels=3, num_classes=10, channels=channels,
                      partial_channels=k, edge_norm=k > 1, **kw)


@pytest.mark.parametrize("channels", [16, 8])
@pytest.mark.parametrize("k", [1, 4], ids=["clr", "pc"])
def test_weights_match_the_released_network_counted_by_hand(channels, k):
    assert sum(HAND[channels][k].values()) == TOTALS[channels, k]  # the hand sums agree
    net = SearchNetwork(_spec(channels, k))  # the default layout
    assert _groups(net) == HAND[channels][k]
    assert net.spec.layout == "released"
    assert sum(p.numel() for p in net.weight_parameters()) == TOTALS[channels, k]
    arch = sum(p.numel() for p in net.arch_parameters())
    assert arch == ARCH[k > 1]
    assert sum(p.numel() for p in net.parameters()) == TOTALS[channels, k] + arch


@pytest.mark.parametrize("k", [1, 4], ids=["clr", "pc"])
def test_the_compact_layout_is_smaller_and_does_not_match(k):
    # slimnas' earlier layout: every side path and head projection at 4C, enhancement cells
    # without an input adapter, non-affine outside the cells; 12C at the head
    net = SearchNetwork(_spec(16, k, layout="compact"))
    weights = sum(p.numel() for p in net.weight_parameters())
    assert weights == {1: 1129754, 4: 194234}[k]
    assert weights != TOTALS[16, k]
    assert net.body.classifier.in_features == 12 * 16


def test_released_channel_layout():
    net = SearchNetwork(_spec(16, 1))
    body = net.body
    # broad features: the stem (48) -> C = 16, block 1's output (128) -> 2C = 32
    assert [(s[0][1].in_channels, s[0][1].out_channels) for s in body.broad] == [(48, 16),
                                                                                 (128, 32)]
    assert [len(s) - 1 for s in body.broad] == [2, 1]  # factorized reductions to 8 x 8
    # enhancement inputs: block 1's output -> 2C (then one reduction), block 2's -> 16C
    assert [(s[0][1].in_channels, s[0][1].out_channels) for s in body.to_enhance] == [
        (128, 32), (256, 256)]
    assert [len(s) - 1 for s in body.to_enhance] == [1, 0]
    # ... then the cell's own 1x1 adapters to its 4C = 64 channels
    cell = body.enhance[0]
    assert isinstance(cell.pre0, ReLUConvBN) and isinstance(cell.pre1, ReLUConvBN)
    assert (cell.pre0[1].in_channels, cell.pre1[1].in_channels) == (32, 256)
    assert cell.pre0[1].out_channels == cell.pre1[1].out_channels == 64
    # the head keeps the last enhancement output at 16C: 16 + 32 + 256 = 19C
    assert body.project[0][1].out_channels == 256
    assert body.classifier.in_features == 19 * 16
    # affine outside the cells (stem BN, side paths, head projection), not inside
    outside = [body.stem, body.broad, body.to_enhance, body.project]
    assert all(m.affine for part in outside for m in part.modules()
               if isinstance(m, torch.nn.BatchNorm2d))
    assert not any(m.affine for part in (body.cells, body.enhance) for m in part.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))
    assert isinstance(body.cells[1].pre0, FactorizedReduce)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_second_enhancement_cell_reads_the_raw_last_block_output():
    # released: s0, s1 = s1, cell(...): the second enhancement cell's s0 is the last conv
    # block's own output (16C), its s1 the first enhancement output; the first one's head
    # projection narrows to the cell width 4C, the last one's keeps 16C
    body = SearchNetwork(_spec(8, 1, enhancement_cells=2)).body
    second = body.enhance[1]
    assert (second.pre0[1].in_channels, second.pre1[1].in_channels) == (128, 128)
    assert [p[1].out_channels for p in body.project] == [32, 128]
    assert body.classifier.in_features == 8 + 16 + 32 + 128
    compact = SearchNetwork(_spec(8, 1, enhancement_cells=2, layout="compact")).body
    assert isinstance(compact.enhance[1].pre0, torch.nn.Identity)  # the projected 4C input


def test_layout_is_a_checked_config_key():
    assert load_bnas_config(None, [])["search"]["layout"] == "released"
    assert load_bnas_config(None, ["search.layout=compact"])["search"]["layout"] == "compact"
    with pytest.raises(SlimnasError, match="search.layout must be one of released, compact, "
                                           "got 'wide'") as e:
        load_bnas_config(None, ["search.layout=wide"])
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown BCNN layout"):
        SearchNetwork(_spec(8, 1, layout="wide"))


def test_resume_treats_a_checkpoint_without_layout_as_compact():
    from slimnas.bnas.search import _check_compatible

    old = load_bnas_config(None, ["search.layout=compact"])
    del old["search"]["layout"]  # as written before the key existed
    _check_compatible({"config": old}, load_bnas_config(None, ["search.layout=compact"]))
    with pytest.raises(SlimnasError, match="search.layout differs"):
        _check_compatible({"config": old}, load_bnas_config(None, []))
