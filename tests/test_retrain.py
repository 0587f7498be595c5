import copy

import torch

from slimnas.retrain import retrain
from slimnas.width.net import WidthNet
from slimnas.width.spaces import build_spec


def _data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > 0).long()  # a learnable rule
    return x, y


def test_retraining_learns_and_is_reproducible():
    spec = build_spec("plaincnn", depth=2, width=8, in_channels=1, input_size=8, num_classes=2)
    torch.manual_seed(0)
    net = WidthNet(spec, (8, 8), dynamic=False)
    twin = copy.deepcopy(net)
    x, y = _data()
    hx, hy = _data(128, seed=1)
    a = retrain(net, x, y, hx, hy, epochs=8, batch_size=32, lr=0.1, seed=3)
    b = retrain(twin, x, y, hx, hy, epochs=8, batch_size=32, lr=0.1, seed=3)
    assert a == b
    assert all(torch.equal(p, q) for p, q in zip(net.state_dict().values(),
                                                  twin.state_dict().values(), strict=True))
    assert a["held_out_top1"] > max(75.0, a["held_out_top1_before"])
    assert a["history"][-1]["train_loss"] < a["history"][0]["train_loss"]
    assert not net.training
