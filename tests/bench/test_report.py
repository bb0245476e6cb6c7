"""The report helpers both benchmark jobs share: one table layout, two named spreads."""

from __future__ import annotations

import math

import pytest

from minigrad_bench import report


def test_markdown_table_has_a_header_a_rule_and_one_line_per_row():
    table = report.markdown_table(("a", "b"), [[1, "x"], [2.5, None]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |", "| 2.5 | None |"]


def test_mean_std_over_seeds_skips_missing_values():
    fmt = "{:.2f}".format
    assert report.mean_std([1.0, 2.0, 3.0], fmt) == "2.00 ± 1.00"  # sample std
    assert report.mean_std([4.0, None, math.nan], fmt) == "4.00"
    assert report.mean_std([None], fmt) == "-"


def test_low_high_shows_a_range_over_processes_or_nothing():
    assert report.low_high([1.5, 1.75], "{:.2f}x") == " (1.50x-1.75x)"
    assert report.low_high(None, "{:.2f}x") == ""


def test_environment_records_both_frameworks_threads_and_the_device():
    torch = pytest.importorskip("torch")
    env = report.environment("cpu")
    assert {"date", "platform", "cpu_count", "numpy", "minigrad", "threads", "blas",
            "torch", "torch_threads"} <= set(env)
    assert env["torch"] == torch.__version__ and env["device"] == "cpu" and env["gpu"] is None
