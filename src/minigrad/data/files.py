"""Where data files live, their checksums and downloads.

The data root is the ``root`` argument, else ``$MINIGRAD_DATA``, else the user
cache folder (``$XDG_CACHE_HOME/minigrad``, by default ``~/.cache/minigrad``).
A data folder may be read-only: loading never writes there. Checksums already
verified are remembered in memory and in ``<cache folder>/checksums.json``
(keyed by path, size and modification time), never next to the data.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from minigrad.fileio import atomic_write

ENV_VAR = "MINIGRAD_DATA"
CHUNK = 1 << 20
_VERIFIED: dict[str, str] = {}


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/minigrad``, by default ``~/.cache/minigrad``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "minigrad"


def resolve_root(root: str | os.PathLike | None) -> tuple[Path, str]:
    """The data root and a phrase saying where it came from (for error messages)."""
    if root is not None:
        return Path(root).expanduser(), "the root argument"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    return cache_dir(), f"the default (root=None and ${ENV_VAR} unset)"


def file_md5(path: Path) -> str:
    """The MD5 of a file's bytes, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _cache_key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _disk_cache_file() -> Path:
    return cache_dir() / "checksums.json"


def _read_disk_cache() -> dict[str, str]:
    try:
        entries = json.loads(_disk_cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def remember_verified(path: Path, md5: str) -> None:
    """Records that ``path``, as it is now, has checksum ``md5`` (memory and, if possible, disk)."""
    key = _cache_key(path)
    _VERIFIED[key] = md5
    stale = key.rsplit("|", 2)[0] + "|"  # older versions of the same file
    entries = {k: v for k, v in _read_disk_cache().items() if not k.startswith(stale)}
    entries[key] = md5
    try:
        _disk_cache_file().parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(_disk_cache_file(), "w") as out:
            json.dump(entries, out, indent=0)
    except OSError:
        pass  # a read-only home only costs a re-hash next time


def verify_md5(path: Path, expected: str) -> None:
    """Checks a file against its published MD5, hashing only if not verified before.

    Raises:
        ValueError: the checksum differs (corrupt, truncated or not the official file).
    """
    key = _cache_key(path)
    if _VERIFIED.get(key) == expected or _read_disk_cache().get(key) == expected:
        _VERIFIED[key] = expected
        return
    actual = file_md5(path)
    if actual != expected:
        raise ValueError(
            f"{path}: MD5 {actual} differs from the published {expected}; the file is corrupt, "
            "truncated or not the official one. Delete it and load again (download=True), place "
            "a good copy by hand, or pass verify=False for files you built yourself."
        )
    remember_verified(path, expected)


def download(
    filename: str,
    mirrors: Sequence[str],
    folder: Path,
    md5: str,
    progress: bool = True,
    timeout: float = 30.0,
) -> list[str]:
    """Fetches ``filename`` from the first mirror that serves it whole and with the right MD5.

    Each mirror is a base URL (http or https); the file is streamed to a
    temporary file in ``folder``, checked, then renamed into place, so
    ``folder`` only ever gains complete, verified files.

    Returns:
        One line per failed attempt (``url: reason``); empty if the first mirror worked.

    Raises:
        FileNotFoundError: every mirror failed; the message lists why.
    """
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            _fetch(url, folder / filename, md5, progress, timeout)
            return failures
        except (OSError, ValueError, http.client.HTTPException) as err:
            failures.append(f"{url}: {err}")
    raise FileNotFoundError("\n".join(failures) or "no mirrors given")


def _fetch(url: str, path: Path, md5: str, progress: bool, timeout: float) -> None:
    if not url.startswith(("http://", "https://")):
        raise ValueError("mirrors must be http:// or https:// URLs")
    request = urllib.request.Request(url, headers={"User-Agent": "minigrad"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        expected_size = response.length  # None when the server sends no Content-Length
        # A short or corrupt download raises inside the block: the partial file is removed
        # and nothing reaches ``path``.
        with atomic_write(path) as out:
            received, actual = _stream(response, out, expected_size, path.name, progress)
            if expected_size is not None and received != expected_size:
                raise ValueError(f"connection closed after {received} of {expected_size} bytes")
            if actual != md5:
                raise ValueError(f"MD5 {actual} differs from the published {md5}")
    remember_verified(path, md5)


def _stream(response, out, total: int | None, name: str, progress: bool) -> tuple[int, str]:
    """Copies the response body to ``out`` under a progress bar; returns (bytes, MD5)."""
    digest, received = hashlib.md5(), 0
    with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not progress) as bar:
        while chunk := response.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    out.flush()
    os.fsync(out.fileno())
    return received, digest.hexdigest()
