import os
import stat

import pytest
import torch

from slimnas.errors import SlimnasError
from slimnas.io import (
    NewDirectory,
    atomic_torch_save,
    atomic_write_json,
    load_checkpoint,
    probe_writable,
)


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


def test_load_checkpoint_is_weights_only_and_one_line_on_bad_files(tmp_path):
    good = tmp_path / "good.pt"
    atomic_torch_save({"w": torch.ones(3)}, good)
    data = good.read_bytes()
    cases = {"truncated.pt": data[: len(data) // 2], "empty.pt": b"", "junk.pt": b"not a ckpt"}
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(SlimnasError) as e:
            load_checkpoint(tmp_path / name)
        msg = str(e.value)
        said = "not a slimnas checkpoint" if name == "junk.pt" else "truncated or corrupt"
        assert said in msg and "\n" not in msg and name in msg

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(SlimnasError) as e:
        load_checkpoint(tmp_path / "evil.pt")
    msg = str(e.value)
    assert "not a slimnas checkpoint" in msg and "\n" not in msg
    assert "weights_only=False" not in msg and "weights_only` set to `False" not in msg
    assert not (tmp_path / "pwned").exists()


def test_probe_writable_refuses_unwritable_places_and_leaves_nothing(tmp_path, monkeypatch):
    probe_writable(tmp_path / "a" / "b")  # the directories it made for the probe go again
    assert not (tmp_path / "a").exists()
    (tmp_path / "c").mkdir()
    probe_writable(tmp_path / "c")  # an existing directory stays, with no probe file left
    assert (tmp_path / "c").is_dir() and not any((tmp_path / "c").iterdir())
    (tmp_path / "file").write_text("user data")
    with pytest.raises(SlimnasError, match="cannot write to"):
        probe_writable(tmp_path / "file" / "out")  # a path under a regular file
    assert (tmp_path / "file").read_text() == "user data"

    import tempfile

    def denied(*args, **kwargs):  # root ignores permission bits: fail the probe file itself
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(SlimnasError, match="Permission denied"):
        probe_writable(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()  # directories made for the probe are removed
