"""Loading every supported on-disk format from small files written in tmp_path."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import slimnas.data.loader as loader
from slimnas.data import ImageData, load_dataset
from slimnas.errors import SlimnasError

# ---------------------------------------------------------------- IDX (MNIST family)


def idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    return (
        struct.pack(">I", magic)
        + b"".join(struct.pack(">I", d) for d in arr.shape)
        + (arr.astype(np.uint8).tobytes())
    )


def write_idx(path: Path, arr: np.ndarray, magic: int, gz: bool) -> Path:
    data = idx_bytes(arr, magic)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def make_idx_dir(root: Path, gz: bool, n: int = 7, h: int = 5, w: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = {}
    root.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", n), ("t10k", n - 2)):
        images = rng.integers(0, 256, size=(count, h, w), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        write_idx(root / f"{prefix}-images-idx3-ubyte", images, 0x803, gz)
        write_idx(root / f"{prefix}-labels-idx1-ubyte", labels, 0x801, gz)
        out[prefix] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_round_trip(tmp_path: Path, gz: bool, name: str) -> None:
    ref = make_idx_dir(tmp_path, gz)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        data = load_dataset(name, str(tmp_path), split=split)
        images, labels = ref[prefix]
        assert isinstance(data, ImageData)
        assert data.name == name and data.num_classes == 10
        assert data.x.dtype == torch.uint8 and data.y.dtype == torch.int64
        assert data.x.shape == (len(labels), 1, 5, 4) and len(data) == len(labels)
        assert np.array_equal(data.x[:, 0].numpy(), images)
        assert np.array_equal(data.y.numpy(), labels.astype(np.int64))


def test_idx_mixed_plain_and_gz(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(3, 2, 2), dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", images, 0x803, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, 2, 3]), 0x801, gz=True)
    data = load_dataset("mnist", tmp_path)
    assert data.y.tolist() == [1, 2, 3]
    assert np.array_equal(data.x[:, 0].numpy(), images)


def test_fashion_mnist_default_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert loader.FASHION_MNIST_DEFAULT_ROOT == "/usr/share/datasets/fashion-mnist"
    make_idx_dir(tmp_path, gz=True)
    monkeypatch.setattr(loader, "FASHION_MNIST_DEFAULT_ROOT", str(tmp_path))
    assert load_dataset("fashion-mnist").x.shape == (7, 1, 5, 4)
    monkeypatch.setattr(loader, "FASHION_MNIST_DEFAULT_ROOT", str(tmp_path / "nope"))
    with pytest.raises(SlimnasError, match="nope"):
        load_dataset("fashion-mnist")


def test_mnist_requires_root() -> None:
    with pytest.raises(SlimnasError, match="root is required"):
        load_dataset("mnist")


def test_idx_missing_dir_and_file(tmp_path: Path) -> None:
    with pytest.raises(SlimnasError, match="does not exist"):
        load_dataset("mnist", tmp_path / "missing")
    with pytest.raises(SlimnasError, match=r"fashion-mnist: no train-images-idx3-ubyte\[\.gz\] in"):
        load_dataset("fashion-mnist", tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 2, 2)), 0x803, gz=False)
    with pytest.raises(SlimnasError, match="train-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path)


def test_idx_bad_magic(tmp_path: Path) -> None:
    make_idx_dir(tmp_path, gz=False)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((7, 5, 4)), 0x801, gz=False)
    with pytest.raises(SlimnasError, match=r"train-images-idx3-ubyte.*magic") as err:
        load_dataset("mnist", tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("keep", [3, 10, -1])
def test_idx_truncated_plain(tmp_path: Path, keep: int) -> None:
    make_idx_dir(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(SlimnasError, match=r"train-images-idx3-ubyte.*truncated"):
        load_dataset("mnist", tmp_path)


def test_idx_truncated_gz(tmp_path: Path) -> None:
    make_idx_dir(tmp_path, gz=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-6])
    with pytest.raises(SlimnasError, match="train-labels-idx1-ubyte.gz"):
        load_dataset("mnist", tmp_path)


def test_idx_count_mismatch_and_bad_labels(tmp_path: Path) -> None:
    make_idx_dir(tmp_path, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(6), 0x801, gz=False)
    with pytest.raises(SlimnasError, match="7 images but .* 6 labels"):
        load_dataset("mnist", tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(7, 10), 0x801, gz=False)
    with pytest.raises(SlimnasError, match="labels outside"):
        load_dataset("mnist", tmp_path)


# ---------------------------------------------------------------- CIFAR-10 python batches


def make_cifar_dir(root: Path, n: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    root.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for i in range(1, 6):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        # Bytes keys and protocol 2, like the original python-2 files.
        batch = {b"batch_label": b"training batch", b"data": data, b"labels": labels}
        with open(root / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch, f, protocol=2)
        xs.append(data)
        ys.extend(labels)
    test_x = rng.integers(0, 256, size=(n + 1, 3072), dtype=np.uint8)
    test_y = rng.integers(0, 10, size=n + 1)
    with open(root / "test_batch", "wb") as f:
        pickle.dump({"data": test_x, "labels": test_y}, f)
    return np.concatenate(xs), np.array(ys), test_x, test_y


def test_cifar_round_trip(tmp_path: Path) -> None:
    train_x, train_y, test_x, test_y = make_cifar_dir(tmp_path)
    train = load_dataset("cifar10", tmp_path)
    assert train.x.shape == (15, 3, 32, 32) and train.x.dtype == torch.uint8
    assert train.num_classes == 10 and train.name == "cifar10"
    assert np.array_equal(train.x.reshape(15, -1).numpy(), train_x)
    assert np.array_equal(train.y.numpy(), train_y)
    # Row layout is 1024 red, 1024 green, 1024 blue, each row-major 32x32.
    assert int(train.x[0, 1, 2, 5]) == int(train_x[0, 1024 + 2 * 32 + 5])
    test = load_dataset("cifar10", tmp_path, split="test")
    assert np.array_equal(test.x.reshape(4, -1).numpy(), test_x)
    assert np.array_equal(test.y.numpy(), test_y)


def test_cifar_parent_dir_and_protocol5(tmp_path: Path) -> None:
    inner = tmp_path / "cifar-10-batches-py"
    make_cifar_dir(inner)
    x = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    with open(inner / "test_batch", "wb") as f:
        pickle.dump({b"data": x, b"labels": [3, 4]}, f, protocol=5)
    data = load_dataset("cifar10", tmp_path, split="test")
    assert data.y.tolist() == [3, 4]
    assert np.array_equal(data.x.reshape(2, -1).numpy(), x)


def test_cifar_numpy1_pickle_names(tmp_path: Path) -> None:
    make_cifar_dir(tmp_path)
    x = np.full((1, 3072), 7, dtype=np.uint8)
    blob = pickle.dumps({b"data": x, b"labels": [9]}, protocol=2)
    # The real CIFAR files were written by numpy 1.x, which names numpy.core.multiarray.
    blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in blob
    (tmp_path / "test_batch").write_bytes(blob)
    data = load_dataset("cifar10", tmp_path, split="test")
    assert data.y.tolist() == [9] and int(data.x.min()) == int(data.x.max()) == 7


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar_malicious_pickle_is_refused(tmp_path: Path) -> None:
    make_cifar_dir(tmp_path)
    marker = tmp_path / "pwned"
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": _Evil(marker), b"labels": [0]}, f, protocol=2)
    with pytest.raises(SlimnasError, match="test_batch"):
        load_dataset("cifar10", tmp_path, split="test")
    assert not marker.exists()


def test_cifar_bad_files(tmp_path: Path) -> None:
    with pytest.raises(SlimnasError, match="no data_batch_1"):
        load_dataset("cifar10", tmp_path)
    make_cifar_dir(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(SlimnasError, match="no data_batch_3"):
        load_dataset("cifar10", tmp_path)
    bad = {
        "not a pickle": b"hello world",
        "not a dict": pickle.dumps([1, 2, 3]),
        "bad shape": pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}),
        "count": pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}),
        "float": pickle.dumps({b"data": np.zeros((1, 3072)), b"labels": [0]}),
        "range": pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]}),
    }
    for blob in bad.values():
        (tmp_path / "test_batch").write_bytes(blob)
        with pytest.raises(SlimnasError, match="test_batch"):
            load_dataset("cifar10", tmp_path, split="test")


# ---------------------------------------------------------------- ImageFolder


def make_folder(base: Path, size: tuple[int, int] = (12, 10)) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(3)
    ref: dict[str, list[np.ndarray]] = {}
    # "dog" is written first so the test sees that classes are sorted by name, not creation.
    for cls in ("dog", "cat"):
        (base / cls).mkdir(parents=True)
        ref[cls] = []
        for i in range(5):
            if cls == "cat" and i == 2:
                arr = rng.integers(0, 256, size=size, dtype=np.uint8)
                Image.fromarray(arr, mode="L").save(base / cls / f"img{i}.png")
                arr = np.repeat(arr[:, :, None], 3, axis=2)
            else:
                arr = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
                Image.fromarray(arr, mode="RGB").save(base / cls / f"img{i}.png")
            ref[cls].append(arr)
    (base / "cat" / "notes.txt").write_text("not an image")
    return ref


def test_imagefolder_round_trip(tmp_path: Path) -> None:
    ref = make_folder(tmp_path / "train")
    data = load_dataset("imagefolder", tmp_path)
    assert data.x.shape == (10, 3, 12, 10) and data.x.dtype == torch.uint8
    assert data.num_classes == 2 and data.name == "imagefolder"
    assert data.y.tolist() == [0] * 5 + [1] * 5
    expected = np.stack(ref["cat"] + ref["dog"]).transpose(0, 3, 1, 2)
    assert np.array_equal(data.x.numpy(), expected)


def test_imagefolder_flat_layout_and_splits(tmp_path: Path) -> None:
    ref = make_folder(tmp_path)
    data = load_dataset("imagefolder", tmp_path, split="train")
    assert np.array_equal(data.x[0].numpy(), ref["cat"][0].transpose(2, 0, 1))
    with pytest.raises(SlimnasError, match="no test/ directory"):
        load_dataset("imagefolder", tmp_path, split="test")
    val = tmp_path / "other" / "val"
    make_folder(val)
    assert len(load_dataset("imagefolder", tmp_path / "other", split="val")) == 10


def test_imagefolder_grayscale_and_resize(tmp_path: Path) -> None:
    ref = make_folder(tmp_path / "train")
    gray = load_dataset("imagefolder", tmp_path, in_channels=1)
    assert gray.x.shape == (10, 1, 12, 10)
    assert np.array_equal(gray.x[2, 0].numpy(), ref["cat"][2][:, :, 0])
    pil_l = np.asarray(Image.fromarray(ref["dog"][1]).convert("L"))
    assert np.array_equal(gray.x[6, 0].numpy(), pil_l)
    small = load_dataset("imagefolder", tmp_path, input_size=8)
    assert small.x.shape == (10, 3, 8, 8)
    src = torch.from_numpy(ref["cat"][0]).permute(2, 0, 1)[None].float()
    want = F.interpolate(src, size=(8, 8), mode="bilinear", align_corners=False, antialias=False)
    assert torch.equal(small.x[0], want[0].round().clamp(0, 255).to(torch.uint8))


def test_imagefolder_errors(tmp_path: Path) -> None:
    with pytest.raises(SlimnasError, match="root is required"):
        load_dataset("imagefolder")
    with pytest.raises(SlimnasError, match="does not exist"):
        load_dataset("imagefolder", tmp_path / "missing")
    with pytest.raises(SlimnasError, match="no class directories"):
        load_dataset("imagefolder", tmp_path)
    make_folder(tmp_path / "train")
    Image.new("RGB", (7, 7)).save(tmp_path / "train" / "dog" / "z_odd.jpg")
    with pytest.raises(SlimnasError, match="set input_size"):
        load_dataset("imagefolder", tmp_path)
    assert load_dataset("imagefolder", tmp_path, input_size=6).x.shape == (11, 3, 6, 6)
    (tmp_path / "train" / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(SlimnasError, match="broken.png"):
        load_dataset("imagefolder", tmp_path, input_size=6)
    (tmp_path / "train" / "dog" / "broken.png").unlink()
    (tmp_path / "train" / "empty").mkdir()
    with pytest.raises(SlimnasError, match="has no images"):
        load_dataset("imagefolder", tmp_path, input_size=6)


# ---------------------------------------------------------------- digits, options, names


def test_digits() -> None:
    from sklearn.datasets import load_digits

    data = load_dataset("digits")
    assert data.x.shape == (1797, 1, 8, 8) and data.x.dtype == torch.uint8
    assert int(data.x.min()) == 0 and int(data.x.max()) == 255
    assert data.num_classes == 10 and set(data.y.tolist()) == set(range(10))
    ref = load_digits()
    want = np.rint(ref.images * 255 / 16).astype(np.uint8)
    assert np.array_equal(data.x[:, 0].numpy(), want)
    assert np.array_equal(data.y.numpy(), ref.target)
    with pytest.raises(SlimnasError, match="no test split.*held-out"):
        load_dataset("digits", split="test")


def test_digits_resize_and_channels() -> None:
    base = load_dataset("digits")
    big = load_dataset("digits", input_size=16, in_channels=3)
    assert big.x.shape == (1797, 3, 16, 16) and big.x.dtype == torch.uint8
    assert torch.equal(big.x[:, 0], big.x[:, 1]) and torch.equal(big.x[:, 0], big.x[:, 2])
    want = F.interpolate(base.x.float(), size=(16, 16), mode="bilinear", align_corners=False)
    assert torch.equal(big.x[:, :1], want.round().clamp(0, 255).to(torch.uint8))


def test_rgb_to_gray_uses_luminance(tmp_path: Path) -> None:
    make_cifar_dir(tmp_path)
    rgb = load_dataset("cifar10", tmp_path, split="test")
    gray = load_dataset("cifar10", tmp_path, split="test", in_channels=1)
    assert gray.x.shape == (4, 1, 32, 32)
    r, g, b = (rgb.x[:, i].double() for i in range(3))
    want = (0.299 * r + 0.587 * g + 0.114 * b).round()
    assert (gray.x[:, 0].double() - want).abs().max() <= 1


def test_bad_names_and_options(tmp_path: Path) -> None:
    with pytest.raises(SlimnasError, match="known: cifar10, digits, fashion-mnist, imagefolder, mnist"):
        load_dataset("svhn")
    with pytest.raises(SlimnasError, match="split must be 'train' or 'test'"):
        load_dataset("digits", split="val")
    with pytest.raises(SlimnasError, match="in_channels must be 1 or 3"):
        load_dataset("digits", in_channels=2)
    with pytest.raises(SlimnasError, match="input_size must be a positive integer"):
        load_dataset("digits", input_size=0)
    make_idx_dir(tmp_path, gz=False)
    assert load_dataset("Fashion_MNIST", tmp_path).name == "fashion-mnist"


def test_imagedata_subset_and_validation() -> None:
    x = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1)
    data = ImageData(x, torch.tensor([0, 1, 0, 1, 0, 1]), 2, "toy")
    assert len(data) == 6
    sub = data.subset(torch.tensor([4, 1]))
    assert sub.x.flatten().tolist() == [4, 1] and sub.y.tolist() == [0, 1]
    assert sub.num_classes == 2 and sub.name == "toy"
    assert data.subset(data.y == 1).x.flatten().tolist() == [1, 3, 5]
    with pytest.raises(SlimnasError, match="5 labels"):
        ImageData(x, torch.zeros(5, dtype=torch.int64), 2, "toy")
    with pytest.raises(SlimnasError, match="uint8"):
        ImageData(x.float(), torch.zeros(6, dtype=torch.int64), 2, "toy")
