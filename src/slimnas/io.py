"""Atomic file writes (temp file + rename) and safe checkpoint loading."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from slimnas.errors import SlimnasError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: str | os.PathLike, path: str | os.PathLike, mode: int) -> None:
    """mkstemp/mkdtemp make private files; give the result the user's usual permissions."""
    os.chmod(tmp, mode & ~_umask())
    os.replace(tmp, path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path, 0o666)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch  # here, not at the top: the benchmark and search wings need no torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        _publish(tmp, path, 0o666)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """`torch.load(..., weights_only=True)`; any failure is one line naming the file.

    A file holding objects a weights-only load refuses (a pickle of arbitrary classes, a
    malicious file) is "not a slimnas checkpoint"; anything else unreadable is "truncated
    or corrupt". Torch's own advice to retry with weights_only=False is never passed on.
    """
    import pickle
    import warnings

    import torch

    path = Path(path)
    if not path.is_file():
        raise SlimnasError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # pickle-protocol chatter of the safe unpickler
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise SlimnasError(f"{path} is not a slimnas checkpoint: it holds objects that a safe "
                           "(weights-only) load refuses to run") from None
    except Exception:  # truncated zip, empty file, foreign bytes: one clear line
        raise SlimnasError(f"{path} is truncated or corrupt: not a readable checkpoint") \
            from None


def load_state_file(net: Any, path: str | os.PathLike, what: str) -> None:
    """Load the state_dict file `path` into `net` strictly (`weights_only`); a file that
    does not fit is one line: "<path> does not <what>: <torch's reason>"."""
    state = load_checkpoint(path, map_location="cpu")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint holding the weights
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError, KeyError) as e:
        detail = " ".join(str(e).split())[:300] or type(e).__name__
        raise SlimnasError(f"{path} does not {what}: {detail}") from None


def probe_writable(path: str | os.PathLike, is_dir: bool = True) -> None:
    """Refuse, before any work, an output location that cannot be written.

    Writes and removes a probe file in `path` (a directory to be) or in its parent (a file
    to be): root ignores permission bits, so only a real write tells. Directories created
    for the probe are removed again, so a command that fails later leaves nothing behind.
    """
    path = Path(path)
    where = path if is_dir else path.parent
    created: list[Path] = []
    try:
        missing = [d for d in (where, *where.parents) if not d.exists()]
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:  # another process made it meanwhile
                continue
            created.append(d)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".slimnas-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise SlimnasError(f"cannot write to {where}: {e.strerror or e}") from None
    finally:
        for d in reversed(created):
            with contextlib.suppress(OSError):
                d.rmdir()


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise SlimnasError(f"no such file: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SlimnasError(f"{path} is not valid JSON: {e}") from None


class NewDirectory:
    """Build a directory under a temp name and rename it into place only when complete.

    Refuses to touch an existing non-empty directory: nothing the user had is overwritten.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise SlimnasError(f"{self.path} already exists and is not empty; choose another --out")

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}."))
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if self.path.exists():
            self.path.rmdir()  # empty, checked above
        _publish(self.tmp, self.path, 0o777)
