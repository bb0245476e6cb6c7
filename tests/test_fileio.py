import os

import pytest

from minigrad.fileio import atomic_write


def test_atomic_write_replaces_whole_file_with_plain_open_permissions(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with atomic_write(path, "w") as f:
        f.write("new")
    assert path.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(path) as f:
        f.write(b"partial")
        raise RuntimeError("killed mid-write")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_atomic_write_has_one_home():
    import minigrad.checkpoint
    import minigrad.data.files

    assert "atomic_write" not in minigrad.checkpoint.__all__
    assert not hasattr(minigrad.data.files, "write_atomically")
