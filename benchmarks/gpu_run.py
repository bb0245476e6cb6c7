"""The GPU run of issue 17: the seed's torch baselines at their full recipes, in one command.

The device tool's call (one ``run``; the machine needs nothing else):

    command:   PYTHONUNBUFFERED=1 python3 benchmarks/gpu_run.py --out "$OUT"
    carry:     [".gpu-data"]
    timeout_s: 600

Before it, here, once: ``python benchmarks/gpu_run.py --stage-data`` copies the four MNIST
files and the CIFAR-10 partial set (about 26 MB) from $MINIGRAD_DATA into ``.gpu-data/``,
which git ignores, and prints the call again.

The steps, most important first; each one's files are in --out as soon as it ends:

0. the environment (``summary.json``) and a preflight: one process runs the bench's CUDA path
   for seconds (smoke runs of the MNIST seed, CIFAR-10 partial and MNIST improved recipes,
   and a few full-width ``gpu-speed`` steps: autocast, channels_last, device-side
   augmentation); if anything fails there, nothing else starts (exit code 3);
1. ``mnist-seed/``: ``torch --dataset mnist --recipe seed --profile full --seeds 0``;
2. ``cifar10-partial-seed/``: the seed's CIFAR-10 recipe at the full profile on the partial
   set (``--cifar10-partial``);
3. ``gpu-speed.json``: images/s of the VGG step at batch 128, 1x28x28 and 3x32x32;
4. ``mnist-improved/``: the improved MNIST recipe, if the time left covers it.

``--out`` gets at most 8 files, at most 2 folders down, as the device tool brings back:
``run.log`` (everything printed), ``summary.json`` (rewritten after every step),
``mnist-seed/{results.json,curves.png}``, ``cifar10-partial-seed/{results.json,curves.png}``,
``gpu-speed.json`` and ``mnist-improved/results.json``. A step cut off at the budget's end is
sent Ctrl-C, and its partial History comes back instead (``history.incomplete.json``).
The steps and the budget: gpu_plan.py. On a CPU, for tests: ``--device cpu --profile smoke``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the source tree, as on the device machine

import numpy as np  # noqa: E402
from gpu_plan import (  # noqa: E402
    DATA_FILES,
    Budget,
    Pace,
    Step,
    check_layout,
    plan,
    preflight_argvs,
)

from minigrad.fileio import atomic_write  # noqa: E402
from minigrad_bench.accuracy.profiles import PROFILES  # noqa: E402

RUN_CALL = {"command": 'PYTHONUNBUFFERED=1 python3 benchmarks/gpu_run.py --out "$OUT"',
            "carry": [".gpu-data"], "timeout_s": 600}
DATA_FOLDER = ROOT / ".gpu-data"
PREFLIGHT_SECONDS = 180.0  # its four runs take seconds on a GPU; a hang must not eat all
ABORTED, FAILED = 3, 1


class Log:
    """Every line to ``run.log`` and stdout; the script's own lines carry the elapsed time."""

    def __init__(self, path: Path, budget: Budget):
        self.file, self.budget = path.open("a", encoding="utf-8", buffering=1), budget

    def say(self, text: str) -> None:
        self.write(f"[gpu_run {self.budget.elapsed():6.1f} s] {text}\n")

    def write(self, line: str) -> None:
        self.file.write(line)
        sys.stdout.write(line)
        sys.stdout.flush()

    def close(self) -> None:
        self.file.close()


def preflight_child(device: str, data: Path, work: Path) -> int:
    """In its own process: the torch environment, then the preflight runs; 0 if all passed."""
    import torch

    from minigrad_bench.__main__ import main

    cuda = torch.cuda.is_available()
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
           "cuda_available": cuda, "gpu": torch.cuda.get_device_name(0) if cuda else None,
           "capability": list(torch.cuda.get_device_capability(0)) if cuda else None}
    (work / "torch-environment.json").write_text(json.dumps(env))
    print(f"[preflight] {json.dumps(env)}", flush=True)
    for argv in preflight_argvs(device, data, work):
        print(f"[preflight] minigrad_bench {shlex.join(argv)}", flush=True)
        code = main(argv)
        problem = f"exit code {code}" if code else preflight_problem(argv, device)
        if problem:
            print(f"[preflight] FAILED ({problem}): minigrad_bench {shlex.join(argv)}",
                  flush=True)
            return ABORTED
    return 0


