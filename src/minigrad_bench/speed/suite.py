"""Every speed measurement in one call (``run``), and the ``speed`` command (``main``)."""

from __future__ import annotations

import json

from minigrad.fileio import atomic_write
from minigrad_bench.report import environment
from minigrad_bench.speed import convnets, machine
from minigrad_bench.speed.table import format_table
from minigrad_bench.speed.targets import (
    cold_start,
    per_layer,
    seed_net_inference,
    seed_net_training,
    torch_with_our_threads,
    vgg_conv,
)


def convnet_rows(quick: bool = False) -> list[dict]:
    """Training and inference of every network in ``convnets.NETWORKS``, batch 32."""
    scale = dict(rounds=1, repeats=1, batch=2, side=8) if quick else {}
    return ([convnets.training(name, **scale) for name in convnets.NETWORKS] +
            [convnets.inference(name, **scale) for name in convnets.NETWORKS])


def memory_rows(quick: bool = False) -> list[dict]:
    """The VGG's peak process memory and its convolutions' largest scratch, batch 128."""
    scale = dict(batch=2, side=8) if quick else {}
    return [convnets.peak_memory("VGG 1x28x28", steps=1 if quick else 3, **scale),
            convnets.conv_scratch("VGG 1x28x28", **scale)]


def run(quick: bool = False, epoch: bool = True, isa: str = "native") -> dict:
    """Every measurement; ``quick`` shrinks the rounds (for tests: numbers then mean little)."""
    scale = dict(rounds=1, repeats=1) if quick else {}
    torch_with_our_threads()  # before the environment records torch's thread count
    results = {"environment": {**environment("cpu"), **machine.describe(isa)}, "rows": [
        seed_net_training(**scale), seed_net_inference(**scale),
        vgg_conv(batch=8 if quick else 128, **scale),
        vgg_conv(batch=8 if quick else 128, algorithm="im2col", **scale),
        *convnet_rows(quick),
    ], "memory": memory_rows(quick), "per_layer": per_layer(repeats=1 if quick else 10)}
    if epoch:
        from minigrad_bench.speed.epoch import reference_epoch

        results["epoch"] = reference_epoch(n_train=2048 if quick else 48_000,
                                           n_val=512 if quick else 12_000)
    results["cold_start"] = cold_start()
    return results


def main(quick: bool = False, json_path: str | None = None, processes: int = 1,
         isa: str = "native") -> int:
    """Prints the table; measures in ``processes`` fresh processes (medians and ranges,
    ``speed.processes``) whose environment has the BLAS pins lifted (``machine``), or in
    this one when it is a single process already in that environment."""
    if processes > 1 or not machine.is_measuring_environment(isa):
        from minigrad_bench.speed.processes import measure

        results = measure(processes, quick=quick, isa=isa)
    else:
        results = run(quick=quick, isa=isa)
    print(format_table(results))
    if json_path:
        with atomic_write(json_path, "w") as f:
            json.dump(results, f, indent=2)
    return 0
