"""What every benchmark report shares: the machine it ran on, Markdown tables, and spreads.

Two kinds of repeated figures appear in the reports, with two names: accuracy runs repeat
over seeds and show ``mean ± std`` (``mean_std``); speed runs repeat over processes and show
the median with its range ``(low-high)`` (``low_high``).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

import minigrad
from minigrad import threads


def environment(device: str = "cpu") -> dict:
    """Versions, threads and the machine: recorded with every result.

    ``threads`` is minigrad's BLAS thread count, ``torch_threads`` torch's (the speed runs set
    it to minigrad's before they measure).
    """
    import torch

    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "minigrad": minigrad.__version__,
            "threads": threads.get_num_threads(), "blas": threads.blas_description(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "device": device, "gpu": gpu}


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """``| a | b |`` lines: the header, the ``|---|`` rule, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_std(values: Iterable[float | None], fmt: Callable[[float], str]) -> str:
    """``mean ± std`` (sample std) of a figure over seeds, the single value, or ``-``."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.fmean(values))} ± {fmt(statistics.stdev(values))}"


def low_high(bounds: Sequence[float] | None, template: str) -> str:
    """``" (low-high)"`` for a figure measured in several processes, ``""`` for one."""
    if bounds is None:
        return ""
    low, high = bounds
    return f" ({template.format(low)}-{template.format(high)})"
