"""The README's Python walk-through: run from the repository root,
`python examples/slim_tiny_cnn.py`."""

import torch
from tiny_cnn import TinyCNN

import slimnas

# the channel groups slimnas finds in the model (residual, depthwise and SE coupled)
space = slimnas.from_model(TinyCNN(in_channels=1), torch.zeros(1, 1, 8, 8), bins=4)
print("groups:", dict(zip(space.group_names, space.channels, strict=True)))
# supernet (BCNetV2) -> prior -> search at half the FLOPs -> export -> retrain, on digits
cfg = slimnas.load_config(None, ["model=examples.tiny_cnn:TinyCNN", "out=runs/tiny_cnn"])
result = slimnas.run(cfg)
print("winner:", result["winner"]["key"], f"{result['winner']['test_top1_retrained']:.2f} %")
net = slimnas.load_exported("runs/tiny_cnn/winner", model=TinyCNN(in_channels=1))
print("reloaded:", net(torch.zeros(1, 1, 8, 8)).shape)
