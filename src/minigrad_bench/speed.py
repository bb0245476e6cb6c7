"""Training and inference speed of minigrad against torch, measured side by side.

Every row is a ratio measured in one process: minigrad and torch run the same work with the
same thread count, alternating in several rounds, and the medians are compared. Nothing
here is a unit test: the machine is shared, so only the ratio of two medians means much.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import minigrad
from minigrad import nn, optim, threads
from minigrad_bench.models import seed_net, torch_seed_net, torch_vgg, vgg


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def alternate(*fns: Callable, rounds: int, repeats: int) -> tuple[float, ...]:
    """Median seconds per call of each of ``fns``, over ``rounds`` rounds that take turns
    (after a warm-up), so that every function sees the same phases of the machine."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, samples in zip(fns, times):
            samples.append(_median_seconds(fn, repeats))
    return tuple(statistics.median(samples) for samples in times)


def _torch():
    import torch

    torch.set_num_threads(threads.get_num_threads())
    return torch


def _seed_net_pair(batch: int, seed: int = 0):
    torch = _torch()
    g = np.random.default_rng(seed)
    x = g.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = g.integers(0, 10, batch)
    ours = seed_net(generator=g)
    ours.set_generator(g)
    theirs = torch_seed_net()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return torch, ours, theirs, x, y


