"""What ``gpu_run.py`` runs, in which order, what comes back, and when a step may start.

The steps, most important first, each a ``minigrad_bench`` command: the MNIST seed recipe,
the seed's CIFAR-10 recipe on the partial set, the VGG step's speed, the improved MNIST
recipe. A step starts only if the seconds left of the budget cover its estimate; the first
(MNIST) has none and runs with whatever is left. Every later estimate comes from what that
step measured (``Pace``): its seconds per epoch divided by its training images, and the part
of its process's wall time that was not training (imports, CUDA's start, loading the data),
multiplied by a safety factor.

What comes back from the device is bounded (its tool's README): at most 8 files, at most 2
folders down, names of letters, digits, '.', '_' and '-'. The steps' files fit exactly:
``run.log``, ``summary.json`` and the six below.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from minigrad_bench.accuracy.profiles import get_profile
from minigrad_bench.accuracy.step_speed import SHAPES, Settings

MIN_START = 15.0  # seconds: a step needs about this to import torch and load its data
CIFAR_PIXELS = (32 / 28) ** 2  # the VGG's work on one 32x32 image, in 28x28 images
MAX_FILES, MAX_DEPTH = 8, 2
NAME = re.compile(r"[A-Za-z0-9._-]+")
DATA_FILES = tuple(f"mnist/{kind}-ubyte.gz" for kind in (
    "train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")) + (
    "cifar10-partial/cifar10_partial.npz",)


class Budget:
    """Seconds left of ``total``, counted by ``clock`` from when the Budget is made.

    ``reserve`` seconds at the end are kept for a step cut off at its time limit to save its
    partial results: a step may use ``available()`` seconds, the time left less the reserve.
    """

    def __init__(self, total: float, reserve: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.reserve, self.clock = float(total), float(reserve), clock
        self.started = clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def available(self) -> float:
        return self.total - self.reserve - self.elapsed()

    def refusal(self, estimate: float | None) -> str | None:
        """Why a step estimated at ``estimate`` seconds (None: unknown) may not start, or None."""
        available = self.available()
        if available < MIN_START:
            return (f"only {max(available, 0):.1f} s of the {self.total:.0f} s budget available "
                    f"(a step needs at least {MIN_START:.0f} s; {self.reserve:.0f} s are kept "
                    "for saving a step cut off)")
        if estimate is not None and estimate > available:
            return (f"estimated at {estimate:.0f} s, more than the {available:.0f} s available "
                    "of the budget")
        return None


@dataclass(frozen=True)
class Pace:
    """What a finished training step measured, from which the later steps are estimated.

    Attributes:
        seconds_per_image: mean epoch wall time (training and validation) per training image.
        startup: the step's process wall time outside training (imports, CUDA, data).
        wall: the step's whole wall time.
    """

    seconds_per_image: float
    startup: float
    wall: float

    @classmethod
    def from_results(cls, results: dict, wall: float) -> Pace:
        """From the bench's ``results.json`` of a one-seed ``torch`` run and its wall time."""
        run = results["runs"][0]
        return cls(run["seconds_per_epoch"] / results["data"]["train"],
                   max(0.0, wall - run["total_seconds"]), wall)

    def training(self, epochs: int, train_images: int, pixels: float, safety: float) -> float:
        """Seconds for ``epochs`` over ``train_images`` images of ``pixels`` MNIST images each."""
        return self.startup + safety * epochs * train_images * pixels * self.seconds_per_image

    def speed(self, steps: int, batch: int, safety: float) -> float:
        """Seconds for ``steps`` training steps of ``batch`` images (at the larger shape)."""
        return self.startup + safety * steps * batch * CIFAR_PIXELS * self.seconds_per_image

    def again(self, safety: float) -> float:
        """Seconds for a run as long as the measured one."""
        return safety * self.wall


@dataclass
class Step:
    """One bench command, the files of its output that come back, and its estimate.

    ``json_output``: the command writes one JSON file (``--json``), not a folder (``--out``).
    ``sets_pace``: the later steps are estimated from this one's results.
    """

    name: str
    title: str
    argv: list[str]
    done_files: list[tuple[str, str]]  # (glob in the step's work folder, path under --out)
    cut_files: list[tuple[str, str]] = field(default_factory=list)  # when it was cut off
    estimate: Callable[[Pace], float] | None = None  # None: runs with whatever is left
    json_output: bool = False
    sets_pace: bool = False

    def bench_argv(self, folder: Path) -> list[str]:
        """``minigrad_bench``'s arguments, writing into the work ``folder``."""
        if self.json_output:
            return [*self.argv, "--json", str(folder / self.done_files[0][0])]
        return [*self.argv, "--out", str(folder)]


