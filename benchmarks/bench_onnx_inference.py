"""minigrad's eval-mode inference against onnxruntime running the same model, exported by
``minigrad.interop.to_onnx``: the seed net, the VGG baseline (1 x 28 x 28 inputs) and
ResNet-20 (3 x 32 x 32), in one process.

The two take turns in several rounds (``minigrad_bench.speed.timing.alternate``: each round times
``--repeats`` calls of each, medians over rounds), both on ``--threads`` threads (minigrad's
BLAS pool; onnxruntime's intra-op pool, one inter-op thread). OpenBLAS picks its kernels
when it loads, from the CPU or from OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: the script
re-executes itself without those two so that the kernel is the one the machine gets by
default, and reports the CPU, its vector ISA and the kernel threadpoolctl sees.

Usage::

    python benchmarks/bench_onnx_inference.py [--threads 2] [--rounds 5] [--repeats 5]
        [--seed-batch 512] [--vgg-batch 16] [--resnet-batch 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

# machine imports neither numpy nor anything that loads OpenBLAS: safe before the re-exec
from minigrad_bench.speed.machine import BLAS_PINS as TUNING_VARIABLES  # noqa: E402
from minigrad_bench.speed.machine import cpu_description  # noqa: E402


def reexec_without_tuning_variables() -> None:
    """Restarts this script without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (read by OpenBLAS
    when numpy loads it, so they must be gone before the process starts)."""
    if any(name in os.environ for name in TUNING_VARIABLES):
        env = {k: v for k, v in os.environ.items() if k not in TUNING_VARIABLES}
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]],
                  env)


def measure(name: str, model, image: tuple[int, int, int], batch: int, threads: int,
            rounds: int, repeats: int) -> dict:
    import numpy as np
    import onnxruntime as ort

    import minigrad
    from minigrad.interop import to_onnx
    from minigrad_bench.speed.timing import alternate

    model.eval()
    x = np.random.default_rng(1).standard_normal((batch, *image)).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"{name}.onnx")
        to_onnx(model, path, (1, *image))
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def ours():
        with minigrad.no_grad():
            return model(x)

    def theirs():
        return session.run(None, {"input": x})[0]

    difference = float(np.abs(ours() - theirs()).max() / np.abs(theirs()).max())
    t_ours, t_theirs = alternate(ours, theirs, rounds=rounds, repeats=repeats)
    return {"model": name, "batch": batch, "minigrad_ms": 1e3 * t_ours,
            "onnxruntime_ms": 1e3 * t_theirs, "ratio": t_ours / t_theirs,
            "relative_difference": difference}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed-batch", type=int, default=512)
    parser.add_argument("--vgg-batch", type=int, default=16)
    parser.add_argument("--resnet-batch", type=int, default=64)
    args = parser.parse_args()
    reexec_without_tuning_variables()

    import numpy as np
    import onnxruntime as ort

    import minigrad
    from minigrad import threads
    from minigrad.models import resnet20, seed_net, vgg_baseline

    minigrad.set_num_threads(args.threads)
    model, flags = cpu_description()
    print(f"CPU: {model} ({os.cpu_count()} logical cores); ISA: {flags}")
    print(f"BLAS (threadpoolctl): {threads.blas_description()}")
    print(f"numpy {np.__version__}, onnxruntime {ort.__version__}, minigrad "
          f"{minigrad.__version__}; {args.threads} threads each; {args.rounds} rounds of "
          f"{args.repeats} calls, medians\n")
    print("| model | batch | minigrad ms | onnxruntime ms | minigrad time / onnxruntime time "
          "| max relative difference |")
    print("|---|---|---|---|---|---|")
    g = np.random.default_rng(0)
    for name, net, image, batch in (
            ("seed net", seed_net(generator=g), (1, 28, 28), args.seed_batch),
            ("VGG baseline", vgg_baseline(generator=g), (1, 28, 28), args.vgg_batch),
            ("ResNet-20", resnet20(generator=g), (3, 32, 32), args.resnet_batch)):
        row = measure(name, net, image, batch, args.threads, args.rounds, args.repeats)
        print(f"| {row['model']} | {row['batch']} | {row['minigrad_ms']:.2f} | "
              f"{row['onnxruntime_ms']:.2f} | {row['ratio']:.2f}x | "
              f"{row['relative_difference']:.1e} |", flush=True)


if __name__ == "__main__":
    main()