def training_steps(ours, theirs, x: np.ndarray, y: np.ndarray, optimizer: str):
    """One training step of each framework (same loss, optimizer and data) as closures."""
    torch = _torch()
    if optimizer == "sgd":
        opt = optim.SGD(ours.parameters(), lr=0.01)
        t_opt = torch.optim.SGD(theirs.parameters(), lr=0.01)
    else:
        opt = optim.AdamW(ours.parameters(), lr=1e-3, weight_decay=1e-3)
        t_opt = torch.optim.AdamW(theirs.parameters(), lr=1e-3, weight_decay=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    ours.train()
    theirs.train()

    def step_ours():
        opt.zero_grad()
        loss_fn(ours(x), y)
        ours.backward(loss_fn.backward())
        opt.step()

    def step_theirs():
        t_opt.zero_grad()
        torch.nn.functional.cross_entropy(theirs(xt), yt).backward()
        t_opt.step()

    return step_ours, step_theirs


def seed_net_training(batch: int = 512, rounds: int = 5, repeats: int = 10) -> dict:
    """Target 1: one SGD training step of the reference network through the public API,
    and its GEMM floor, measured in the same rounds (the machine's speed drifts)."""
    _, ours, theirs, x, y = _seed_net_pair(batch)
    step_ours, step_theirs = training_steps(ours, theirs, x, y, "sgd")
    t_ours, t_theirs, t_floor = alternate(step_ours, step_theirs, _three_gemms(batch),
                                          rounds=rounds, repeats=repeats)
    return _row("seed net training step", batch, t_ours, t_theirs,
                gemm_floor_images_per_s=batch / t_floor,
                fraction_of_floor=t_floor / t_ours)


def seed_net_inference(batch: int = 512, rounds: int = 5, repeats: int = 10) -> dict:
    """Target 1b: eval-mode forward of the reference network."""
    torch, ours, theirs, x, _ = _seed_net_pair(batch)
    ours.eval()
    theirs.eval()
    xt = torch.from_numpy(x)

    def forward_theirs():
        with torch.no_grad():
            theirs(xt)

    t_ours, t_theirs = alternate(lambda: ours(x), forward_theirs, rounds=rounds, repeats=repeats)
    return _row("seed net inference", batch, t_ours, t_theirs)


def _three_gemms(batch: int) -> Callable[[], None]:
    """The seed-net step's three batchx1152x256 float32 GEMMs (Linear(1152, 256)'s forward,
    weight gradient and input gradient), as a closure: the step's GEMM floor."""
    g = np.random.default_rng(0)
    x = g.standard_normal((batch, 1152)).astype(np.float32)
    w = g.standard_normal((256, 1152)).astype(np.float32)
    dy = g.standard_normal((batch, 256)).astype(np.float32)

    def three_gemms():
        x @ w.T
        dy.T @ x
        dy @ w

    return three_gemms


def vgg_conv(batch: int = 128, channels: int = 128, size: int = 28, rounds: int = 3,
             repeats: int = 3, algorithm: str = "auto") -> dict:
    """Target 3: Conv2d(128, 128, 3, padding=1), forward + backward (input and weights)."""
    torch = _torch()
    g = np.random.default_rng(0)
    x = g.standard_normal((batch, channels, size, size)).astype(np.float32)
    conv = nn.Conv2d(channels, channels, 3, padding=1, generator=g, algorithm=algorithm)
    t_conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
    t_conv.load_state_dict({k: torch.from_numpy(v) for k, v in conv.state_dict().items()})
    dy = g.standard_normal((batch, channels, size, size)).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_(True)
    dyt = torch.from_numpy(dy)

    def ours():
        conv.zero_grad()
        conv(x)
        conv.backward(dy)

    def theirs():
        t_conv.zero_grad()
        xt.grad = None
        t_conv(xt).backward(dyt)

    t_ours, t_theirs = alternate(ours, theirs, rounds=rounds, repeats=repeats)
    scratch = max(_peak_scratch_bytes(lambda: conv(x)),
                  _peak_scratch_bytes(lambda: conv.backward(dy)))
    return _row(f"VGG conv 128->128 3x3 fwd+bwd ({conv.chosen_algorithm()})", batch, t_ours,
                t_theirs,
                scratch_mib=scratch / 2**20, scratch_limit_mib=conv.scratch_bytes / 2**20,
                whole_batch_im2col_mib=9 * x.nbytes / 2**20)


def _peak_scratch_bytes(fn: Callable[[], np.ndarray]) -> int:
    """Peak memory numpy allocated during ``fn`` beyond the array ``fn`` returns."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return max(0, peak - result.nbytes)


def vgg_training(batch: int = 32, in_channels: int = 1, size: int = 28, rounds: int = 3,
                 repeats: int = 2) -> dict:
    """The VGG baseline's training step (AdamW), minigrad against torch."""
    torch = _torch()
    g = np.random.default_rng(0)
    x = g.standard_normal((batch, in_channels, size, size)).astype(np.float32)
    y = g.integers(0, 10, batch)
    ours, theirs = vgg(in_channels, generator=g), torch_vgg(in_channels)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    steps = training_steps(ours, theirs, x, y, "adamw")
    t_ours, t_theirs = alternate(*steps, rounds=rounds, repeats=repeats)
    return _row(f"VGG training step ({in_channels}x{size}x{size})", batch, t_ours, t_theirs)


def per_layer(batch: int = 512, repeats: int = 10) -> list[dict]:
    """Forward and backward time of each layer of the seed net, minigrad only."""
    g = np.random.default_rng(0)
    model = seed_net(generator=g)
    model.set_generator(g)
    x = g.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    rows = []
    for index, layer in enumerate(model):
        y = layer(x)
        dy = np.ones_like(y)
        rows.append({"layer": f"{index}: {layer!r}",
                     "forward_ms": 1e3 * _median_seconds(lambda: layer(x), repeats),  # noqa: B023
                     "backward_ms": 1e3 * _median_seconds(lambda: layer.backward(dy), repeats)})  # noqa: B023
        x = y
    return rows


def cold_start() -> dict:
    """Target 4: a fresh process, numba cache present, from launch to the first training step."""
    code = (
        "import time; t0 = time.perf_counter()\n"
        "import numpy as np, minigrad\n"
        "from minigrad import nn, optim\n"
        "from minigrad_bench.models import seed_net\n"
        "g = np.random.default_rng(0); m = seed_net(generator=g); m.set_generator(g)\n"
        "x = np.zeros((512, 1, 28, 28), np.float32); y = np.zeros(512, np.int64)\n"
        "loss = nn.CrossEntropyLoss(); opt = optim.SGD(m.parameters(), lr=0.1)\n"
        "loss(m(x), y); m.backward(loss.backward()); opt.step()\n"
        "print(time.perf_counter() - t0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # fill cache
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    total = time.perf_counter() - start
    return {"name": "cold start to first step", "process_seconds": total,
            "in_process_seconds": float(out.stdout.strip())}


def _row(name: str, batch: int, t_ours: float, t_theirs: float, **extra) -> dict:
    return {"name": name, "batch": batch, "minigrad_ms": 1e3 * t_ours,
            "torch_ms": 1e3 * t_theirs, "minigrad_images_per_s": batch / t_ours,
            "torch_images_per_s": batch / t_theirs, "speedup_vs_torch": t_theirs / t_ours,
            **extra}


def environment() -> dict:
    torch = _torch()
    return {"date": time.strftime("%Y-%m-%d"), "cpu_count": os.cpu_count(),
            "threads": threads.get_num_threads(), "blas": threads.blas_description(),
            "numpy": np.__version__, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "minigrad": minigrad.__version__}


def run(quick: bool = False, epoch: bool = True) -> dict:
    """Every measurement; ``quick`` shrinks the rounds (for tests: numbers then mean little)."""
    scale = dict(rounds=1, repeats=1) if quick else {}
    results = {"environment": environment(), "rows": [
        seed_net_training(**scale), seed_net_inference(**scale),
        vgg_conv(batch=8 if quick else 128, **scale),
        vgg_conv(batch=8 if quick else 128, algorithm="im2col", **scale),
        vgg_training(batch=4 if quick else 32, size=16 if quick else 28, **scale),
    ], "per_layer": per_layer(repeats=1 if quick else 10)}
    if epoch:
        from minigrad_bench.epoch import reference_epoch

        results["epoch"] = reference_epoch(n_train=2048 if quick else 48_000,
                                           n_val=512 if quick else 12_000)
    results["cold_start"] = cold_start()
    return results


def format_table(results: dict) -> str:
    lines = ["| benchmark | batch | minigrad ms | torch ms | minigrad img/s | torch img/s | "
             "minigrad / torch speed |", "|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['name']} | {r['batch']} | {r['minigrad_ms']:.1f} | "
                     f"{r['torch_ms']:.1f} | {r['minigrad_images_per_s']:,.0f} | "
                     f"{r['torch_images_per_s']:,.0f} | {r['speedup_vs_torch']:.2f}x"
                     f"{_spread(r, 'speedup_vs_torch', '{:.2f}x')} |")
    train = results["rows"][0]
    convs = [r for r in results["rows"] if "scratch_mib" in r]
    scratch = ", ".join(f"{r['scratch_mib']:.1f} MiB ({r['name'].split('(')[-1][:-1]})"
                        for r in convs)
    lines += ["", "GEMM floor of the seed-net step: "
              f"{train['gemm_floor_images_per_s']:,.0f} img/s"
              f"{_spread(train, 'gemm_floor_images_per_s', '{:,.0f}')}; minigrad reaches "
              f"{100 * train['fraction_of_floor']:.0f}% of it"
              f"{_spread(train, 'fraction_of_floor', '{:.0%}')}.",
              f"VGG conv scratch memory: {scratch} (limit "
              f"{convs[0]['scratch_limit_mib']:.0f} MiB; a whole-batch im2col needs "
              f"{convs[0]['whole_batch_im2col_mib']:.0f} MiB)."]
    if "epoch" in results:
        e = results["epoch"]
        lines.append(f"Reference-recipe epoch through the Trainer ({e['n_train']:,} train with "
                     f"rotation+crop, {e['n_val']:,} val): {e['seconds']:.2f} s "
                     f"(augmentation {e['augment_seconds']:.2f} s of it).")
    cold = results["cold_start"]
    lines.append(f"Cold start (numba cache present) to first training step: "
                 f"{cold['process_seconds']:.2f} s for the whole process.")
    lines += ["", "| seed-net layer | forward ms | backward ms |", "|---|---|---|"]
    lines += [f"| {r['layer']} | {r['forward_ms']:.2f} | {r['backward_ms']:.2f} |"
              for r in results["per_layer"]]
    env = results["environment"]
    processes = env.get("processes", 1)
    lines += ["", f"{env['date']}, {env['cpu_count']} cores, {env['blas']}, "
              f"torch {env['torch']} with {env['torch_threads']} threads, numpy {env['numpy']}."
              + (f" Medians of {processes} processes (ranges in brackets)." if processes > 1
                 else "")]
    return "\n".join(lines)


def _spread(row: dict, key: str, template: str) -> str:
    """" (low-high)" when the row combines several processes, else nothing."""
    if f"{key}_range" not in row:
        return ""
    low, high = row[f"{key}_range"]
    return f" ({template.format(low)}-{template.format(high)})"


def main(quick: bool = False, json_path: str | None = None, processes: int = 1) -> int:
    """Prints the table; with ``processes`` > 1, each measurement runs in that many fresh
    processes and the table shows medians and ranges (``speed_processes``)."""
    if processes > 1:
        from minigrad_bench.speed_processes import measure

        results = measure(processes, quick=quick)
    else:
        results = run(quick=quick)
    print(format_table(results))
    if json_path:
        from minigrad.checkpoint import atomic_write

        with atomic_write(json_path, "w") as f:
            json.dump(results, f, indent=2)
    return 0