def training_step(name: str, title: str, argv: list[str], files: int,
                  estimate: Callable[[Pace], float] | None = None) -> Step:
    """A ``torch`` run: results and curves come back (the first ``files`` of them); cut off,
    its partial History and results instead."""
    return Step(name, title, argv,
                [("results.json", f"{name}/results.json"),
                 ("curves.png", f"{name}/curves.png")][:files],
                [("incomplete/*.history.json", f"{name}/history.incomplete.json"),
                 ("incomplete/results.incomplete.json", f"{name}/results.incomplete.json")
                 ][:files], estimate)


def plan(profile_name: str, device: str, data: Path, partial_images: int,
         safety: float) -> list[Step]:
    """Steps 1-4 at ``profile_name`` on ``device``; ``partial_images``: the partial set's
    training images (4,000), for CIFAR-10's estimate."""
    profile = get_profile(profile_name)
    common = ["--profile", profile_name, "--seeds", "0", "--device", device,
              "--data-dir", str(data)]
    cifar_train = round(0.8 * min(profile.train_images or partial_images, partial_images))
    quick = profile_name == "smoke"
    speed = Settings.quick() if quick else Settings()
    speed_steps = len(SHAPES) * (speed.warmup + 2 * speed.rounds * speed.steps)
    return [
        replace(training_step("mnist-seed", "MNIST, the seed's recipe",
                              ["torch", "--dataset", "mnist", "--recipe", "seed", *common], 2),
                sets_pace=True),
        training_step(
            "cifar10-partial-seed",
            "CIFAR-10 partial set (4,000 train / 1,000 test), the seed's CIFAR-10 recipe",
            ["torch", "--dataset", "cifar10", "--cifar10-partial", "--recipe", "seed", *common],
            2, lambda pace: pace.training(profile.vgg_epochs["cifar10"], cifar_train,
                                          CIFAR_PIXELS, safety)),
        Step("gpu-speed", f"the VGG training step's speed, batch {speed.batch}",
             ["gpu-speed", "--device", device, *(["--quick"] if quick else [])],
             [("gpu-speed.json", "gpu-speed.json")],
             estimate=lambda pace: pace.speed(speed_steps, speed.batch, safety),
             json_output=True),
        training_step("mnist-improved", "MNIST, the improved recipe",
                      ["torch", "--dataset", "mnist", "--recipe", "improved", *common], 1,
                      lambda pace: pace.again(safety)),
    ]


def preflight_argvs(device: str, data: Path, work: Path) -> list[list[str]]:
    """The bench's path on ``device`` for seconds: the three recipes' smoke runs (every
    augmentation), then a few ``gpu-speed`` steps, of the full-width VGG on CUDA (on a CPU,
    where each of those takes seconds, of the tiny one)."""
    common = ["--profile", "smoke", "--device", device, "--data-dir", str(data), "--quiet"]
    speed = (["--warmup", "1", "--steps", "2", "--rounds", "1"] if device == "cuda"
             else ["--quick"])
    return [["torch", "--dataset", "mnist", "--recipe", "seed", *common,
             "--out", str(work / "mnist-seed")],
            ["torch", "--dataset", "cifar10", "--cifar10-partial", "--recipe", "seed", *common,
             "--out", str(work / "cifar10-partial-seed")],
            ["torch", "--dataset", "mnist", "--recipe", "improved", *common,
             "--out", str(work / "mnist-improved")],
            ["gpu-speed", "--device", device, *speed, "--json", str(work / "speed.json")]]


def check_layout(out: Path) -> list[str]:
    """What in ``out`` the device tool would not bring back (empty when all is well)."""
    files = [p for p in out.rglob("*") if p.is_file()]
    problems = [f"{len(files)} files, more than {MAX_FILES}"] if len(files) > MAX_FILES else []
    for path in files:
        parts = path.relative_to(out).parts
        if len(parts) > MAX_DEPTH + 1 or not all(NAME.fullmatch(part) for part in parts):
            problems.append(f"{path.relative_to(out)}: too deep or an odd name")
    return problems
