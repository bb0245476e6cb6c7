"""The convnet rows: the VGG baseline (and the ResNets where ``minigrad.models`` has them)
trained and run in inference by minigrad and torch, their memory, and their convolutions'
scratch.

Training is one SGD step (forward, backward, update) on a seeded batch; inference an
eval-mode forward (torch under ``no_grad``, minigrad under ``minigrad.no_grad``). Both
frameworks start from the same weights and alternate in rounds (``timing.alternate``).
Peak memory is measured in fresh processes, one per framework (``python -m
minigrad_bench.speed.convnets``), as the resident-set peak of a few steps.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import numpy as np

import minigrad
from minigrad import nn
from minigrad_bench.speed.targets import (
    _row,
    peak_scratch_bytes,
    torch_with_our_threads,
    training_steps,
)
from minigrad_bench.speed.timing import alternate

# name -> (input channels, side, builder of the minigrad network, of the torch twin)
NETWORKS = {}


def _register_vgg() -> None:
    from minigrad_bench.models import torch_vgg, vgg

    for channels, side in ((1, 28), (3, 32)):
        NETWORKS[f"VGG {channels}x{side}x{side}"] = (
            channels, side, lambda g, c=channels: vgg(c, generator=g),
            lambda c=channels: torch_vgg(c))


def _register_resnets() -> None:
    from minigrad.models import resnet18, resnet20
    from minigrad_bench.models import torch_resnet18_small, torch_resnet20

    NETWORKS["ResNet-18 (small input) 3x32x32"] = (
        3, 32, lambda g: resnet18(10, small_input=True, generator=g), torch_resnet18_small)
    NETWORKS["ResNet-20 3x32x32"] = (3, 32, lambda g: resnet20(10, generator=g),
                                     torch_resnet20)


_register_vgg()
_register_resnets()


def _pair(network: str, batch: int, side: int | None = None, seed: int = 0):
    """(minigrad net, torch twin with its weights, x, y) for ``network``."""
    torch = torch_with_our_threads()
    channels, default_side, ours_builder, theirs_builder = NETWORKS[network]
    side = default_side if side is None else side
    g = np.random.default_rng(seed)
    x = g.standard_normal((batch, channels, side, side)).astype(np.float32)
    y = g.integers(0, 10, batch)
    ours, theirs = ours_builder(g), theirs_builder()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs, x, y


def training(network: str, batch: int = 32, side: int | None = None, rounds: int = 3,
             repeats: int = 2) -> dict:
    """One SGD training step of ``network``, minigrad against torch, and the GEMMs of
    minigrad's step alone (its floor), in the same rounds."""
    ours, theirs, x, y = _pair(network, batch, side)
    floor = gemm_floor(ours, x, training=True)
    t_ours, t_theirs, t_floor = alternate(*training_steps(ours, theirs, x, y, "sgd"), floor,
                                          rounds=rounds, repeats=repeats)
    return _row(f"{network} training step", batch, t_ours, t_theirs,
                **_floor_fields(t_ours, t_theirs, t_floor))


def _floor_fields(t_ours: float, t_theirs: float, t_floor: float) -> dict:
    """The floor's time, the share of minigrad's time it is, and the speed-up over torch
    that minigrad would have if nothing but those GEMMs took time."""
    return {"gemm_floor_ms": 1e3 * t_floor, "fraction_of_floor": t_floor / t_ours,
            "floor_speedup_vs_torch": t_theirs / t_floor}


def _conv_inputs(model, x) -> list:
    """(Conv2d, its input shape) for every convolution of ``model`` on ``x``, in order."""
    seen = []
    for layer in _leaves(model):
        if isinstance(layer, nn.Conv2d):
            def record(inputs, layer=layer, forward=layer.forward):
                seen.append((layer, inputs.shape))
                return forward(inputs)
            object.__setattr__(layer, "forward", record)
    try:
        with minigrad.no_grad():
            model(x)
    finally:
        for layer in _leaves(model):
            layer.__dict__.pop("forward", None)
    return seen


def gemm_floor(model, x, training: bool):
    """A closure doing the GEMMs of ``model``'s convolutions on a batch like ``x``, on
    random operands of their shapes, split over the threads as the layers split them: the
    36 products per Winograd layer by tile position, (and in training its two backward
    sets), the im2col GEMMs by samples (and their two backward GEMMs)."""
    from minigrad import parallel
    from minigrad.nn import conv_winograd

    g = np.random.default_rng(0)
    products = []
    for conv, shape in _conv_inputs(model, x):
        oh, ow = conv.output_size(*shape[2:])
        c, o = conv.in_channels, conv.out_channels
        if conv.chosen_algorithm() == "winograd":
            tiles = shape[0] * int(np.prod(conv_winograd.tile_count(oh, ow)))
            sides = [(36, tiles, c, o)] + ([(36, o, tiles, c), (36, tiles, o, c)] if training
                                           else [])
        else:
            k = c * conv.kernel_size[0] * conv.kernel_size[1]
            rows = shape[0] * oh * ow
            sides = [(1, rows, k, o)] + ([(1, o, rows, k), (1, rows, o, k)] if training
                                         else [])
        for batches, m, k, n in sides:
            a = g.standard_normal((batches, m, k)).astype(np.float32)
            b = g.standard_normal((batches, k, n)).astype(np.float32)
            products.append((a, b, np.empty((batches, m, n), np.float32)))

    def gemms():
        for a, b, out in products:
            if a.shape[0] > 1:
                parallel.split(lambda lo, hi: np.matmul(a[lo:hi], b[lo:hi],  # noqa: B023
                                                        out=out[lo:hi]), a.shape[0])  # noqa: B023
            else:
                parallel.split(lambda lo, hi: np.matmul(a[0, lo:hi], b[0],  # noqa: B023
                                                        out=out[0, lo:hi]), a.shape[1])  # noqa: B023

    return gemms


