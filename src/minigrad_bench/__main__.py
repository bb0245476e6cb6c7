"""The ``minigrad-bench`` command (also ``python -m minigrad_bench``).

    minigrad-bench compare --dataset mnist --profile quick      # numpy net, torch twin, torch VGG
    minigrad-bench torch --dataset mnist --recipe improved       # one torch VGG baseline
    minigrad-bench speed [--quick] [--processes 3] [--isa native|avx2]  # minigrad / torch speed
    minigrad-bench gpu-speed [--device cuda] [--json PATH]       # the torch VGG step, images/s

Bad input (unknown data set, profile, device or recipe; CUDA asked for without a GPU; data
missing) prints one message and exits with code 2 before anything is written. Ctrl-C exits
with 130 and leaves the partial results in ``<out>/incomplete/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from minigrad.checks import check_int
from minigrad_bench.accuracy.baselines import VARIANTS
from minigrad_bench.accuracy.profiles import DATASETS, PROFILES, get_profile

USAGE_ERROR = 2
INTERRUPTED = 130


def _positive_int(text: str) -> int:
    value = int(text)  # not an integer: argparse's own "invalid _positive_int value" error
    try:
        return check_int(value, "value", minimum=1)
    except ValueError as error:  # argparse shows an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(error)) from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument("--profile", default="quick", choices=list(PROFILES),
                        help="full: the recipes as published; quick: a reduced run for a "
                             "small CPU; smoke: seconds, for tests (default quick)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the torch models train (auto: cuda if available)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds to run (default: the profile's, e.g. 0 1 2 for full)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default runs/bench/<command>-<dataset>-<profile>)")
    parser.add_argument("--data-dir", default=None,
                        help="data root holding mnist/, cifar10/, cifar10-partial/ "
                             "(default $MINIGRAD_DATA, else ~/.cache/minigrad)")
    parser.add_argument("--download", action="store_true",
                        help="download missing official files (default: never touch the network)")
    parser.add_argument("--cifar10-partial", action="store_true",
                        help="with --dataset cifar10: train on the partial set (the first 4,000 "
                             "training and 1,000 test images of the official files, "
                             "<data root>/cifar10-partial/cifar10_partial.npz) at any profile, "
                             "full included, even where the official files are present; every "
                             "output names it 'CIFAR-10 partial set (4,000 train / 1,000 test)'")
    parser.add_argument("--quiet", action="store_true", help="print only the final table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minigrad-bench",
        description="minigrad against PyTorch: accuracy side by side (compare, torch) and "
                    "throughput (speed). See docs/benchmarks.md.")
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser("compare", help="minigrad reference net vs its torch twin "
                                                  "vs the torch VGG baseline")
    _common(compare)
    baseline = commands.add_parser("torch", help="one torch VGG baseline run")
    _common(baseline)
    baseline.add_argument("--recipe", default="seed", choices=VARIANTS,
                          help="seed: the reference's recipe; improved (MNIST): rotations "
                               "instead of the horizontal flip")
    speed = commands.add_parser("speed", help="throughput of minigrad and torch, side by side")
    speed.add_argument("--quick", action="store_true", help="one round of everything (for tests)")
    speed.add_argument("--json", default=None, help="also write the results as JSON here")
    speed.add_argument("--processes", type=_positive_int, default=None,
                       help="fresh processes to measure in; the table shows medians and "
                            "ranges (default 3, or 1 with --quick)")
    speed.add_argument("--isa", default="native", choices=("native", "avx2"),
                       help="native: the CPU's own vector ISA on both sides (the BLAS pins "
                            "OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE lifted); avx2: both sides "
                            "restricted to AVX2 (see docs/benchmarks.md)")
    gpu = commands.add_parser("gpu-speed", help="images/s of the torch VGG training step as "
                                               "the baseline trains it (bf16 autocast and "
                                               "channels_last on CUDA; on a CPU, CPU figures)")
    gpu.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    gpu.add_argument("--quick", action="store_true",
                     help="a tiny VGG, batch 8, 1 warm-up step and 2 timed (for tests)")
    gpu.add_argument("--batch", type=_positive_int, default=None, help="default 128")
    gpu.add_argument("--warmup", type=_positive_int, default=None,
                     help="untimed steps first (default 10)")
    gpu.add_argument("--steps", type=_positive_int, default=None,
                     help="timed steps per round (default 50)")
    gpu.add_argument("--rounds", type=_positive_int, default=None, help="default 3")
    gpu.add_argument("--json", default=None, help="also write the results as JSON here")
    return parser


def _gpu_speed(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from minigrad_bench.accuracy import step_speed
    from minigrad_bench.accuracy.compare import DeviceUnavailable, resolve_device

    try:
        device = resolve_device(args.device)
    except DeviceUnavailable as err:
        print(f"minigrad-bench gpu-speed: error: {err}", file=sys.stderr)
        return USAGE_ERROR
    settings = step_speed.Settings.quick() if args.quick else step_speed.Settings()
    given = {key: getattr(args, key) for key in ("batch", "warmup", "steps", "rounds")}
    settings = replace(settings, **{k: v for k, v in given.items() if v is not None})
    step_speed.main(device, settings, args.quick, args.json)
    return 0


def _out_folder(args: argparse.Namespace) -> Path:
    if args.out is not None:
        return args.out
    name = "compare" if args.command == "compare" else f"torch-{args.recipe}"
    data = "cifar10-partial" if args.cifar10_partial else args.dataset
    return Path("runs") / "bench" / f"{name}-{data}-{args.profile}"


def _train(args: argparse.Namespace) -> int:
    from minigrad_bench.accuracy import compare
    from minigrad_bench.accuracy.baselines import baseline_recipe
    from minigrad_bench.accuracy.datasets import DataMissing, check_partial

    try:
        if args.command == "torch":
            baseline_recipe(args.dataset, args.recipe, epochs=1)
        check_partial(args.dataset, args.cifar10_partial)
    except ValueError as err:
        print(f"minigrad-bench {args.command}: error: {err}", file=sys.stderr)
        return USAGE_ERROR
    profile = get_profile(args.profile)
    seeds = tuple(args.seeds) if args.seeds else profile.seeds
    common = dict(profile=profile, device=args.device, seeds=seeds, out=_out_folder(args),
                  data_root=args.data_dir, download=args.download, verbose=not args.quiet,
                  partial=args.cifar10_partial)
    try:
        if args.command == "compare":
            compare.compare(args.dataset, **common)
        else:
            compare.torch_baseline(args.dataset, args.recipe, **common)
    except (DataMissing, compare.DeviceUnavailable) as err:
        print(f"minigrad-bench {args.command}: error: {err}", file=sys.stderr)
        return USAGE_ERROR
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse has printed its message
        return int(stop.code or 0)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("minigrad-bench needs torch: pip install 'minigrad[bench]'", file=sys.stderr)
        return USAGE_ERROR
    try:
        if args.command == "speed":
            from minigrad_bench.speed import suite

            processes = args.processes or (1 if args.quick else 3)
            return suite.main(quick=args.quick, json_path=args.json, processes=processes,
                              isa=args.isa) or 0
        if args.command == "gpu-speed":
            return _gpu_speed(args)
        return _train(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
