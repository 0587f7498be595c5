"""A user's own model as a width space: channel groups traced from any `nn.Module`."""

from slimnas.width.own.space import from_model
from slimnas.width.own.trace import Binding, Follower, Layer, TracedSpec, trace_spec

__all__ = ["Binding", "Follower", "Layer", "TracedSpec", "from_model", "trace_spec"]
