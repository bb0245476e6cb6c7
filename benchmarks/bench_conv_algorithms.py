"""Times Conv2d's im2col and Winograd algorithms, and torch's convolution, on the VGG
baseline's 3x3 layers.

Forward plus backward (input and weight gradients), float32, interleaved in rounds so
that every variant sees the same machine; medians in milliseconds. Then the 128->128
layer on a (128, 128, 28, 28) batch with the Winograd planes laid exactly a multiple of
4 KiB apart (``PLANE_SKEW_BYTES = 0``) against the default skew (see conv_winograd.py).
Last, the rate of Winograd's 36 GEMMs, (tiles, 128) @ (128, 128), at 784 to 3,136 tiles
(``--gemm-only`` prints just that).

``--narrow`` times instead the narrow 3x3 layers that decide ``Conv2d``'s direct bound
(``DIRECT_MAX_CHANNEL_PRODUCT``): the VGG's first convolution, ResNet-20's stem and
stages, through im2col, Winograd (where both channel counts are >= 16) and direct.

Usage::

    python benchmarks/bench_conv_algorithms.py [--rounds 3] [--batch 32] [--gemm-only]
    python benchmarks/bench_conv_algorithms.py --narrow [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import minigrad
from minigrad import nn
from minigrad.nn import conv_winograd

# (in_channels, out_channels, side) of the VGG baseline's 3x3 convolutions after the first
VGG_LAYERS = [(64, 128, 28), (128, 128, 28), (128, 256, 14), (256, 256, 14), (256, 512, 7),
              (512, 512, 7)]
# (in_channels, out_channels, side, batch): the VGG's first layers (batch 32) and
# ResNet-20's stem and stages (batch 128)
NARROW_LAYERS = [(1, 64, 28, 32), (3, 64, 32, 32), (3, 16, 32, 128), (16, 16, 32, 128),
                 (16, 32, 32, 128), (32, 32, 16, 128), (64, 64, 8, 128)]


def forward_backward(conv: nn.Conv2d, x: np.ndarray, dy: np.ndarray):
    def run():
        conv.zero_grad()
        conv(x)
        conv.backward(dy)
    run()  # compile / warm up
    return run


def torch_forward_backward(c_in: int, c_out: int, x: np.ndarray, dy: np.ndarray):
    import torch

    torch.set_num_threads(minigrad.get_num_threads())
    conv = torch.nn.Conv2d(c_in, c_out, 3, padding=1)
    xt = torch.from_numpy(x).requires_grad_(True)
    dyt = torch.from_numpy(dy)

    def run():
        conv.zero_grad()
        xt.grad = None
        conv(xt).backward(dyt)
    run()
    return run


def milliseconds(function, repeats: int = 2) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def compare(rounds: int, batch: int, c_in: int, c_out: int, side: int,
            algorithms=("im2col", "winograd")) -> dict:
    g = np.random.default_rng(0)
    x = g.standard_normal((batch, c_in, side, side)).astype(np.float32)
    dy = g.standard_normal((batch, c_out, side, side)).astype(np.float32)
    runs = {name: forward_backward(nn.Conv2d(c_in, c_out, 3, padding=1, generator=g,
                                             algorithm=name), x, dy)
            for name in algorithms}
    runs["torch"] = torch_forward_backward(c_in, c_out, x, dy)
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(milliseconds(run))
    return {name: statistics.median(values) for name, values in times.items()}


def skew(rounds: int) -> dict:
    g = np.random.default_rng(0)
    x = g.standard_normal((128, 128, 28, 28)).astype(np.float32)
    dy = g.standard_normal(x.shape).astype(np.float32)
    run = forward_backward(nn.Conv2d(128, 128, 3, padding=1, generator=g,
                                     algorithm="winograd"), x, dy)
    default = conv_winograd.PLANE_SKEW_BYTES
    times = {0: [], default: []}
    try:
        for _ in range(rounds):
            for value in times:
                conv_winograd.PLANE_SKEW_BYTES = value
                times[value].append(milliseconds(run))
    finally:
        conv_winograd.PLANE_SKEW_BYTES = default
    return {value: statistics.median(values) for value, values in times.items()}


def gemm_rates(tile_counts=(784, 1568, 3136), repeats: int = 7) -> dict:
    """GFLOP/s of ``np.matmul(v, u)`` with v (36, tiles, 128) and u (36, 128, 128)."""
    g = np.random.default_rng(0)
    u = g.standard_normal((36, 128, 128)).astype(np.float32)
    rates = {}
    for tiles in tile_counts:
        v = g.standard_normal((36, tiles, 128)).astype(np.float32)
        m = np.empty((36, tiles, 128), np.float32)
        seconds = milliseconds(lambda: np.matmul(v, u, out=m), repeats) / 1e3  # noqa: B023
        rates[tiles] = 36 * 2 * 128 * 128 * tiles / seconds / 1e9
    return rates


def narrow(rounds: int) -> None:
    print("| layer | batch | im2col ms | winograd ms | direct ms | torch ms | auto picks |")
    print("|---|---|---|---|---|---|---|")
    for c_in, c_out, side, batch in NARROW_LAYERS:
        algorithms = ("im2col", "winograd", "direct") if min(c_in, c_out) >= 16 else \
            ("im2col", "direct")
        t = compare(rounds, batch, c_in, c_out, side, algorithms)
        auto = nn.Conv2d(c_in, c_out, 3, padding=1).chosen_algorithm()
        print(f"| {c_in}->{c_out} at {side}x{side} | {batch} | {t['im2col']:.1f} | "
              f"{t.get('winograd', float('nan')):.1f} | {t['direct']:.1f} | "
              f"{t['torch']:.1f} | {auto} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--gemm-only", action="store_true")
    parser.add_argument("--narrow", action="store_true")
    args = parser.parse_args()
    if args.narrow:
        narrow(args.rounds)
        return
    rates = ", ".join(f"{tiles} tiles {rate:.0f}" for tiles, rate in gemm_rates().items())
    if args.gemm_only:
        print(f"Winograd GEMMs, GFLOP/s: {rates}")
        return
    print(f"| layer (batch {args.batch}) | im2col ms | winograd ms | torch ms | "
          "torch / winograd |")
    print("|---|---|---|---|---|")
    for c_in, c_out, side in VGG_LAYERS:
        t = compare(args.rounds, args.batch, c_in, c_out, side)
        print(f"| {c_in}->{c_out} at {side}x{side} | {t['im2col']:.1f} | {t['winograd']:.1f} | "
              f"{t['torch']:.1f} | {t['torch'] / t['winograd']:.2f}x |", flush=True)
    t = skew(args.rounds)
    print("\n128->128 at 28x28, batch 128, winograd: "
          + ", ".join(f"planes {value} B past a 4 KiB multiple {ms:.0f} ms"
                      for value, ms in t.items()))
    print(f"Winograd GEMMs, GFLOP/s: {rates}")


if __name__ == "__main__":
    main()
