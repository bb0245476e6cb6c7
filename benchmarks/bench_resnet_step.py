"""Times one ResNet-20 SGD training step in minigrad and in torch, on the same machine.

Batch 128 of 3x32x32 float32 images, cross-entropy, SGD (momentum 0.9); both frameworks
start from the same weights. The two steps take turns in rounds (after a warm-up), so
that both see the same phases of a shared machine; the medians and their ratio are
printed, in wall-clock time and in the process's CPU time (on a machine shared with other
jobs the CPU time is the steadier of the two with one thread; with two, a BLAS thread that
waits for a descheduled one spins and is counted). torch runs with as many threads as
minigrad's BLAS (``--threads``, default: as it is, 2 here). ``--profile`` then adds where
minigrad's step spends its time, per layer type, forward and backward.

Usage::

    python benchmarks/bench_resnet_step.py [--batch 128] [--rounds 5] [--repeats 3]
        [--threads N] [--profile]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import numpy as np

import minigrad
import minigrad.threads
from minigrad import nn
from minigrad.models import resnet20
from minigrad_bench.models import torch_resnet20
from minigrad_bench.speed.targets import training_steps


def steps(batch: int, seed: int = 0):
    """The model and the two training steps as closures, on the same data and initial
    weights (torch at minigrad's BLAS thread count)."""
    import torch

    g = np.random.default_rng(seed)
    x = g.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = g.integers(0, 10, batch)
    ours = resnet20(generator=g)
    theirs = torch_resnet20()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    step_ours, step_theirs = training_steps(ours, theirs, x, y, "sgd", lr=0.1, momentum=0.9)
    return ours, step_ours, step_theirs


def alternate(fns, rounds: int, repeats: int) -> list[tuple[float, float]]:
    """(wall, CPU) median seconds per call of each function over rounds that take turns."""
    for fn in fns:
        fn()
    samples = [[] for _ in fns]
    for _ in range(rounds):
        for fn, times in zip(fns, samples):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(repeats):
                fn()
            times.append(((time.perf_counter() - wall) / repeats,
                          (time.process_time() - cpu) / repeats))
    return [tuple(statistics.median(column) for column in zip(*times)) for times in samples]


def profile_by_layer(model: nn.Module, step, repeats: int) -> dict[str, float]:
    """CPU seconds per step in each leaf layer type's forward and backward."""
    totals: dict[str, float] = defaultdict(float)
    leaves = [m for m in model.modules() if not m._modules]
    originals = []
    for module in leaves:
        for method in ("forward", "backward"):
            original = getattr(module, method)
            key = f"{type(module).__name__}.{method}"
            if isinstance(module, nn.Conv2d):
                key = f"Conv2d[{module.chosen_algorithm()}].{method}"

            def timed(*args, _original=original, _key=key):
                start = time.process_time()
                result = _original(*args)
                totals[_key] += time.process_time() - start
                return result

            object.__setattr__(module, method, timed)
            originals.append((module, method))
    start = time.process_time()
    for _ in range(repeats):
        step()
    totals["whole step"] = time.process_time() - start
    for module, method in originals:
        del module.__dict__[method]
    return {key: value / repeats for key, value in totals.items()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args(argv)
    if args.threads is not None:
        minigrad.set_num_threads(args.threads)
    ours, step_ours, step_theirs = steps(args.batch)
    (wall_ours, cpu_ours), (wall_theirs, cpu_theirs) = alternate(
        [step_ours, step_theirs], args.rounds, args.repeats)
    print(f"ResNet-20 training step, batch {args.batch}, 3x32x32 float32, SGD momentum 0.9, "
          f"{minigrad.get_num_threads()} threads ({args.rounds} rounds x {args.repeats}; "
          f"{minigrad.threads.blas_description()})")
    print(f"  {'':10}{'wall ms':>10}{'CPU ms':>10}")
    print(f"  {'minigrad':10}{1000 * wall_ours:10.1f}{1000 * cpu_ours:10.1f}")
    print(f"  {'torch':10}{1000 * wall_theirs:10.1f}{1000 * cpu_theirs:10.1f}")
    print(f"  minigrad / torch: wall {wall_ours / wall_theirs:.2f}, "
          f"CPU {cpu_ours / cpu_theirs:.2f}")
    if args.profile:
        print("\nminigrad, CPU ms per step by layer type (leaf layers; the rest is block glue "
              "and the optimizer):")
        shares = profile_by_layer(ours, step_ours, args.repeats)
        for key, seconds in sorted(shares.items(), key=lambda item: -item[1]):
            print(f"  {key:<32}{1000 * seconds:8.1f}")


if __name__ == "__main__":
    main()
