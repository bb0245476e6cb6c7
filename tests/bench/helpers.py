"""Helpers for the bench tests: where the data is, and running the CLI in this process."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest

from minigrad_bench.__main__ import main


def data_root() -> Path | None:
    root = os.environ.get("MINIGRAD_DATA")
    return Path(root) if root else None


def require_mnist() -> None:
    root = data_root()
    if root is None or not (root / "mnist").is_dir():
        pytest.skip("MNIST not found: set MINIGRAD_DATA to the folder holding mnist/")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()