def preflight_problem(argv: list[str], device: str) -> str | None:
    """What is wrong with a preflight run's output, beyond its exit code."""
    if argv[0] == "gpu-speed":
        speed = json.loads(Path(argv[-1]).read_text())
        fast = speed["autocast"] and speed["channels_last"]
        return None if fast or device != "cuda" else "no bf16 autocast or channels_last on CUDA"
    (run,) = json.loads((Path(argv[-1]) / "results.json").read_text())["runs"]
    if run["device"] != device:
        return f"trained on {run['device']}, not {device}"
    if run["epochs_run"] != run["recipe"]["epochs"] or not np.isfinite(run["test_acc"]):
        return f"stopped early: {run['stop_reason']}"
    return None


def child_env(data: Path) -> dict:
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
            "MINIGRAD_DATA": str(data)}


def _ctrl_c_reaches_child() -> None:
    """In the child before it starts: SIGINT back to its default. A shell runs a command it
    starts in the background (``... &``, ``nohup``) with SIGINT ignored, the child inherits
    that, and Python then never raises KeyboardInterrupt: the budget's Ctrl-C would go
    unheard and the step be killed without saving its partial results."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_process(command: list[str], timeout: float, grace: float, log: Log,
                env: dict) -> tuple[int, str | None]:
    """Runs ``command``, its output into the log; past ``timeout`` s it is sent Ctrl-C (the
    bench then saves its partial results) and killed ``grace`` s later. (exit code, how cut)."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1,
                               preexec_fn=_ctrl_c_reaches_child if os.name == "posix" else None)
    reader = threading.Thread(target=lambda: [log.write(line) for line in process.stdout])
    reader.start()
    cut = None
    try:
        code = process.wait(timeout=max(timeout, 1.0))
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        cut = "interrupted at the budget's end"
        try:
            code = process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            code, cut = process.wait(), "killed at the budget's end"
    reader.join()
    return code, cut


def bring_back(step: Step, work: Path, out: Path, complete: bool) -> list[str]:
    """Copies the step's files that matter from its work folder into ``out``."""
    kept = []
    for pattern, target in step.done_files if complete else step.cut_files:
        sources = sorted(work.glob(pattern))
        if sources:
            (out / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sources[0], out / target)
            kept.append(target)
    return kept


def figures(step: Step, out: Path) -> dict:
    """The numbers a step's files hold, for the summary and the log."""
    if step.json_output:
        speed = json.loads((out / step.done_files[0][1]).read_text())
        return {"label": speed["label"], "rows": [
            {k: row[k] for k in ("input", "batch", "step_ms", "images_per_s",
                                 "with_batches_images_per_s", "peak_memory_mib")}
            for row in speed["rows"]]}
    results = json.loads((out / step.name / "results.json").read_text())
    (run,) = results["runs"]
    keys = ("model", "device", "epochs_run", "best_epoch", "best_val_acc", "test_acc",
            "seconds_per_epoch", "total_seconds", "stop_reason")
    return {"data": results["data"]["set"], "gpu": results["environment"]["gpu"],
            **{k: run[k] for k in keys}}


@dataclass
class Session:
    """What every step of one run shares."""

    budget: Budget
    log: Log
    work: Path  # the bench's output folders, of which only some files come back
    out: Path
    env: dict


