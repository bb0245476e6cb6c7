"""``gpu-speed``: the VGG step timed as the baseline trains it; on a CPU, said to be the CPU."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from minigrad_bench.accuracy import step_speed  # noqa: E402
from tests.bench.helpers import run_cli  # noqa: E402


def test_quick_run_on_cpu_writes_both_shapes_labelled_as_cpu_figures(tmp_path):
    path = tmp_path / "speed.json"
    code, stdout, stderr = run_cli(["gpu-speed", "--quick", "--device", "cpu",
                                    "--json", str(path)])
    assert code == 0, stderr
    results = json.loads(path.read_text())
    assert results["device"] == "cpu" and "CPU figures, not GPU figures" in results["label"]
    assert "CPU figures, not GPU figures" in stdout and results["table"] in stdout
    assert (results["autocast"], results["channels_last"]) == (False, False)
    assert [row["input"] for row in results["rows"]] == ["1x28x28", "3x32x32"]
    for row in results["rows"]:
        assert row["batch"] == 8 and row["peak_memory_mib"] is None
        low, high = row["step_ms_range"]
        assert 0 < low <= row["step_ms"] <= high
        assert row["images_per_s"] == pytest.approx(8 / (row["step_ms"] / 1000))
        assert row["with_batches_images_per_s"] == pytest.approx(
            8 / (row["with_batches_ms"] / 1000))
    assert results["settings"]["widths"] == [4, 8, 8, 16]


def test_timed_stretch_is_synchronised_on_both_sides_on_cuda(monkeypatch):
    events = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append("sync"))
    step_speed._timed(torch.device("cuda"), lambda: events.append("work"))
    assert events == ["sync", "work", "sync"]


def test_settings_from_the_command_line_replace_the_defaults(monkeypatch):
    seen = []
    monkeypatch.setattr(step_speed, "main", lambda device, settings, quick, path: seen.append(
        (device, settings, quick)))
    assert run_cli(["gpu-speed", "--device", "cpu", "--steps", "7", "--batch", "64"])[0] == 0
    (device, settings, quick), = seen
    assert (device, settings.batch, settings.steps, settings.warmup, settings.rounds,
            quick) == ("cpu", 64, 7, 10, 3, False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_asked_for_without_a_gpu_exits_2(tmp_path):
    path = tmp_path / "speed.json"
    code, _, stderr = run_cli(["gpu-speed", "--device", "cuda", "--json", str(path)])
    assert code == 2 and "no CUDA GPU" in stderr
    assert not path.exists()
