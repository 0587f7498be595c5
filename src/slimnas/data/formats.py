"""Readers for the on-disk formats: IDX (MNIST family), CIFAR-10 python batches, image folders."""

from __future__ import annotations

import codecs
import gzip
import io
import pickle
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slimnas.data.imagedata import resize_uint8
from slimnas.errors import SlimnasError

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
CIFAR_DIRNAME = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCHES = ("test_batch",)


def _read_maybe_gz(path: Path, who: str) -> bytes:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise SlimnasError(f"{who}: cannot read {path}: {e}") from e


def find_idx_file(root: Path, base: str, who: str) -> Path:
    """Return ``root/base`` or ``root/base.gz``, whichever exists (plain preferred)."""
    for cand in (root / base, root / f"{base}.gz"):
        if cand.is_file():
            return cand
    raise SlimnasError(f"{who}: no {base}[.gz] in {root}")


def read_idx(path: Path, magic: int, ndim: int, who: str) -> np.ndarray:
    """Parse an unsigned-byte IDX file with the expected magic number and dimension count."""
    raw = _read_maybe_gz(path, who)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise SlimnasError(f"{who}: {path} is truncated ({len(raw)} bytes, header needs {header})")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise SlimnasError(
            f"{who}: {path} has magic number 0x{found:08x}, expected 0x{magic:08x} "
            "(not an IDX file of the right kind)"
        )
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "too long"
        raise SlimnasError(
            f"{who}: {path} is {what}: header says {'x'.join(map(str, dims))} = {expected} "
            f"bytes of data, found {got}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def load_idx_pair(
    root: Path, prefix: str, num_classes: int, who: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load ``{prefix}-images-idx3-ubyte`` + ``{prefix}-labels-idx1-ubyte`` as (N,1,H,W), (N,)."""
    img_path = find_idx_file(root, f"{prefix}-images-idx3-ubyte", who)
    lab_path = find_idx_file(root, f"{prefix}-labels-idx1-ubyte", who)
    images = read_idx(img_path, IDX_IMAGES_MAGIC, 3, who)
    labels = read_idx(lab_path, IDX_LABELS_MAGIC, 1, who)
    if images.shape[0] != labels.shape[0]:
        raise SlimnasError(
            f"{who}: {img_path.name} has {images.shape[0]} images but {lab_path.name} "
            f"has {labels.shape[0]} labels"
        )
    _check_labels(labels, num_classes, lab_path, who)
    x = torch.from_numpy(images).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def _check_labels(labels: np.ndarray, num_classes: int, path: Path, who: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise SlimnasError(
            f"{who}: {path} has labels outside 0..{num_classes - 1} "
            f"(min {labels.min()}, max {labels.max()})"
        )


def _numpy_globals() -> dict[tuple[str, str], Any]:
    # numpy 2 moved numpy.core to numpy._core; pickles may name either, so map both to the real one.
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
        ("codecs", "encode"): codecs.encode,
    }
    for mod in ("numpy.core", "numpy._core"):
        allowed[(f"{mod}.multiarray", "_reconstruct")] = multiarray._reconstruct
        if hasattr(numeric, "_frombuffer"):
            allowed[(f"{mod}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


# Rebuilds numpy arrays and plain containers only, so a hostile pickle cannot run code.
class _NumpyOnlyUnpickler(pickle.Unpickler):
    _allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def safe_unpickle(path: Path, who: str) -> Any:
    """Unpickle ``path`` allowing only numpy array reconstruction; anything else -> SlimnasError."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SlimnasError(f"{who}: cannot read {path}: {e}") from e
    try:
        # encoding="bytes" is what the original python2 CIFAR pickles need.
        return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as e:  # any failure of an untrusted pickle is a bad-input error
        raise SlimnasError(f"{who}: {path} is not a valid CIFAR batch pickle: {e}") from e


def _get(d: dict, key: str) -> Any:
    # Python-2 pickles give bytes keys, python-3 ones str keys.
    if key.encode() in d:
        return d[key.encode()]
    return d.get(key)


def _read_cifar_batch(path: Path, who: str) -> tuple[np.ndarray, np.ndarray]:
    batch = safe_unpickle(path, who)
    if not isinstance(batch, dict):
        raise SlimnasError(f"{who}: {path} does not hold a dict")
    data, labels = _get(batch, "data"), _get(batch, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        raise SlimnasError(f"{who}: {path} has no uint8 'data' array")
    if labels is None:
        raise SlimnasError(f"{who}: {path} has no 'labels'")
    try:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise SlimnasError(f"{who}: {path} has non-integer labels") from e
    n = data.shape[0] if data.ndim else 0
    if data.ndim < 2 or data.size != n * 3 * 32 * 32:
        raise SlimnasError(
            f"{who}: {path} data has shape {data.shape}, expected (N, 3072) for 3x32x32 images"
        )
    if n != labels.shape[0]:
        raise SlimnasError(f"{who}: {path} has {n} images but {labels.shape[0]} labels")
    _check_labels(labels, 10, path, who)
    return data.reshape(n, 3, 32, 32), labels


def load_cifar10(root: Path, split: str, who: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Load the CIFAR-10 python batches from ``root`` or ``root/cifar-10-batches-py``."""
    names = CIFAR_TRAIN_BATCHES if split == "train" else CIFAR_TEST_BATCHES
    if not (root / names[0]).is_file() and (root / CIFAR_DIRNAME).is_dir():
        root = root / CIFAR_DIRNAME
    xs, ys = [], []
    for name in names:
        path = root / name
        if not path.is_file():
            raise SlimnasError(f"{who}: no {name} in {root}")
        x, y = _read_cifar_batch(path, who)
        xs.append(x)
        ys.append(y)
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def _list_dirs(path: Path) -> list[Path]:
    return sorted(
        (p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def _open_image(path: Path, mode: str, who: str) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert(mode), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise SlimnasError(f"{who}: cannot read image {path}: {e}") from e
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def load_imagefolder(
    root: Path, split: str, input_size: int | None, in_channels: int | None, who: str
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Load ``root/<split>/<class>/*`` (or ``root/<class>/*`` for train) into memory."""
    base = root / split
    if not base.is_dir():
        if split != "train":
            raise SlimnasError(f"{who}: no {split}/ directory in {root}")
        base = root
    class_dirs = _list_dirs(base)
    if not class_dirs:
        raise SlimnasError(f"{who}: no class directories in {base}")
    mode = "L" if in_channels == 1 else "RGB"
    images: list[torch.Tensor] = []
    labels: list[int] = []
    first: tuple[Path, tuple[int, int]] | None = None
    for label, cdir in enumerate(class_dirs):
        files = sorted(
            p
            for p in cdir.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise SlimnasError(f"{who}: class directory {cdir} has no images")
        for path in files:
            img = _open_image(path, mode, who)
            if input_size is not None:
                img = resize_uint8(img.unsqueeze(0), input_size)[0]
            hw = (img.shape[1], img.shape[2])
            if first is None:
                first = (path, hw)
            elif hw != first[1]:
                raise SlimnasError(
                    f"{who}: images differ in size ({first[1][0]}x{first[1][1]} {first[0]} vs "
                    f"{hw[0]}x{hw[1]} {path}); set input_size"
                )
            images.append(img)
            labels.append(label)
    x = torch.stack(images)
    return x, torch.tensor(labels, dtype=torch.int64), [d.name for d in class_dirs]


def load_sklearn_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """sklearn's bundled 8x8 digits as uint8 (1797, 1, 8, 8) scaled 0..16 -> 0..255."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    scaled = np.rint(bunch.images.astype(np.float64) * 255.0 / 16.0)
    x = torch.from_numpy(scaled.astype(np.uint8)).unsqueeze(1)
    return x, torch.from_numpy(bunch.target.astype(np.int64))
