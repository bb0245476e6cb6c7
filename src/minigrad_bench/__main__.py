"""The ``minigrad-bench`` command (also ``python -m minigrad_bench``).

    minigrad-bench compare --dataset mnist --profile quick      # numpy net, torch twin, torch VGG
    minigrad-bench torch --dataset mnist --recipe improved       # one torch VGG baseline
    minigrad-bench speed [--quick] [--processes 3] [--isa native|avx2]  # minigrad / torch speed

Bad input (unknown data set, profile, device or recipe; CUDA asked for without a GPU; data
missing) prints one message and exits with code 2 before anything is written. Ctrl-C exits
with 130 and leaves the partial results in ``<out>/incomplete/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from minigrad_bench.accuracy.baselines import VARIANTS
from minigrad_bench.accuracy.profiles import DATASETS, PROFILES, get_profile

USAGE_ERROR = 2
INTERRUPTED = 130


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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
    return parser


def _out_folder(args: argparse.Namespace) -> Path:
    if args.out is not None:
        return args.out
    name = "compare" if args.command == "compare" else f"torch-{args.recipe}"
    return Path("runs") / "bench" / f"{name}-{args.dataset}-{args.profile}"


def _train(args: argparse.Namespace) -> int:
    from minigrad_bench.accuracy import compare
    from minigrad_bench.accuracy.baselines import baseline_recipe
    from minigrad_bench.accuracy.datasets import DataMissing

    if args.command == "torch":
        try:
            baseline_recipe(args.dataset, args.recipe, epochs=1)
        except ValueError as err:
            print(f"minigrad-bench torch: error: {err}", file=sys.stderr)
            return USAGE_ERROR
    profile = get_profile(args.profile)
    seeds = tuple(args.seeds) if args.seeds else profile.seeds
    common = dict(profile=profile, device=args.device, seeds=seeds, out=_out_folder(args),
                  data_root=args.data_dir, download=args.download, verbose=not args.quiet)
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
        return _train(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