def run_step(step: Step, pace: Pace | None, session: Session) -> tuple[dict, Pace | None]:
    """Starts ``step`` if the budget allows; its record for the summary, and the new Pace."""
    budget, log = session.budget, session.log
    estimate = step.estimate(pace) if step.estimate and pace else None
    folder = session.work / step.name
    command = [sys.executable, "-m", "minigrad_bench", *step.bench_argv(folder)]
    record = {"name": step.name, "title": step.title,
              "command": shlex.join(["python", *command[1:]]), "estimate_s": estimate}
    refusal = budget.refusal(estimate)
    if refusal:
        log.say(f"SKIPPED {step.name} ({step.title}): {refusal}")
        return {**record, "status": "skipped", "reason": refusal}, pace
    if step.estimate and pace is None:
        log.say(f"{step.name}: no measured pace to estimate it from; it runs with what is left")
    timeout = budget.available()
    log.say(f"START {step.name} ({step.title}), up to {timeout:.0f} s"
            + (f", estimated {estimate:.0f} s" if estimate is not None else "")
            + f": {record['command']}")
    folder.mkdir(parents=True)
    started = budget.elapsed()
    code, cut = run_process(command, timeout, budget.reserve, log, session.env)
    wall = budget.elapsed() - started
    complete = code == 0 and cut is None
    record.update(timeout_s=timeout, wall_s=wall, exit_code=code,
                  status="done" if complete else cut or f"failed (exit code {code})",
                  files=bring_back(step, folder, session.out, complete))
    if complete:
        record["figures"] = figures(step, session.out)
        if step.sets_pace:
            pace = Pace.from_results(json.loads((folder / "results.json").read_text()), wall)
    log.say(f"END {step.name}: {record['status']} after {wall:.1f} s; "
            f"files {record['files']}; {json.dumps(record.get('figures'))}")
    return record, pace


