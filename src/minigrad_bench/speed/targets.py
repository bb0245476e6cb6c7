"""The speed targets: training and inference of minigrad against torch, measured side by side.

Every row is a ratio measured in one process: minigrad and torch run the same work with the
same thread count, alternating in several rounds, and the medians are compared. Nothing
here is a unit test: the machine is shared, so only the ratio of two medians means much.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from minigrad import nn, optim, threads
from minigrad.nn import workspace
from minigrad_bench.models import seed_net, torch_seed_net
from minigrad_bench.speed.timing import alternate, median_seconds


def torch_with_our_threads():
    """torch, set to compute with minigrad's thread count (the comparison is per thread)."""
    import torch

    torch.set_num_threads(threads.get_num_threads())
    return torch


def _seed_net_pair(batch: int, seed: int = 0):
    torch = torch_with_our_threads()
    g = np.random.default_rng(seed)
    x = g.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = g.integers(0, 10, batch)
    ours = seed_net(generator=g)
    ours.set_generator(g)
    theirs = torch_seed_net()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return torch, ours, theirs, x, y


def training_steps(ours, theirs, x: np.ndarray, y: np.ndarray, optimizer: str,
                   lr: float = 0.01, momentum: float = 0.0):
    """One training step of each framework (same loss, optimizer and data) as closures;
    ``lr`` and ``momentum`` are SGD's."""
    torch = torch_with_our_threads()
    if optimizer == "sgd":
        opt = optim.SGD(ours.parameters(), lr=lr, momentum=momentum)
        t_opt = torch.optim.SGD(theirs.parameters(), lr=lr, momentum=momentum)
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
    torch = torch_with_our_threads()
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
    scratch = max(peak_scratch_bytes(lambda: conv(x)),
                  peak_scratch_bytes(lambda: conv.backward(dy)))
    return _row(f"VGG conv 128->128 3x3 fwd+bwd ({conv.chosen_algorithm()})", batch, t_ours,
                t_theirs,
                scratch_mib=scratch / 2**20, scratch_limit_mib=conv.scratch_bytes / 2**20,
                whole_batch_im2col_mib=9 * x.nbytes / 2**20)


def peak_scratch_bytes(fn: Callable[[], np.ndarray]) -> int:
    """Peak memory numpy allocated during ``fn`` (in any thread) beyond the array ``fn``
    returns, the convolutions' reused workspace released first so that it counts."""
    workspace.release()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return max(0, peak - result.nbytes)


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
                     "forward_ms": 1e3 * median_seconds(lambda: layer(x), repeats),  # noqa: B023
                     "backward_ms": 1e3 * median_seconds(lambda: layer.backward(dy), repeats)})  # noqa: B023
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
