"""Why minigrad's numba kernels are serial: the seed-net training step with the direct
convolution split over threads (numba ``parallel=True``) against the committed serial one.

The parallel version hands each numba thread a slice of the batch and runs the committed
kernel on it (each thread sums its own weight and bias gradients; the slices are added at the end),
so the arithmetic per sample is unchanged. numba's threading layer is process-wide, so
each layer runs in its own subprocess. Steps alternate serial and parallel in rounds;
medians in milliseconds, batch 512, float32, BLAS and numba on every core.

Usage::

    python benchmarks/bench_threading.py [--layers workqueue omp] [--rounds 6]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def step_times(layer: str, rounds: int) -> dict:
    import numba

    numba.config.THREADING_LAYER = layer
    import numpy as np
    from numba import njit, prange

    from minigrad import nn, optim
    from minigrad.kernels import conv_direct
    from minigrad_bench.models import seed_net

    serial_forward = conv_direct.forward_wide
    serial_backward = conv_direct.backward_wide

    @njit(parallel=True)
    def parallel_forward(xp, weight, bias, out):
        parts = numba.get_num_threads()
        per = -(-xp.shape[0] // parts)
        for part in prange(parts):
            lo, hi = part * per, min(xp.shape[0], (part + 1) * per)
            serial_forward(xp[lo:hi], weight, bias, out[lo:hi])

    @njit(parallel=True)
    def parallel_backward(xp, weight, dy, dweight, dbias, dxp):
        parts = numba.get_num_threads()
        per = -(-xp.shape[0] // parts)
        partial = np.zeros((parts,) + dweight.shape, dtype=dweight.dtype)
        partial_bias = np.zeros((parts,) + dbias.shape, dtype=dbias.dtype)
        for part in prange(parts):
            lo, hi = part * per, min(xp.shape[0], (part + 1) * per)
            serial_backward(xp[lo:hi], weight, dy[lo:hi], partial[part], partial_bias[part],
                            dxp[lo:hi])
        for part in range(parts):
            dweight += partial[part]
            dbias += partial_bias[part]

    g = np.random.default_rng(0)
    x = g.standard_normal((512, 1, 28, 28)).astype(np.float32)
    y = g.integers(0, 10, 512)
    model = seed_net(generator=g)
    model.set_generator(g)
    opt = optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        opt.step()

    variants = {"serial": (serial_forward, serial_backward),
                "parallel": (parallel_forward, parallel_backward)}
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (forward, backward) in variants.items():
            conv_direct.forward_wide = forward
            conv_direct.backward_wide = backward
            step()
            step()
            samples = []
            for _ in range(15):
                start = time.perf_counter()
                step()
                samples.append(time.perf_counter() - start)
            times[name].append(1e3 * statistics.median(samples))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", nargs="+", default=["workqueue", "omp"])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        t = step_times(args.child, args.rounds)
        print(f"| {args.child} | {t['serial']:.2f} | {t['parallel']:.2f} |")
        return
    print("| numba threading layer | serial conv step ms | parallel conv step ms |")
    print("|---|---|---|")
    for layer in args.layers:
        result = subprocess.run([sys.executable, __file__, "--child", layer,
                                 "--rounds", str(args.rounds)], capture_output=True, text=True)
        print(result.stdout.strip() or f"| {layer} | failed: {result.stderr.strip()[-200:]} |")


if __name__ == "__main__":
    main()