def inference(network: str, batch: int = 32, side: int | None = None, rounds: int = 3,
              repeats: int = 3) -> dict:
    """An eval-mode forward of ``network``, minigrad against torch."""
    torch = torch_with_our_threads()
    ours, theirs, x, _ = _pair(network, batch, side)
    ours.eval()
    theirs.eval()
    xt = torch.from_numpy(x)

    def forward_ours():
        with minigrad.no_grad():
            ours(x)

    def forward_theirs():
        with torch.no_grad():
            theirs(xt)

    floor = gemm_floor(ours, x, training=False)
    t_ours, t_theirs, t_floor = alternate(forward_ours, forward_theirs, floor, rounds=rounds,
                                          repeats=repeats)
    return _row(f"{network} inference", batch, t_ours, t_theirs,
                **_floor_fields(t_ours, t_theirs, t_floor))


def conv_scratch(network: str, batch: int = 128, side: int | None = None) -> dict:
    """The largest scratch of any convolution of ``network`` in a training step: the peak
    numpy allocation (tracemalloc, every thread) during its forward or backward beyond the
    array it returns, with the workspace released first so that its buffer counts."""
    ours, _, x, _ = _pair(network, batch, side)
    worst, worst_layer = 0, ""
    for layer in _leaves(ours):
        if isinstance(layer, nn.Conv2d):
            dy = np.ones_like(layer(x))  # made here: the upstream gradient is no scratch
            scratch = max(peak_scratch_bytes(lambda: layer(x)),  # noqa: B023
                          peak_scratch_bytes(lambda: layer.backward(dy)))  # noqa: B023
            layer.clear_saved()
            if scratch > worst:
                worst, worst_layer = scratch, repr(layer)
        with minigrad.no_grad():
            x = layer(x)
    return {"name": f"{network} conv scratch", "batch": batch, "scratch_mib": worst / 2**20,
            "layer": worst_layer, "scratch_limit_mib": nn.Conv2d.scratch_bytes / 2**20}


def _leaves(module):
    children = list(module.children())
    return [leaf for child in children for leaf in _leaves(child)] if children else [module]


def peak_memory(network: str, batch: int = 128, side: int | None = None,
                steps: int = 3) -> dict:
    """Peak resident memory of ``steps`` training steps, minigrad and torch each in a fresh
    process of its own: the process's peak, and its growth over the process before the
    first step (libraries, network and batch loaded)."""
    out = {"name": f"{network} peak memory", "batch": batch}
    for framework in ("minigrad", "torch"):
        command = [sys.executable, "-m", "minigrad_bench.speed.convnets", framework, network,
                   str(batch), str(side or 0), str(steps), str(minigrad.get_num_threads())]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        child = json.loads(done.stdout.strip().splitlines()[-1])
        out[f"{framework}_peak_mib"] = child["peak_mib"]
        out[f"{framework}_step_mib"] = child["peak_mib"] - child["before_mib"]
    out["peak_ratio"] = out["minigrad_peak_mib"] / out["torch_peak_mib"]
    # A tiny step may not raise torch's peak at all (the --quick sizes)
    out["step_ratio"] = out["minigrad_step_mib"] / max(out["torch_step_mib"], 1.0)
    return out


def _peak_mib() -> float:
    """This process's peak resident set: VmHWM where /proc has it, which starts afresh at
    exec (Linux's ru_maxrss keeps the forking parent's peak across the exec), else
    ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _measure_memory(framework: str, network: str, batch: int, side: int, steps: int,
                    threads: int) -> dict:
    """One peak_memory child: builds only ``framework``'s network and batch, then steps."""
    channels, default_side, ours_builder, theirs_builder = NETWORKS[network]
    side = side or default_side
    g = np.random.default_rng(0)
    x = g.standard_normal((batch, channels, side, side)).astype(np.float32)
    y = g.integers(0, 10, batch)
    if framework == "minigrad":
        from minigrad import optim

        minigrad.set_num_threads(threads)
        model, loss_fn = ours_builder(g).train(), nn.CrossEntropyLoss()
        opt = optim.SGD(model.parameters(), lr=0.01)

        def step():
            opt.zero_grad()
            loss_fn(model(x), y)
            model.backward(loss_fn.backward())
            opt.step()
    else:
        import torch

        torch.set_num_threads(threads)
        model = theirs_builder().train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt), yt).backward()
            opt.step()
    before = _peak_mib()
    for _ in range(steps):
        step()
    return {"before_mib": before, "peak_mib": _peak_mib()}


if __name__ == "__main__":
    framework, network, batch, side, steps, threads = sys.argv[1:7]
    print(json.dumps(_measure_memory(framework, network, int(batch), int(side), int(steps),
                                     int(threads))))
