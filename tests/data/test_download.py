"""Downloads from a loopback HTTP server: the real files, a corrupt copy, a dropped transfer."""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from minigrad.data import datasets, load_cifar10, load_mnist
from minigrad.data.cifar import ARCHIVE_NAME
from minigrad.data.datasets import IDX_STEMS


class _Handler(BaseHTTPRequestHandler):
    """GET /<mode>/<set>/<file>: good, corrupt (one byte flipped), drop (half, then close), 404."""

    def do_GET(self):  # noqa: N802 (the http.server API)
        self.server.requests.append(self.path)
        _, mode, subset, name = self.path.split("/")
        source = self.server.folders.get(subset, Path("/nonexistent")) / name
        if mode == "missing" or not source.is_file():
            self.send_error(404)
            return
        payload = bytearray(source.read_bytes())
        if mode == "corrupt":
            payload[len(payload) // 2] ^= 0xFF
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if mode == "drop":
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(shared_data, cifar_root):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests = []
    httpd.folders = {"mnist": shared_data / "mnist", "cifar10": cifar_root / "cifar10"}
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.mirror = lambda mode, subset: f"{base}/{mode}/{subset}/"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_download_skips_missing_corrupt_and_dropped_mirrors_for_a_good_one(
    server, tmp_path, mnist, shared_data
):
    mirrors = [server.mirror(mode, "mnist") for mode in ("missing", "corrupt", "drop", "good")]
    loaded = load_mnist(tmp_path, mirrors=mirrors, progress=False)
    for got, want in zip(loaded, mnist, strict=True):
        np.testing.assert_array_equal(got, want)
    for stem in IDX_STEMS:
        downloaded = (tmp_path / "mnist" / f"{stem}.gz").read_bytes()
        assert downloaded == (shared_data / "mnist" / f"{stem}.gz").read_bytes()
    assert _leftovers(tmp_path / "mnist") == []
    assert len(server.requests) == 4 * len(mirrors)


def test_only_missing_files_are_downloaded(server, tmp_path, shared_data):
    (tmp_path / "mnist").mkdir()
    for stem in IDX_STEMS[1:]:
        (tmp_path / "mnist" / f"{stem}.gz").symlink_to(shared_data / "mnist" / f"{stem}.gz")
    load_mnist(tmp_path, mirrors=[server.mirror("good", "mnist")], progress=False)
    assert server.requests == [f"/good/mnist/{IDX_STEMS[0]}.gz"]


def test_when_every_mirror_fails_the_error_says_why_and_nothing_is_left(server, tmp_path):
    mirrors = [server.mirror(mode, "mnist") for mode in ("missing", "corrupt", "drop")]
    root = tmp_path / "fresh"
    with pytest.raises(FileNotFoundError) as error:
        load_mnist(root, mirrors=mirrors, progress=False)
    message = str(error.value)
    assert "MNIST files missing from" in message and str(root / "mnist") in message
    assert "404" in message and "MD5" in message and "connection closed after" in message
    assert "by hand" in message
    assert not root.exists()


def test_a_failed_download_leaves_an_existing_folder_untouched(server, tmp_path):
    (tmp_path / "mnist").mkdir()
    with pytest.raises(FileNotFoundError, match="connection closed after"):
        load_mnist(tmp_path, mirrors=[server.mirror("drop", "mnist")], progress=False)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_an_unreachable_mirror_is_reported(tmp_path):
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FileNotFoundError, match=f"127.0.0.1:{port}.*refused"):
        load_mnist(tmp_path, mirrors=[f"http://127.0.0.1:{port}/"], progress=False)


def test_mirrors_must_be_http_urls(tmp_path):
    with pytest.raises(FileNotFoundError, match="must be http:// or https://"):
        load_mnist(tmp_path, mirrors=["file:///etc/"], progress=False)


def test_the_progress_bar_names_the_file(server, tmp_path, shared_data, capsys):
    (tmp_path / "mnist").mkdir()
    for stem in IDX_STEMS[:3]:
        (tmp_path / "mnist" / f"{stem}.gz").symlink_to(shared_data / "mnist" / f"{stem}.gz")
    load_mnist(tmp_path, mirrors=[server.mirror("good", "mnist")], progress=True)
    assert f"{IDX_STEMS[3]}.gz" in capsys.readouterr().err


def test_the_module_mirror_list_is_the_default(server, tmp_path, monkeypatch):
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [server.mirror("good", "mnist")])
    assert load_mnist(tmp_path, progress=False)[0].shape == (60000, 1, 28, 28)


def test_cifar10_archive_download_is_verified_and_read(
    server, tmp_path, cifar_root, cifar_subset, monkeypatch
):
    # the real archive is not available offline: accept the fixture archive's MD5 as published
    archive = cifar_root / "cifar10" / ARCHIVE_NAME
    fixture_md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(datasets.CIFAR10_MD5, ARCHIVE_NAME, fixture_md5)
    mirrors = [server.mirror("corrupt", "cifar10"), server.mirror("good", "cifar10")]
    loaded = load_cifar10(tmp_path, mirrors=mirrors, progress=False)
    for got, want in zip(loaded, cifar_subset, strict=True):
        np.testing.assert_array_equal(got, want)
    assert (tmp_path / "cifar10" / ARCHIVE_NAME).read_bytes() == archive.read_bytes()
