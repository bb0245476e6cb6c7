"""atomic_write: whole replacements, durable renames, named errors, stale temp files swept."""

import errno
import os
import subprocess
import sys
import tempfile
import time

import pytest

from minigrad import fileio
from minigrad.fileio import SUFFIX, atomic_write

fcntl = pytest.importorskip("fcntl")  # sweeping relies on flock


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


def test_a_full_disk_error_names_the_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "ckpt.npz"
    path.write_bytes(b"old")
    with pytest.raises(OSError) as error, atomic_write(path) as f:
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what write() raises then
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(path)
    assert "No space left on device" in str(error.value) and "ckpt.npz" in str(error.value)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["ckpt.npz"]


def test_an_fsync_failure_is_an_error_naming_the_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left.*x.bin"):
        with atomic_write(tmp_path / "x.bin") as f:
            f.write(b"data")
    assert os.listdir(tmp_path) == []


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    path = tmp_path / "x.bin"
    synced, real_fsync = [], os.fsync

    def recording_fsync(fd):
        is_folder = os.path.isdir(f"/proc/self/fd/{fd}") if sys.platform == "linux" else None
        synced.append((is_folder, path.exists() and path.read_bytes() == b"new"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    with atomic_write(path) as f:
        f.write(b"new")
    assert synced[0][1] is False  # the temp file, before the rename
    assert synced[-1][1] is True  # then the folder, after it
    if sys.platform == "linux":
        assert [is_folder for is_folder, _ in synced] == [False, True]


def temp_file(folder, target: str, age: float) -> str:
    """A temp file named as atomic_write names them, left unlocked, ``age`` seconds old."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target}.", suffix=SUFFIX)
    os.write(fd, b"half a checkpoint")
    os.close(fd)
    then = time.time() - age
    os.utime(tmp, (then, then))
    return tmp


def test_a_temp_file_left_by_a_writer_killed_mid_write_is_swept_by_the_next_write(tmp_path):
    script = (
        "import os, signal, sys; from minigrad.fileio import atomic_write\n"
        "with atomic_write(sys.argv[1]) as f:\n"
        "    f.write(b'half'); f.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    path = tmp_path / "ckpt.npz"
    killed = subprocess.run([sys.executable, "-c", script, str(path)], env=os.environ.copy())
    assert killed.returncode == -9
    (stale,) = os.listdir(tmp_path)
    assert stale.startswith(".ckpt.npz.") and stale.endswith(SUFFIX)
    then = time.time() - 2 * fileio.STALE_SECONDS
    os.utime(tmp_path / stale, (then, then))
    with atomic_write(path) as f:
        f.write(b"whole")
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_temp_files_of_live_writers_recent_writes_or_other_targets_are_kept(tmp_path):
    old = 2 * fileio.STALE_SECONDS
    held = temp_file(tmp_path, "ckpt.npz", old)
    holder = os.open(held, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a writer still at work (a huge file, say)
    recent = temp_file(tmp_path, "ckpt.npz", 0)
    other_target = temp_file(tmp_path, "other.npz", old)
    not_ours = tmp_path / ".ckpt.npz.abcdefgh.tmp"
    not_ours.write_bytes(b"someone else's")
    link = tmp_path / f".ckpt.npz.zzzzzzzz{SUFFIX}"
    link.symlink_to(not_ours)
    swept = temp_file(tmp_path, "ckpt.npz", old)
    try:
        with atomic_write(tmp_path / "ckpt.npz") as f:
            f.write(b"whole")
    finally:
        os.close(holder)
    left = set(os.listdir(tmp_path))
    assert os.path.basename(swept) not in left
    expected = {held, recent, other_target, not_ours, link}
    assert {os.path.basename(p) for p in expected} | {"ckpt.npz"} == left
    assert not_ours.read_bytes() == b"someone else's"


def test_without_flock_nothing_is_swept(tmp_path, monkeypatch):
    stale = temp_file(tmp_path, "x.bin", 2 * fileio.STALE_SECONDS)
    monkeypatch.setattr(fileio, "fcntl", None)
    with atomic_write(tmp_path / "x.bin") as f:
        f.write(b"data")
    assert os.path.exists(stale)
def test_atomic_write_has_one_home():
    import minigrad.checkpoint
    import minigrad.data.files

    assert "atomic_write" not in minigrad.checkpoint.__all__
    assert not hasattr(minigrad.data.files, "write_atomically")
