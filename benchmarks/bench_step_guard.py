"""Measures what the Trainer's all-or-nothing batch step costs: the guard against a full step.

Before each training batch the Trainer copies the model's buffers (BatchNorm's running
statistics) so that a refused or failing step can put them back, and before the optimizer's
step it checks every gradient (shape, dtype, one sum per parameter for finiteness). This
script times that guard alone and one whole training step (forward, loss, backward, step)
on the reference network (``seed_net``, no buffers) and on a small BatchNorm VGG, and prints
the guard's share of the step. Best of five repeats; a loaded machine slows both alike.

Usage::

    python benchmarks/bench_step_guard.py [--batch-size 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from minigrad import nn
from minigrad.nn.state import snapshot_buffers
from minigrad.optim import SGD
from minigrad.train import Trainer
from minigrad.train.trainer import _gradient_problem
from minigrad_bench.models import seed_net, vgg


def best_time(function, repeats: int) -> float:
    """Seconds per call: the best of five runs of ``repeats`` calls."""
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            function()
        times.append((time.perf_counter() - start) / repeats)
    return min(times)


def measure(name: str, model: nn.Module, batch_size: int) -> None:
    generator = np.random.default_rng(0)
    trainer = Trainer(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.01, momentum=0.9))
    x = generator.normal(size=(batch_size, 1, 28, 28)).astype(np.float32)
    y = generator.integers(0, 10, batch_size)
    model.train()

    def step() -> None:
        trainer._forward(x, y)
        trainer._update()

    def guard() -> None:
        snapshot_buffers(model)
        _gradient_problem(trainer.optimizer, model)

    step()  # compiles the kernels, creates the momentum buffers
    step_time, guard_time = best_time(step, 5), best_time(guard, 100)
    buffers = sum(b.size for _, b in model.named_buffers())
    print(f"{name:<22} {model.num_parameters():>10,} {buffers:>8,} {step_time * 1e3:>10.2f} "
          f"{guard_time * 1e6:>10.1f} {100 * guard_time / step_time:>7.2f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    print(f"batch {args.batch_size}, 28x28 inputs")
    print(f"{'model':<22} {'parameters':>10} {'buffers':>8} {'step ms':>10} {'guard us':>10} "
          f"{'share':>9}")
    measure("seed_net", seed_net(generator=np.random.default_rng(0)), args.batch_size)
    measure("vgg(16, 32, 64, 128)", vgg(widths=(16, 32, 64, 128),
                                         generator=np.random.default_rng(0)), args.batch_size)


if __name__ == "__main__":
    main()
