"""Every speed measurement in one call (``run``), and the ``speed`` command (``main``)."""

from __future__ import annotations

import json

from minigrad.fileio import atomic_write
from minigrad_bench.report import environment
from minigrad_bench.speed.table import format_table
from minigrad_bench.speed.targets import (
    cold_start,
    per_layer,
    seed_net_inference,
    seed_net_training,
    torch_with_our_threads,
    vgg_conv,
    vgg_training,
)


def run(quick: bool = False, epoch: bool = True) -> dict:
    """Every measurement; ``quick`` shrinks the rounds (for tests: numbers then mean little)."""
    scale = dict(rounds=1, repeats=1) if quick else {}
    torch_with_our_threads()  # before the environment records torch's thread count
    results = {"environment": environment("cpu"), "rows": [
        seed_net_training(**scale), seed_net_inference(**scale),
        vgg_conv(batch=8 if quick else 128, **scale),
        vgg_conv(batch=8 if quick else 128, algorithm="im2col", **scale),
        vgg_training(batch=4 if quick else 32, size=16 if quick else 28, **scale),
    ], "per_layer": per_layer(repeats=1 if quick else 10)}
    if epoch:
        from minigrad_bench.speed.epoch import reference_epoch

        results["epoch"] = reference_epoch(n_train=2048 if quick else 48_000,
                                           n_val=512 if quick else 12_000)
    results["cold_start"] = cold_start()
    return results


def main(quick: bool = False, json_path: str | None = None, processes: int = 1) -> int:
    """Prints the table; with ``processes`` > 1, each measurement runs in that many fresh
    processes and the table shows medians and ranges (``speed.processes``)."""
    if processes > 1:
        from minigrad_bench.speed.processes import measure

        results = measure(processes, quick=quick)
    else:
        results = run(quick=quick)
    print(format_table(results))
    if json_path:
        with atomic_write(json_path, "w") as f:
            json.dump(results, f, indent=2)
    return 0
