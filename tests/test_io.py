import os
import stat

import pytest
import torch

from slimnas.errors import SlimnasError
from slimnas.io import NewDirectory, atomic_torch_save, atomic_write_json, load_checkpoint


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_atomic_writes_use_the_umask_and_leave_no_temp_files(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        atomic_torch_save({"w": torch.ones(2)}, tmp_path / "m.pt")
        with NewDirectory(tmp_path / "d") as d:
            (d / "f").write_text("hi")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.json") == 0o644 and _mode(tmp_path / "m.pt") == 0o644
    assert _mode(tmp_path / "d") == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "d", "m.pt"]


def test_new_directory_is_all_or_nothing(tmp_path):
    with pytest.raises(RuntimeError), NewDirectory(tmp_path / "d") as d:
        (d / "half").write_text("x")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "mine").write_text("user data")
    with pytest.raises(SlimnasError, match="not empty"):
        NewDirectory(tmp_path / "keep")
    assert (tmp_path / "keep" / "mine").read_text() == "user data"


def test_load_checkpoint_is_weights_only_and_clear_on_bad_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SlimnasError, match="cannot load checkpoint"):
        load_checkpoint(bad)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(SlimnasError):
        load_checkpoint(tmp_path / "evil.pt")
