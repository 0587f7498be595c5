"""What every exported network shares, width or cell: the file names, the ONNX writer,
the checked JSON descriptor and the weights loaded back against it."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from slimnas.errors import SlimnasError
from slimnas.io import load_state_file, read_json

WEIGHTS_FILE = "model.pt"
ONNX_FILE = "model.onnx"
ONNX_OPSET = 18


def export_onnx(net: torch.nn.Module, input_shape: list[int], file: Path,
                torchscript_first: bool = False) -> None:
    """Write `net` (eval mode) as a single-file ONNX model: input "input", output "logits".

    The batch axis is dynamic. Tries the dynamo-based exporter first and falls back to
    the TorchScript one if it fails (`torchscript_first` reverses the order: much faster
    for networks with many small branches, like cells); checked with `onnx.checker`.
    """
    import onnx as onnx_lib

    x = torch.zeros(*input_shape)
    names = {"input_names": ["input"], "output_names": ["logits"], "opset_version": ONNX_OPSET}

    def dynamo() -> None:
        torch.onnx.export(
            net, (x,), str(file), dynamo=True, external_data=False, verbose=False,
            dynamic_shapes=({0: torch.export.Dim("batch")},), **names,
        )

    def torchscript() -> None:
        torch.onnx.export(
            net, (x,), str(file), dynamo=False, verbose=False,
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **names,
        )

    first, second = (torchscript, dynamo) if torchscript_first else (dynamo, torchscript)
    try:
        with _quiet():
            first()
    except Exception:
        for leftover in (file, file.with_name(file.name + ".data")):
            leftover.unlink(missing_ok=True)
        with _quiet():
            second()
    onnx_lib.checker.check_model(str(file), full_check=True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress prints, warnings and log lines."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def read_export_json(directory: str | os.PathLike, name: str, fmt: str,
                     required: tuple[str, ...] = (), what: str = "an exported model") -> dict:
    """A JSON object `name` of an export directory, checked for its `format` and fields."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SlimnasError(f"no exported model at {directory}: not a directory")
    file = directory / name
    if not file.is_file():
        raise SlimnasError(f"{directory} is not {what}: no {name}")
    arch = read_json(file)
    if not isinstance(arch, dict) or arch.get("format") != fmt:
        found = arch.get("format") if isinstance(arch, dict) else None
        raise SlimnasError(f"{file}: unknown format {found!r}, expected {fmt!r}")
    missing = [k for k in required if k not in arch]
    if missing:
        raise SlimnasError(f"{file}: missing field {missing[0]!r}")
    return arch


def load_weights(net: torch.nn.Module, directory: str | os.PathLike, described_by: str) -> None:
    """Load `directory`'s WEIGHTS_FILE into `net` strictly; a mismatch is one line."""
    load_state_file(net, Path(directory) / WEIGHTS_FILE, f"match {described_by}")
