"""How fast the torch VGG baseline trains, step by step, as the accuracy runs train it.

The ``gpu-speed`` command. The step is the one ``torch_train`` trains the baseline with:
``vgg_trainer`` on ``Runtime.for_model(device, fast=True)`` (on CUDA: bf16 autocast,
channels_last, cudnn.benchmark, losses left on the device), AdamW, cross-entropy on float32
logits. Two figures per input shape, at the seed recipe's batch size:

- ``step``: one augmented batch already on the device, trained on again and again: the
  forward, the backward and the optimizer step alone;
- ``with batches``: a pass over ``steps`` batches that ``TensorBatches`` makes and augments on
  the device (the recipe's crop, flip and, for 3x32x32, cutout), as a training epoch does.

Warm-up steps (cudnn's algorithm search, the allocator's first blocks) are not timed; the
clock is read after ``torch.cuda.synchronize()`` on both sides of every timed stretch. On a
CPU the same code measures the CPU (float32, default layout, as the bench trains there), and
every output says so: those are not GPU figures.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from minigrad.fileio import atomic_write
from minigrad_bench.accuracy.baselines import baseline_recipe
from minigrad_bench.accuracy.profiles import get_profile
from minigrad_bench.accuracy.tensor_batches import TensorBatches
from minigrad_bench.accuracy.torch_train import Runtime, vgg_trainer
from minigrad_bench.models import VGG_WIDTHS
from minigrad_bench.report import environment, markdown_table

SHAPES = (("mnist", "1x28x28"), ("cifar10", "3x32x32"))
COLUMNS = ("input", "batch", "step ms", "step images/s", "with device batches, images/s",
           "peak GPU memory")


@dataclass(frozen=True)
class Settings:
    """What is timed: ``warmup`` untimed steps, then ``rounds`` of ``steps`` timed steps."""

    batch: int = 128
    widths: tuple[int, ...] = VGG_WIDTHS
    warmup: int = 10
    steps: int = 50
    rounds: int = 3

    @classmethod
    def quick(cls) -> Settings:
        """Seconds on a CPU, for tests: the smoke profile's tiny VGG; numbers mean nothing."""
        return cls(batch=8, widths=get_profile("smoke").vgg_widths, warmup=1, steps=2, rounds=1)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _random_images(dataset: str, n: int, device: torch.device) -> tuple:
    channels, size = (1, 28) if dataset == "mnist" else (3, 32)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    return x.to(device), torch.randint(0, 10, (n,), generator=g).to(device)


def _timed(device: torch.device, work) -> float:
    """Seconds that ``work()`` keeps the device busy, synchronised on both sides."""
    _synchronize(device)
    started = time.perf_counter()
    work()
    _synchronize(device)
    return time.perf_counter() - started


def measure_shape(dataset: str, runtime: Runtime, settings: Settings) -> dict:
    """Both figures for ``dataset``'s input shape (random pixels: speed ignores content)."""
    recipe = replace(baseline_recipe(dataset, "seed", epochs=1, widths=settings.widths),
                     batch_size=settings.batch)
    trainer = vgg_trainer(recipe, runtime)
    trainer.model.train()
    x, y = _random_images(dataset, settings.batch * settings.steps, runtime.device)
    batches = TensorBatches(x, y, settings.batch, recipe=recipe, shuffle=True,
                            channels_last=runtime.channels_last)
    xb, yb = next(iter(batches))
    if runtime.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(runtime.device)
    for _ in range(settings.warmup):
        trainer.train_step(xb, yb)

    def repeat_one_batch():
        for _ in range(settings.steps):
            trainer.train_step(xb, yb)

    def one_pass():
        for xs, ys in batches:
            trainer.train_step(xs, ys)

    steps = [_timed(runtime.device, repeat_one_batch) / settings.steps
             for _ in range(settings.rounds)]
    passes = [_timed(runtime.device, one_pass) / settings.steps for _ in range(settings.rounds)]
    step, per_batch = statistics.median(steps), statistics.median(passes)
    peak = (torch.cuda.max_memory_allocated(runtime.device) / 2**20
            if runtime.device.type == "cuda" else None)
    return {"input": dict(SHAPES)[dataset], "recipe": f"{dataset} seed", "batch": settings.batch,
            "params": sum(p.numel() for p in trainer.model.parameters()),
            "step_ms": 1000 * step, "step_ms_range": [1000 * min(steps), 1000 * max(steps)],
            "images_per_s": settings.batch / step,
            "with_batches_ms": 1000 * per_batch,
            "with_batches_images_per_s": settings.batch / per_batch,
            "peak_memory_mib": peak}


def describe(runtime: Runtime) -> str:
    """What the figures are: the GPU and its settings, or a CPU, said to be one."""
    if runtime.device.type == "cuda":
        return (f"{torch.cuda.get_device_name(runtime.device)}: bf16 autocast "
                f"{'on' if runtime.autocast else 'off'}, channels_last "
                f"{'on' if runtime.channels_last else 'off'}, cudnn.benchmark on")
    return (f"CPU ({torch.get_num_threads()} torch threads, float32, default layout): "
            "CPU figures, not GPU figures")


def run(device: str, settings: Settings, quick: bool = False) -> dict:
    """Every shape on ``device`` ("cpu" or "cuda", already resolved); the results' dict."""
    runtime = Runtime.for_model(device, fast=True)
    rows = [measure_shape(dataset, runtime, settings) for dataset, _ in SHAPES]
    table_rows = [[r["input"], r["batch"], f"{r['step_ms']:.2f}", f"{r['images_per_s']:,.0f}",
                   f"{r['with_batches_images_per_s']:,.0f}",
                   "-" if r["peak_memory_mib"] is None else f"{r['peak_memory_mib']:,.0f} MiB"]
                  for r in rows]
    label = describe(runtime)
    if quick:
        label += "; --quick: a tiny VGG, numbers mean nothing"
    cuda = {"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    return {"command": "gpu-speed", "device": device, "label": label, "quick": quick,
            "settings": asdict(settings), "autocast": runtime.autocast,
            "channels_last": runtime.channels_last,
            "environment": {**environment(device), **(cuda if device == "cuda" else {})},
            "rows": rows, "table": markdown_table(COLUMNS, table_rows)}


def main(device: str, settings: Settings, quick: bool, json_path: str | None) -> dict:
    """The ``gpu-speed`` command: measures, prints the table, writes ``json_path`` if given."""
    results = run(device, settings, quick)
    print(f"VGG {'x'.join(map(str, settings.widths))} training step, {results['label']}. "
          f"Untimed warm-up steps: {settings.warmup}; then the median over {settings.rounds} "
          f"round(s) of {settings.steps} steps\n\n{results['table']}", flush=True)
    if json_path is not None:
        with atomic_write(Path(json_path), "w") as file:
            json.dump(results, file, indent=1)
            file.write("\n")
        print(f"\nresults: {json_path}", flush=True)
    return results
