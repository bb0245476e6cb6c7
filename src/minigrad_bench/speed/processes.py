"""The speed measurement repeated in fresh processes, combined into medians and ranges.

Some figures depend on the process, not only on the moment: OpenBLAS runs narrow GEMMs
at a rate that differs from one process to the next (docs/benchmarks.md), which moves the
GEMM floor, the im2col convolution and the VGG step by up to 1.5x. A single process can
therefore land on either side; several processes, each measuring both frameworks, show
the spread, and their median is the figure to quote.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

from minigrad_bench.speed import machine


def measure(processes: int, quick: bool = False, isa: str = "native") -> dict:
    """``speed.run`` in ``processes`` fresh interpreters, combined by ``combine``; their
    environment is ``machine.measuring_environment(isa)`` (the BLAS pins lifted)."""
    runs = []
    env = machine.measuring_environment(isa)
    with tempfile.TemporaryDirectory() as folder:
        for index in range(processes):
            path = os.path.join(folder, f"speed-{index}.json")
            command = [sys.executable, "-m", "minigrad_bench", "speed", "--processes", "1",
                       "--isa", isa, "--json", path] + (["--quick"] if quick else [])
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise RuntimeError(f"speed measurement process {index + 1} of {processes} "
                                   f"failed with code {done.returncode}: "
                                   f"{done.stderr.strip()[-500:]}")
            with open(path) as f:
                runs.append(json.load(f))
    return combine(runs)


def combine(runs: list[dict]) -> dict:
    """Medians of every number over the runs, plus ``<key>_range`` [min, max] for the
    ratios that the targets are about; text and the environment come from the first run."""
    first = runs[0]
    combined = {"environment": {**first["environment"], "processes": len(runs)},
                "rows": [_median_dict([run["rows"][i] for run in runs],
                                      ranged=("speedup_vs_torch", "fraction_of_floor",
                                              "gemm_floor_images_per_s",
                                              "floor_speedup_vs_torch"))
                         for i in range(len(first["rows"]))],
                "memory": [_median_dict([run["memory"][i] for run in runs],
                                        ranged=("peak_ratio", "step_ratio", "scratch_mib"))
                           for i in range(len(first.get("memory", [])))],
                "per_layer": [_median_dict([run["per_layer"][i] for run in runs])
                              for i in range(len(first["per_layer"]))],
                "cold_start": _median_dict([run["cold_start"] for run in runs],
                                           ranged=("process_seconds",))}
    if "epoch" in first:
        combined["epoch"] = _median_dict([run["epoch"] for run in runs], ranged=("seconds",))
    return combined


def _median_dict(items: list[dict], ranged: tuple[str, ...] = ()) -> dict:
    out = dict(items[0])
    for key, value in items[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = [item[key] for item in items]
            out[key] = statistics.median(values)
            if key in ranged:
                out[f"{key}_range"] = [min(values), max(values)]
    return out
