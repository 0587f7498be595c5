"""Held-out splits, normalisation statistics and a small batched augmentation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from slimnas.data.imagedata import ImageData
from slimnas.errors import SlimnasError

# Images per chunk when summing pixels, to keep the int64 copy small.
_CHUNK = 4096


def _held_out_count(held_out: float | int, n: int, name: str = "held_out") -> int:
    """The count a fraction in (0, 1) (a float) or a whole count (an int) asks for of n."""
    if isinstance(held_out, bool) or not isinstance(held_out, (int, float)):
        raise SlimnasError(f"{name} must be a fraction in (0, 1) or a count, got {held_out!r}")
    if isinstance(held_out, float):
        if math.isfinite(held_out) and held_out >= 1:  # not a count: 1.0 is no 1-image set
            raise SlimnasError(f"{name} must be a fraction < 1 or an integer count, "
                               f"got the float {held_out!r}")
        if not 0.0 < held_out < 1.0:  # also NaN
            raise SlimnasError(f"{name} fraction must be strictly between 0 and 1, got {held_out}")
        count = int(round(held_out * n))
    else:
        count = held_out
    if count >= n:
        raise SlimnasError(f"{name} {held_out!r} takes {count} of the {n} samples: nothing is left "
                           f"to train on (give a count < {n} or a fraction < 1)")
    if count < 1:
        raise SlimnasError(f"{name} {held_out!r} gives {count} of {n} samples; "
                           "both parts need at least one")
    return count


def _per_class_quota(counts: list[int], total: int) -> list[int]:
    # Largest-remainder apportionment: class quotas proportional to class sizes, summing to total.
    n = sum(counts)
    exact = [total * c / n for c in counts]
    quota = [math.floor(e) for e in exact]
    order = sorted(range(len(counts)), key=lambda i: (-(exact[i] - quota[i]), i))
    for i in order[: total - sum(quota)]:
        quota[i] += 1
    return quota


def split_held_out(
    data: ImageData, held_out: float | int, seed: int, name: str = "held_out"
) -> tuple[ImageData, ImageData]:
    """Split into (rest, held_out) parts, stratified by class and seeded.

    ``held_out`` is a fraction in (0, 1) given as a float or an absolute count given as an
    int (a float >= 1 is refused); both parts get at least one sample. ``name`` (e.g.
    ``data.test_fraction``) is what error messages call it. Both parts keep the original
    order of their samples; the same seed always gives the same split.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SlimnasError(f"seed must be an integer, got {seed!r}")
    n = len(data)
    count = _held_out_count(held_out, n, name)
    gen = torch.Generator().manual_seed(seed)
    classes, inverse = torch.unique(data.y, sorted=True, return_inverse=True)
    members = [torch.nonzero(inverse == k).flatten() for k in range(len(classes))]
    quota = _per_class_quota([len(m) for m in members], count)
    mask = torch.zeros(n, dtype=torch.bool)
    for idx, q in zip(members, quota, strict=True):
        if q:
            mask[idx[torch.randperm(len(idx), generator=gen)[:q]]] = True
    return data.subset(~mask), data.subset(mask)


def channel_stats(data: ImageData) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) standard deviation of ``x / 255``."""
    x = data.x
    if len(data) == 0:
        raise SlimnasError(f"{data.name}: cannot compute channel statistics of an empty dataset")
    c = x.shape[1]
    total = torch.zeros(c, dtype=torch.int64)
    squares = torch.zeros(c, dtype=torch.int64)
    # Integer sums are exact, so the statistics do not depend on chunking or order.
    for start in range(0, x.shape[0], _CHUNK):
        part = x[start : start + _CHUNK].to(torch.int64)
        total += part.sum(dim=(0, 2, 3))
        squares += (part * part).sum(dim=(0, 2, 3))
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = total.double() / (count * 255.0)
    var = squares.double() / (count * 255.0 * 255.0) - mean * mean
    std = var.clamp_min(0.0).sqrt()
    return [float(v) for v in mean], [float(v) for v in std]


def to_float(x_uint8: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """Normalise uint8 images (..., C, H, W) to float32 ``(x / 255 - mean) / std`` per channel."""
    if x_uint8.dtype != torch.uint8 or x_uint8.dim() < 3:
        raise SlimnasError(
            f"to_float expects uint8 images (..., C, H, W), got {x_uint8.dtype} "
            f"{tuple(x_uint8.shape)}"
        )
    c = x_uint8.shape[-3]
    if len(mean) != c or len(std) != c:
        raise SlimnasError(f"to_float: {c} channels but {len(mean)} means and {len(std)} stds")
    if any(not s > 0 for s in std):
        raise SlimnasError(f"to_float: every std must be positive, got {list(std)}")
    m = torch.tensor(mean, dtype=torch.float32, device=x_uint8.device).view(c, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x_uint8.device).view(c, 1, 1)
    return (x_uint8.float().div_(255.0) - m).div_(s)


class Augment:
    """Random crop with zero padding and random horizontal flip on a float (B, C, H, W) batch.

    All randomness is drawn from the generator passed to each call, so equal generator states
    give identical outputs. ``pad=0, flip=False`` returns the input unchanged.
    """

    def __init__(self, pad: int = 0, flip: bool = False) -> None:
        if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
            raise SlimnasError(f"Augment: pad must be a non-negative integer, got {pad!r}")
        self.pad = pad
        self.flip = bool(flip)

    def __repr__(self) -> str:
        return f"Augment(pad={self.pad}, flip={self.flip})"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment the batch ``x`` (B, C, H, W) using only ``generator`` for randomness."""
        if self.pad == 0 and not self.flip:
            return x
        if x.dim() != 4:
            raise SlimnasError(f"Augment expects a (B, C, H, W) batch, got {tuple(x.shape)}")
        b, c, h, w = x.shape
        p = self.pad
        gdev = generator.device
        # Draw on the generator's device, then move: the random stream is device-independent.
        if p:
            oy = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=gdev)
            ox = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=gdev)
            oy, ox = oy.to(x.device), ox.to(x.device)
        else:
            oy = ox = torch.zeros(b, dtype=torch.int64, device=x.device)
        cols = torch.arange(w, device=x.device).expand(b, w)
        if self.flip:
            flipped = (torch.rand(b, generator=generator, device=gdev) < 0.5).to(x.device)
            # A flipped image reads its crop window right to left.
            cols = torch.where(flipped[:, None], cols.flip(1), cols)
        rows = oy[:, None] + torch.arange(h, device=x.device)
        cols = ox[:, None] + cols
        xp = F.pad(x, (p, p, p, p)) if p else x
        wp = w + 2 * p
        index = (rows[:, :, None] * wp + cols[:, None, :]).reshape(b, 1, h * w)
        out = torch.gather(xp.reshape(b, c, -1), 2, index.expand(b, c, h * w))
        return out.view(b, c, h, w)
