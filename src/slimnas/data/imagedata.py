"""The in-memory dataset container and the uint8 resize / channel conversion helpers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from slimnas.errors import SlimnasError

# ITU-R 601 luma weights, the same ones PIL uses for "RGB" -> "L".
_LUMA = (0.299, 0.587, 0.114)
# Images per interpolate call, so resizing 60k images does not allocate one huge float tensor.
_CHUNK = 4096


@dataclass
class ImageData:
    """A whole labelled image dataset held in memory.

    ``x`` is uint8 of shape (N, C, H, W) with values 0..255, ``y`` is int64 of shape (N,).
    """

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    name: str

    def __post_init__(self) -> None:
        if self.x.dtype != torch.uint8 or self.x.dim() != 4:
            raise SlimnasError(
                f"{self.name}: images must be uint8 (N, C, H, W), got {self.x.dtype} "
                f"{tuple(self.x.shape)}"
            )
        if self.y.dtype != torch.int64 or self.y.dim() != 1:
            raise SlimnasError(f"{self.name}: labels must be int64 (N,), got {self.y.dtype}")
        if self.x.shape[0] != self.y.shape[0]:
            raise SlimnasError(
                f"{self.name}: {self.x.shape[0]} images but {self.y.shape[0]} labels"
            )

    def __len__(self) -> int:
        """Number of images."""
        return int(self.y.shape[0])

    def subset(self, idx: torch.Tensor) -> ImageData:
        """A new ImageData with the rows selected by ``idx`` (index tensor or boolean mask)."""
        idx = torch.as_tensor(idx)
        if idx.dtype != torch.bool:
            idx = idx.long()
        return ImageData(self.x[idx], self.y[idx], self.num_classes, self.name)


def check_input_size(input_size: int | None, who: str) -> None:
    """Raise SlimnasError unless ``input_size`` is None or a positive int."""
    if input_size is None:
        return
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
        raise SlimnasError(f"{who}: input_size must be a positive integer, got {input_size!r}")


def check_in_channels(in_channels: int | None, who: str) -> None:
    """Raise SlimnasError unless ``in_channels`` is None, 1 or 3."""
    if in_channels is None:
        return
    if isinstance(in_channels, bool) or in_channels not in (1, 3):
        raise SlimnasError(f"{who}: in_channels must be 1 or 3, got {in_channels!r}")


def resize_uint8(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (no antialias) of a uint8 (N, C, H, W) batch, rounding back to uint8."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == hw:
        return x
    out = torch.empty((x.shape[0], x.shape[1], *hw), dtype=torch.uint8)
    for start in range(0, x.shape[0], _CHUNK):
        part = x[start : start + _CHUNK].float()
        part = F.interpolate(part, size=hw, mode="bilinear", align_corners=False, antialias=False)
        out[start : start + _CHUNK] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def to_gray_uint8(x: torch.Tensor) -> torch.Tensor:
    """Luminance of a uint8 (N, 3, H, W) batch as uint8 (N, 1, H, W)."""
    out = torch.empty((x.shape[0], 1, *x.shape[2:]), dtype=torch.uint8)
    w = torch.tensor(_LUMA, dtype=torch.float32).view(1, 3, 1, 1)
    for start in range(0, x.shape[0], _CHUNK):
        part = (x[start : start + _CHUNK].float() * w).sum(dim=1, keepdim=True)
        out[start : start + _CHUNK] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def convert_images(
    x: torch.Tensor, input_size: int | None, in_channels: int | None, who: str
) -> torch.Tensor:
    """Resize to ``input_size`` square and convert to ``in_channels``; None leaves that as is."""
    check_input_size(input_size, who)
    check_in_channels(in_channels, who)
    c = x.shape[1]
    if in_channels is not None and c not in (1, 3) and c != in_channels:
        raise SlimnasError(f"{who}: cannot convert {c} channels to {in_channels}")
    # Reduce channels before resizing and expand after, so interpolation touches fewer values.
    if in_channels == 1 and c == 3:
        x = to_gray_uint8(x)
    if input_size is not None:
        x = resize_uint8(x, input_size)
    if in_channels == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1).contiguous()
    return x
