"""gpu_run.py: a failed preflight stops everything, the steps run as the budget allows, and
what comes back fits the device tool's limits. The bench's processes are faked here except
in the preflight test; the real thing on CPU: docs/benchmarks.md, "The GPU run"."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.benchmarks.helpers import FakeClock

torch = pytest.importorskip("torch")

import gpu_plan  # noqa: E402
import gpu_run  # noqa: E402

from tests.bench.accuracy.test_datasets import write_partial_set  # noqa: E402


@pytest.fixture
def data(tmp_path) -> Path:
    """A data folder as --stage-data leaves it (MNIST's files empty: the fakes never read them)."""
    root = tmp_path / "data"
    write_partial_set(root, n_train=4000, n_test=10)
    for name in gpu_plan.DATA_FILES[:4]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    return root


class FakeBench:
    """Stands in for the bench's processes: writes what each writes and moves the clock by
    ``seconds[step]`` (default 10 s); the steps in ``cut`` are cut off as at the budget's end."""

    def __init__(self, clock: FakeClock, seconds=None, seconds_per_epoch=2.0, cut=()):
        self.clock, self.seconds, self.cut = clock, seconds or {}, cut
        self.seconds_per_epoch, self.started = seconds_per_epoch, []

    def __call__(self, command, timeout, grace, log, env):
        if "--preflight-child" in command:
            work = Path(command[command.index("--work") + 1])
            (work / "torch-environment.json").write_text(json.dumps({"torch": "fake"}))
            self.clock.now += 10
            return 0, None
        argv = command[3:]  # after "python -m minigrad_bench"
        target = Path(argv[argv.index("--json" if argv[0] == "gpu-speed" else "--out") + 1])
        name = target.parent.name if argv[0] == "gpu-speed" else target.name
        self.started.append(name)
        self.clock.now += self.seconds.get(name, 10)
        if argv[0] == "gpu-speed":
            target.write_text(json.dumps({"label": "fake", "rows": [
                {"input": "1x28x28", "batch": 128, "step_ms": 5.0, "images_per_s": 25600.0,
                 "with_batches_images_per_s": 20000.0, "peak_memory_mib": 900.0}]}))
        elif name in self.cut:
            (target / "incomplete").mkdir()
            (target / "incomplete" / "torch-VGG.history.json").write_text('{"complete": false}')
            (target / "incomplete" / "results.incomplete.json").write_text('{"complete": false}')
            return 130, "interrupted at the budget's end"
        else:
            (target / "results.json").write_text(json.dumps(self.results(argv, name)))
            (target / "curves.png").write_bytes(b"\x89PNG")
        return 0, None

    def results(self, argv, name):
        """A results.json as the bench writes it; 5 s of the process are not training."""
        run = {"model": "torch VGG", "device": "cuda", "epochs_run": 100, "best_epoch": 90,
               "best_val_acc": 0.995, "test_acc": 0.996,
               "total_seconds": self.seconds.get(name, 10) - 5.0,
               "seconds_per_epoch": self.seconds_per_epoch, "stop_reason": None}
        dataset = argv[argv.index("--dataset") + 1]
        return {"data": {"train": 48_000 if dataset == "mnist" else 3200, "set": dataset},
                "environment": {"gpu": "fake GPU"}, "runs": [run]}


def run_with(bench: FakeBench, monkeypatch, tmp_path, data, *extra) -> tuple[int, Path, dict]:
    monkeypatch.setattr(gpu_run, "run_process", bench)
    monkeypatch.setattr(gpu_run, "Budget", lambda total, reserve: gpu_plan.Budget(
        total, reserve, clock=bench.clock))
    out = tmp_path / "out"
    code = gpu_run.main(["--out", str(out), "--data-dir", str(data), *extra])
    return code, out, json.loads((out / "summary.json").read_text())


def test_every_step_runs_when_the_budget_covers_it_and_eight_files_come_back(
        monkeypatch, tmp_path, data):
    bench = FakeBench(FakeClock(), {"mnist-seed": 150})
    code, out, summary = run_with(bench, monkeypatch, tmp_path, data)
    assert code == 0
    assert bench.started == ["mnist-seed", "cifar10-partial-seed", "gpu-speed", "mnist-improved"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "cifar10-partial-seed/curves.png", "cifar10-partial-seed/results.json",
        "gpu-speed.json", "mnist-improved/results.json", "mnist-seed/curves.png",
        "mnist-seed/results.json", "run.log", "summary.json"]
    assert gpu_plan.check_layout(out) == []
    assert [s["status"] for s in summary["steps"]] == ["done"] * 4
    assert summary["preflight"]["status"] == "passed"
    assert summary["environment"]["torch"] == {"torch": "fake"}
    assert summary["steps"][0]["figures"]["test_acc"] == 0.996
    assert "python -m minigrad_bench torch --dataset mnist --recipe seed --profile full " \
           "--seeds 0 --device cuda" in summary["steps"][0]["command"]


def test_a_budget_too_small_for_cifar_skips_it_says_why_and_runs_what_fits(
        monkeypatch, tmp_path, data):
    # 6 s per MNIST epoch: CIFAR's 200 epochs of 3,200 images would take about 136 s, and
    # after the preflight's 10 s and MNIST's 450 s only 60 s of the budget are available.
    bench = FakeBench(FakeClock(), {"mnist-seed": 450}, seconds_per_epoch=6.0)
    code, out, summary = run_with(bench, monkeypatch, tmp_path, data)
    assert code == 0
    assert bench.started == ["mnist-seed", "gpu-speed"]
    statuses = {s["name"]: s["status"] for s in summary["steps"]}
    assert statuses == {"mnist-seed": "done", "cifar10-partial-seed": "skipped",
                        "gpu-speed": "done", "mnist-improved": "skipped"}
    cifar = summary["steps"][1]
    assert cifar["reason"] == (f"estimated at {cifar['estimate_s']:.0f} s, more than the 60 s "
                               "available of the budget")
    log = (out / "run.log").read_text()
    assert "SKIPPED cifar10-partial-seed (CIFAR-10 partial set" in log and cifar["reason"] in log
    assert not (out / "cifar10-partial-seed").exists()


def test_a_step_cut_off_brings_back_its_partial_history_and_the_run_says_so(
        monkeypatch, tmp_path, data):
    bench = FakeBench(FakeClock(), {"mnist-seed": 300}, cut=("mnist-seed",))
    code, out, summary = run_with(bench, monkeypatch, tmp_path, data)
    assert code == gpu_run.FAILED
    mnist = summary["steps"][0]
    assert mnist["status"] == "interrupted at the budget's end" and mnist["exit_code"] == 130
    assert mnist["files"] == ["mnist-seed/history.incomplete.json",
                              "mnist-seed/results.incomplete.json"]
    assert "no measured pace to estimate it from" in (out / "run.log").read_text()
    assert gpu_plan.check_layout(out) == []


def test_a_failed_preflight_starts_nothing_else(monkeypatch, tmp_path, data):
    def broken(command, timeout, grace, log, env):
        assert "--preflight-child" in command, "a step started after a failed preflight"
        return 3, None

    monkeypatch.setattr(gpu_run, "run_process", broken)
    out = tmp_path / "out"
    assert gpu_run.main(["--out", str(out), "--data-dir", str(data)]) == gpu_run.ABORTED
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == [] and summary["outcome"].startswith("aborted: the preflight")
    assert "PREFLIGHT FAILED" in (out / "run.log").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_fails_the_real_preflight_at_once(tmp_path, data):
    out = tmp_path / "out"
    code = gpu_run.main(["--out", str(out), "--data-dir", str(data), "--budget", "120"])
    assert code == gpu_run.ABORTED
    log = (out / "run.log").read_text()
    assert "--device cuda was requested" in log and "[preflight] FAILED (exit code 2)" in log
    assert sorted(p.name for p in out.iterdir()) == ["run.log", "summary.json"]


@pytest.mark.parametrize("handler, status, code", [
    ("print('saving', flush=True); raise SystemExit(130)", "interrupted at the budget's end",
     130),
    ("signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(30)", "killed at the budget's end",
     -9),
])
def test_a_process_past_its_time_gets_ctrl_c_then_is_killed(handler, status, code, tmp_path):
    script = ("import signal, time\nprint('started', flush=True)\ntry:\n    time.sleep(30)\n"
              f"except KeyboardInterrupt:\n    {handler}\n")
    budget = gpu_plan.Budget(100)
    log = gpu_run.Log(tmp_path / "run.log", budget)
    # 4 s each: the child must be inside its try before the Ctrl-C comes, even on a loaded
    # machine. (CI run in the background, `bash .ci/run &`, failed here: the shell ignores
    # SIGINT in background jobs and children inherit it; run_process now restores it.)
    result = gpu_run.run_process([sys.executable, "-c", script], 4.0, 4.0, log, {})
    log.close()
    assert result == (code, status)
    assert "started" in (tmp_path / "run.log").read_text()


def test_missing_data_exits_2_before_writing_anything(tmp_path, capsys):
    out = tmp_path / "out"
    assert gpu_run.main(["--out", str(out), "--data-dir", str(tmp_path / "none")]) == 2
    assert "--stage-data" in capsys.readouterr().err and not out.exists()


def test_stage_data_copies_the_five_files_and_prints_the_run_call(monkeypatch, tmp_path, data,
                                                                  capsys):
    monkeypatch.setattr(gpu_run, "DATA_FOLDER", tmp_path / "staged")
    assert gpu_run.main(["--stage-data", "--from", str(data)]) == 0
    for name in gpu_plan.DATA_FILES:
        assert (tmp_path / "staged" / name).read_bytes() == (data / name).read_bytes()
    assert json.dumps(gpu_run.RUN_CALL) in capsys.readouterr().out
    shutil.rmtree(data / "mnist")
    assert gpu_run.main(["--stage-data", "--from", str(data)]) == 2
    assert "lacks mnist/train-images-idx3-ubyte.gz" in capsys.readouterr().err
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    assert gpu_run.main(["--stage-data"]) == 2
    assert "set MINIGRAD_DATA or pass --from" in capsys.readouterr().err


@pytest.mark.parametrize("run, device, problem", [
    ({"device": "cpu", "epochs_run": 1, "recipe": {"epochs": 1}, "test_acc": 0.1}, "cuda",
     "trained on cpu, not cuda"),
    ({"device": "cuda", "epochs_run": 0, "recipe": {"epochs": 1}, "test_acc": float("nan"),
      "stop_reason": "loss is nan"}, "cuda", "stopped early: loss is nan"),
    ({"device": "cuda", "epochs_run": 1, "recipe": {"epochs": 1}, "test_acc": 0.1}, "cuda",
     None),
])
def test_preflight_fails_a_run_that_trained_elsewhere_or_stopped_early(run, device, problem,
                                                                       tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"runs": [run]}))
    assert gpu_run.preflight_problem(["torch", "--out", str(tmp_path)], device) == problem


def test_preflight_fails_a_cuda_speed_run_without_autocast_and_channels_last(tmp_path):
    path = tmp_path / "speed.json"
    path.write_text(json.dumps({"autocast": False, "channels_last": True}))
    argv = ["gpu-speed", "--json", str(path)]
    assert gpu_run.preflight_problem(argv, "cuda") == "no bf16 autocast or channels_last on CUDA"
    assert gpu_run.preflight_problem(argv, "cpu") is None


def test_a_run_whose_mnist_step_could_not_start_is_a_failure(monkeypatch, tmp_path, data):
    bench = FakeBench(FakeClock())  # the preflight's 10 s leave 10 of the 40 s available
    code, out, summary = run_with(bench, monkeypatch, tmp_path, data, "--budget", "40")
    assert code == gpu_run.FAILED and bench.started == []
    assert summary["steps"][0]["reason"].startswith("only 10.0 s of the 40 s budget available")
