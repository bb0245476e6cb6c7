"""float32 error of the Winograd F(4x4, 3x3) convolution against float64, beside the
im2col algorithm's and torch's float32 error, on the VGG baseline's 3x3 layers.

For each layer a seeded batch (standard normal input, torch's default weight init, a
standard normal output gradient) goes through the layer in float64 (im2col: the
reference) and in float32 with each algorithm; the error of the output, the input
gradient and the weight gradient is the largest absolute difference from the reference
divided by the reference's largest magnitude, the scale tests/parity.py measures its
float32 tolerance against (rtol 1e-4, atol 1e-5 * max|reference|).

Usage::

    python benchmarks/bench_winograd_error.py [--batch 8] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from minigrad import nn

LAYERS = ((1, 64, 28), (64, 128, 28), (128, 128, 28), (128, 256, 14), (256, 256, 14),
          (256, 512, 7), (512, 512, 7))


def errors(conv, reference, x, dy) -> tuple[float, float, float]:
    """Relative errors (output, dL/dx, dL/dweight) of ``conv`` (float32) against the
    float64 results ``reference`` = (y, dx, dweight)."""
    conv.zero_grad()
    y = conv(x.astype(np.float32))
    dx = conv.backward(dy.astype(np.float32))
    return tuple(float(np.abs(ours - theirs).max() / np.abs(theirs).max())
                 for ours, theirs in zip((y, dx, conv.weight.grad), reference))


def torch_errors(conv, reference, x, dy) -> tuple[float, float, float]:
    import torch

    twin = torch.nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=1)
    twin.load_state_dict({k: torch.from_numpy(v.astype(np.float32))
                          for k, v in conv.state_dict().items()})
    xt = torch.from_numpy(x.astype(np.float32)).requires_grad_(True)
    yt = twin(xt)
    yt.backward(torch.from_numpy(dy.astype(np.float32)))
    results = (yt.detach().numpy(), xt.grad.numpy(), twin.weight.grad.numpy())
    return tuple(float(np.abs(ours - theirs).max() / np.abs(theirs).max())
                 for ours, theirs in zip(results, reference))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| layer | algorithm | output | dL/dx | dL/dweight |")
    print("|---|---|---|---|---|")
    for c_in, c_out, side in LAYERS:
        g = np.random.default_rng(args.seed)
        exact = nn.Conv2d(c_in, c_out, 3, padding=1, algorithm="im2col", generator=g).double()
        x = g.standard_normal((args.batch, c_in, side, side))
        dy = g.standard_normal((args.batch, c_out, side, side))
        reference = (exact(x), exact.backward(dy), exact.weight.grad.copy())
        rows = []
        for algorithm in ("winograd", "im2col"):
            conv = nn.Conv2d(c_in, c_out, 3, padding=1, algorithm=algorithm)
            conv.load_state_dict({k: v.astype(np.float32) for k, v in exact.state_dict().items()})
            rows.append((algorithm, errors(conv, reference, x, dy)))
        try:
            rows.append(("torch", torch_errors(exact, reference, x, dy)))
        except ImportError:
            pass
        for algorithm, values in rows:
            print(f"| {c_in}->{c_out} at {side}x{side} | {algorithm} | "
                  + " | ".join(f"{v:.1e}" for v in values) + " |", flush=True)


if __name__ == "__main__":
    main()
