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


def test_channels_last_trains_the_same_net_reproducibly():
    """The channels-last option: reproducible run to run, the same training as the default
    up to float rounding, and the net really is in the channels-last format."""
    spec = build_spec("plaincnn", depth=2, width=8, in_channels=3, input_size=8, num_classes=2)
    torch.manual_seed(0)
    net = WidthNet(spec, (8, 8), dynamic=False)
    twin, plain = copy.deepcopy(net), copy.deepcopy(net)
    x, y = _data()
    x = x.expand(-1, 3, -1, -1).contiguous()  # 3 channels: NCHW and NHWC differ in memory
    hx, hy = _data(128, seed=1)
    hx = hx.expand(-1, 3, -1, -1).contiguous()
    kw = dict(epochs=3, batch_size=32, lr=0.1, seed=3)
    a = retrain(net, x, y, hx, hy, channels_last=True, **kw)
    b = retrain(twin, x, y, hx, hy, channels_last=True, **kw)
    c = retrain(plain, x, y, hx, hy, **kw)
    assert a == b
    assert all(torch.equal(p, q) for p, q in zip(net.state_dict().values(),
                                                  twin.state_dict().values(), strict=True))
    convs = [p for p in net.parameters() if p.ndim == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last)
                         and not p.is_contiguous() for p in convs)
    assert all(p.is_contiguous() for p in plain.parameters())
    for p, q in zip(net.state_dict().values(), plain.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4)
    assert abs(a["history"][-1]["train_loss"] - c["history"][-1]["train_loss"]) < 1e-4
