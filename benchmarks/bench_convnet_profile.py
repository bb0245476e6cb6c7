"""Where a convnet's training step spends its time, layer by layer, in minigrad and torch.

Each leaf layer of the network (``minigrad_bench.speed.convnets.NETWORKS``) runs a
training-mode forward and its backward on the activations the previous layer produced
(torch's ReLUs out of place, so that every layer can be timed alone), both timed. With
``--threads 1`` the times are the thread's CPU time, the steady measure on a shared
machine; with more they are wall time. Medians of ``--repeats``.

Usage::

    python benchmarks/bench_convnet_profile.py [--network "VGG 1x28x28"] [--batch 32]
        [--threads 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def leaves(module) -> list:
    children = list(module.children())
    return [leaf for child in children for leaf in leaves(child)] if children else [module]


def forward_backward_ms(forward, backward, clock, repeats: int) -> tuple[float, float]:
    """Median milliseconds of ``forward()`` and of ``backward(forward's result)``, timed
    apart in the same calls (after one warm-up)."""
    backward(forward())
    forwards, backwards = [], []
    for _ in range(repeats):
        start = clock()
        out = forward()
        middle = clock()
        backward(out)
        forwards.append(middle - start)
        backwards.append(clock() - middle)
    return 1e3 * statistics.median(forwards), 1e3 * statistics.median(backwards)


def profile(network: str, batch: int, threads: int, repeats: int) -> list[tuple]:
    import torch

    import minigrad
    from minigrad_bench.speed.convnets import _pair

    minigrad.set_num_threads(threads)
    torch.set_num_threads(threads)
    clock = time.thread_time if threads == 1 else time.perf_counter
    ours, theirs, x, _ = _pair(network, batch)
    rows, h, ht = [], x, torch.from_numpy(x)
    for layer, twin in zip(leaves(ours), leaves(theirs)):
        if isinstance(twin, torch.nn.ReLU):
            twin.inplace = False
        y = layer(h)
        layer.clear_saved()
        dy = np.ones_like(y)
        hr = ht.detach().requires_grad_(True)
        dyt = torch.ones_like(twin(hr))

        def theirs_backward(out):
            out.backward(dyt)  # noqa: B023
            hr.grad = None  # noqa: B023

        ours_ms = forward_backward_ms(lambda: layer(h), lambda _: layer.backward(dy),  # noqa: B023
                                      clock, repeats)
        theirs_ms = forward_backward_ms(lambda: twin(hr), theirs_backward, clock,  # noqa: B023
                                        repeats)
        rows.append((repr(layer), *ours_ms, *theirs_ms))
        h, ht = y, twin(ht).detach()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="VGG 1x28x28")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = profile(args.network, args.batch, args.threads, args.repeats)
    print(f"{args.network}, batch {args.batch}, {args.threads} thread(s), "
          f"{'thread CPU' if args.threads == 1 else 'wall'} ms, medians of {args.repeats}\n")
    print("| layer | minigrad fwd | minigrad bwd | torch fwd | torch bwd |")
    print("|---|---|---|---|---|")
    for name, *times in rows:
        print(f"| {name} | " + " | ".join(f"{t:.1f}" for t in times) + " |")
    totals = np.sum([times for _, *times in rows], axis=0)
    print("| total | " + " | ".join(f"{t:.1f}" for t in totals) + " |")


if __name__ == "__main__":
    main()
