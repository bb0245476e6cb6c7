"""The GPU run's plan: the steps in order of importance, their estimates, the budget, the layout."""

from __future__ import annotations

import pytest

from tests.benchmarks.helpers import FakeClock

pytest.importorskip("torch")  # the plan reads the bench's profiles and speed settings

import gpu_plan  # noqa: E402


def fake_pace(seconds_per_epoch=2.0, train=48_000, total=200.0, wall=230.0):
    results = {"data": {"train": train}, "runs": [{"seconds_per_epoch": seconds_per_epoch,
                                                  "total_seconds": total}]}
    return gpu_plan.Pace.from_results(results, wall)


def test_budget_starts_a_step_whose_estimate_fits_what_is_available():
    clock = FakeClock()
    budget = gpu_plan.Budget(540, reserve=20, clock=clock)
    clock.now += 400
    assert budget.available() == pytest.approx(120)
    assert budget.refusal(119) is None and budget.refusal(None) is None
    assert budget.refusal(121) == "estimated at 121 s, more than the 120 s available of the budget"


def test_budget_refuses_any_step_once_less_than_the_minimum_is_available():
    clock = FakeClock()
    budget = gpu_plan.Budget(540, reserve=20, clock=clock)
    clock.now += 510
    assert budget.refusal(None).startswith("only 10.0 s of the 540 s budget available")
    assert budget.refusal(1.0) is not None


def test_pace_is_the_epoch_time_per_training_image_and_the_time_outside_training():
    pace = fake_pace()
    assert pace.seconds_per_image == pytest.approx(2.0 / 48_000)
    assert pace.startup == pytest.approx(30.0)
    assert pace.training(200, 3200, 1.0, 1.0) == pytest.approx(30 + 200 * 3200 * 2.0 / 48_000)
    assert pace.again(1.25) == pytest.approx(1.25 * 230)


def test_plan_runs_the_issues_commands_most_important_first(tmp_path):
    steps = gpu_plan.plan("full", "cuda", tmp_path, 4000, safety=1.0)
    assert [s.name for s in steps] == ["mnist-seed", "cifar10-partial-seed", "gpu-speed",
                                       "mnist-improved"]
    mnist, cifar, speed, improved = steps
    assert mnist.argv == ["torch", "--dataset", "mnist", "--recipe", "seed", "--profile", "full",
                          "--seeds", "0", "--device", "cuda", "--data-dir", str(tmp_path)]
    assert mnist.estimate is None and mnist.sets_pace  # runs with whatever is left
    assert cifar.argv[:6] == ["torch", "--dataset", "cifar10", "--cifar10-partial", "--recipe",
                              "seed"] and "full" in cifar.argv
    assert speed.argv == ["gpu-speed", "--device", "cuda"]
    assert speed.bench_argv(tmp_path)[-2:] == ["--json", str(tmp_path / "gpu-speed.json")]
    assert improved.bench_argv(tmp_path)[-2:] == ["--out", str(tmp_path)]
    pace = fake_pace()  # 200 epochs over 3,200 of the 4,000 images, at 32x32
    assert cifar.estimate(pace) == pytest.approx(pace.training(200, 3200, (32 / 28) ** 2, 1.0))


def test_smoke_plan_estimates_cifar_from_the_smoke_sizes(tmp_path):
    cifar = gpu_plan.plan("smoke", "cpu", tmp_path, 4000, safety=1.0)[1]
    pace = fake_pace(train=480)
    assert cifar.estimate(pace) == pytest.approx(pace.training(1, 480, (32 / 28) ** 2, 1.0))
    assert gpu_plan.plan("smoke", "cpu", tmp_path, 4000, 1.0)[2].argv[-1] == "--quick"


def test_every_file_that_can_come_back_fits_the_device_tools_limits(tmp_path):
    steps = gpu_plan.plan("full", "cuda", tmp_path, 4000, safety=1.0)
    done = ["run.log", "summary.json", *(target for s in steps for _, target in s.done_files)]
    assert len(done) == gpu_plan.MAX_FILES
    for target in done:
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / target).write_text("x")
    assert gpu_plan.check_layout(tmp_path) == []
    for step in steps:  # a step cut off brings back no more files than a finished one
        assert len(step.cut_files) <= len(step.done_files)


def test_layout_check_names_what_would_not_come_back(tmp_path):
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c" / "deep.json").write_text("x")
    (tmp_path / "odd name.txt").write_text("x")
    (tmp_path / "a" / "fine.json").write_text("x")
    for name in "123456":
        (tmp_path / f"{name}.json").write_text("x")
    assert sorted(gpu_plan.check_layout(tmp_path)) == [
        "9 files, more than 8", "a/b/c/deep.json: too deep or an odd name",
        "odd name.txt: too deep or an odd name"]


def test_preflight_covers_every_recipes_augmentation_and_the_full_width_step_on_cuda(tmp_path):
    runs = gpu_plan.preflight_argvs("cuda", tmp_path, tmp_path)
    recipes = [(a[a.index("--dataset") + 1], a[a.index("--recipe") + 1], "--cifar10-partial" in a)
               for a in runs if a[0] == "torch"]
    assert recipes == [("mnist", "seed", False), ("cifar10", "seed", True),
                       ("mnist", "improved", False)]
    assert all(a[a.index("--profile") + 1] == "smoke" and a[a.index("--device") + 1] == "cuda"
               for a in runs if a[0] == "torch")
    speed = runs[-1]
    assert speed[:3] == ["gpu-speed", "--device", "cuda"] and "--quick" not in speed
    assert "--quick" in gpu_plan.preflight_argvs("cpu", tmp_path, tmp_path)[-1]
