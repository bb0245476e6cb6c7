"""Atomic file writes: a reader sees the old file or the complete new one, never a part.

The new content goes to a temp file beside the target, ``.<name>.<8 random>.minigrad.tmp``,
which is flushed, fsynced and renamed over the target; the folder is then fsynced so the
rename itself survives a power loss. The writer holds an exclusive ``flock`` on its temp
file until the rename, so a temp file that nobody holds and that is older than
``STALE_SECONDS`` was left by a writer that died (``kill -9``): the next write to the same
target removes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator

try:
    import fcntl
except ImportError:  # no flock (Windows): stale temp files are then left alone
    fcntl = None

SUFFIX = ".minigrad.tmp"
STALE_SECONDS = 60.0  # far longer than the moment between creating a temp file and locking it
UNSYNCABLE = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF}  # folder fsync


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Opens a temp file next to ``path``; on success renames it over ``path``.

    A process killed mid-write leaves the previous file intact (plus a stray temp file
    that the next write to ``path`` removes); on an exception the temp file is removed
    and an ``OSError`` that names no file (a full disk, say) is raised again naming
    ``path``. The new file gets the permissions a plain ``open`` would give it (0666 less
    the umask).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=SUFFIX)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        os.chmod(tmp, 0o666 & ~_umask())
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline="" if encoding else None) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
            os.replace(tmp, path)  # still locked: a sweeper never sees it unlocked before
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if isinstance(error, OSError) and error.errno is not None and error.filename is None:
            # OSError(errno, ...) picks the subclass for the errno, as the original had
            reason = f"{error.strerror or os.strerror(error.errno)} (while writing it; unchanged)"
            raise OSError(error.errno, reason, path) from error
        raise
    _fsync_folder(folder)
    _sweep_stale(folder, name)


def _fsync_folder(folder: str) -> None:
    """Makes the rename durable: on POSIX it lives in the folder's entry table."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a folder that cannot be opened (Windows) cannot be synced either
        return
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in UNSYNCABLE:  # some filesystems cannot sync folders: fine
            raise OSError(error.errno, error.strerror, folder) from error
    finally:
        os.close(fd)


def _sweep_stale(folder: str, name: str) -> None:
    """Removes temp files of writes to ``folder/name`` that died: unlocked and stale.

    Never raises: cleaning up must not fail the write that just succeeded.
    """
    if fcntl is None:
        return
    pattern = re.compile(re.escape(f".{name}.") + r"[a-z0-9_]{8}" + re.escape(SUFFIX))
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if pattern.fullmatch(entry.name):
                with contextlib.suppress(OSError):
                    _remove_if_abandoned(entry.path)


def _remove_if_abandoned(path: str) -> None:
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode) or time.time() - info.st_mtime < STALE_SECONDS:
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: a live writer
        if os.fstat(fd).st_ino == os.lstat(path).st_ino:
            os.remove(path)
    finally:
        os.close(fd)