def environment() -> dict:
    """The machine, as the script sees it before any step (torch's view: the preflight's)."""
    env = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
           "platform": platform.platform(), "python": platform.python_version(),
           "cpu_count": os.cpu_count(), "nvidia_smi": None}
    smi = shutil.which("nvidia-smi")
    if smi:
        query = [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
        done = subprocess.run(query, capture_output=True, text=True, timeout=60)
        env["nvidia_smi"] = (done.stdout or done.stderr).strip()
    return env


def write_summary(out: Path, summary: dict) -> None:
    with atomic_write(out / "summary.json", "w") as file:
        json.dump(summary, file, indent=1)
        file.write("\n")


def preflight(args, budget: Budget, log: Log, work: Path, summary: dict) -> bool:
    """Step 0 in its own process; True if the bench's CUDA path ran."""
    folder = work / "preflight"
    folder.mkdir()
    command = [sys.executable, str(Path(__file__).resolve()), "--preflight-child",
               "--device", args.device, "--data-dir", str(args.data_dir), "--work", str(folder)]
    timeout = min(PREFLIGHT_SECONDS, budget.available())
    log.say(f"PREFLIGHT (the bench's {args.device} path for seconds), up to {timeout:.0f} s")
    started = budget.elapsed()
    code, cut = run_process(command, timeout, budget.reserve, log, child_env(args.data_dir))
    torch_env = folder / "torch-environment.json"
    if torch_env.is_file():
        summary["environment"]["torch"] = json.loads(torch_env.read_text())
    passed = code == 0 and cut is None
    summary["preflight"] = {"status": "passed" if passed else cut or f"failed (exit {code})",
                            "wall_s": budget.elapsed() - started,
                            "runs": [shlex.join(a) for a in preflight_argvs(
                                args.device, args.data_dir, folder)]}
    return passed


def orchestrate(args) -> int:
    """Steps 0 to 4 into ``args.out``; 0 if MNIST and every other step that started finished."""
    budget = Budget(args.budget, reserve=args.grace)
    args.out.mkdir(parents=True, exist_ok=True)
    log = Log(args.out / "run.log", budget)
    try:
        return _orchestrate(args, budget, log)
    finally:
        log.close()


def _orchestrate(args, budget: Budget, log: Log) -> int:
    summary = {"issue": 17, "run_call": RUN_CALL, "argv": sys.argv[1:], "budget_s": args.budget,
               "profile": args.profile, "device": args.device, "safety": args.safety,
               "environment": environment(), "preflight": None, "steps": [], "outcome": None}
    log.say(f"the device tool's call: {json.dumps(RUN_CALL)}")
    log.say(f"budget {args.budget:.0f} s, profile {args.profile}, device {args.device}; "
            f"environment {json.dumps(summary['environment'])}")
    write_summary(args.out, summary)
    with tempfile.TemporaryDirectory(prefix="gpu-run-") as folder:
        work = Path(folder)
        if not preflight(args, budget, log, work, summary):
            summary["outcome"] = (f"aborted: the preflight (the bench's {args.device} path at "
                                  "the smoke profile) failed, so no full run was started; "
                                  "what it printed is in run.log")
            log.say(f"PREFLIGHT FAILED: {summary['preflight']['status']}; "
                    f"{summary['outcome']}")
            write_summary(args.out, summary)
            return ABORTED
        log.say(f"preflight passed in {summary['preflight']['wall_s']:.1f} s")
        session, pace = Session(budget, log, work, args.out, child_env(args.data_dir)), None
        with np.load(args.data_dir / DATA_FILES[-1], allow_pickle=False) as npz:
            partial_images = len(npz["y_train"])
        for step in plan(args.profile, args.device, args.data_dir, partial_images, args.safety):
            record, pace = run_step(step, pace, session)
            summary["steps"].append(record)
            write_summary(args.out, summary)
    statuses = {r["name"]: r["status"] for r in summary["steps"]}
    summary["outcome"] = "; ".join(f"{name}: {status}" for name, status in statuses.items())
    summary["elapsed_s"] = budget.elapsed()
    write_summary(args.out, summary)
    for problem in check_layout(args.out):
        log.say(f"WARNING: the device tool will not bring this back: {problem}")
    log.say(f"finished in {budget.elapsed():.1f} s: {summary['outcome']}")
    finished = statuses.get("mnist-seed") == "done"  # the run's reason to be
    return 0 if finished and set(statuses.values()) <= {"done", "skipped"} else FAILED


def stage_data(source: str | None) -> int:
    """Copies the run's data from ``source`` (default $MINIGRAD_DATA) into .gpu-data/."""
    source = source or os.environ.get("MINIGRAD_DATA")
    if not source:
        print("gpu_run --stage-data: error: no data folder: set MINIGRAD_DATA or pass --from",
              file=sys.stderr)
        return 2
    root = Path(source)
    missing = [name for name in DATA_FILES if not (root / name).is_file()]
    if missing:
        print(f"gpu_run --stage-data: error: {root} lacks {', '.join(missing)}",
              file=sys.stderr)
        return 2
    for name in DATA_FILES:
        (DATA_FOLDER / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name, DATA_FOLDER / name)
    size = sum((DATA_FOLDER / name).stat().st_size for name in DATA_FILES)
    print(f"copied {len(DATA_FILES)} files ({size / 2**20:.1f} MiB) from {root} into "
          f"{DATA_FOLDER}\nthe device tool's call: {json.dumps(RUN_CALL)}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where the results go (the device's $OUT)")
    parser.add_argument("--data-dir", type=Path, default=DATA_FOLDER,
                        help="holding mnist/ and cifar10-partial/ (default .gpu-data)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--profile", default="full", choices=list(PROFILES),
                        help="steps 1-4's profile (the preflight always runs smoke)")
    parser.add_argument("--budget", type=float, default=540.0,
                        help="seconds for everything (default 540 of the call's 600)")
    parser.add_argument("--safety", type=float, default=1.25,
                        help="estimates are multiplied by this (default 1.25)")
    parser.add_argument("--grace", type=float, default=20.0,
                        help="seconds between Ctrl-C and kill for a step cut off (default 20)")
    parser.add_argument("--stage-data", action="store_true",
                        help="copy the data from $MINIGRAD_DATA (or --from) into .gpu-data/")
    parser.add_argument("--from", dest="source", default=None,
                        help="with --stage-data: the data folder (default $MINIGRAD_DATA)")
    parser.add_argument("--preflight-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not (args.stage_data or args.preflight_child) and args.out is None:
        parser.error("--out is required (or --stage-data)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stage_data:
        return stage_data(args.source)
    if args.preflight_child:
        return preflight_child(args.device, args.data_dir, args.work)
    missing = [name for name in DATA_FILES if not (args.data_dir / name).is_file()]
    if missing:
        print(f"gpu_run: error: {args.data_dir} lacks {', '.join(missing)}; run "
              "`python benchmarks/gpu_run.py --stage-data` here and carry .gpu-data",
              file=sys.stderr)
        return 2
    if args.out.exists() and any(args.out.iterdir()):
        print(f"gpu_run: error: --out {args.out} is not empty", file=sys.stderr)
        return 2
    args.data_dir = args.data_dir.resolve()
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
