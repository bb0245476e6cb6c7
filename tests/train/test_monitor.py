"""Monitor: the one place that says which metric, which direction, and what counts as better."""

import math

import pytest

from minigrad.train import Monitor


@pytest.mark.parametrize("metric, mode", [
    ("val_loss", "min"), ("train_loss", "min"), ("val_acc", "max"), ("val_accuracy", "max"),
    ("val_auc", "max"), ("val_f1", None), ("lr", None), ("val_acc_std", None),
])
def test_expected_mode_reads_the_metric_name(metric, mode):
    assert Monitor.expected_mode(metric) == mode
    if mode is not None:  # and mode="auto" resolves to it
        assert Monitor(metric, "auto").mode == mode


@pytest.mark.parametrize("mode, value, best, min_delta, improves", [
    ("max", 0.9, 0.8, 0.0, True),
    ("max", 0.8, 0.8, 0.0, False),  # a tie is not an improvement
    ("max", 1.5, 1.0, 0.5, False),  # better by exactly min_delta is not better by more
    ("max", 1.75, 1.0, 0.5, True),
    ("min", 0.5, 0.75, 0.25, False),
    ("min", 0.25, 0.75, 0.25, True),
    ("min", math.nan, 1.0, 0.0, False),  # NaN never improves
    ("max", math.nan, -math.inf, 0.0, False),
])
def test_an_improvement_is_better_by_more_than_min_delta(mode, value, best, min_delta, improves):
    monitor = Monitor("score", mode, min_delta)
    assert monitor.is_improvement(value, best) is improves


def test_every_number_improves_on_the_starting_best():
    assert Monitor("val_loss", "min").worst == math.inf
    assert Monitor("val_acc", "max").worst == -math.inf
    assert Monitor("val_acc", "max").is_improvement(-1e300, Monitor("val_acc", "max").worst)


def test_value_reads_the_logs_and_a_missing_metric_names_those_there_are():
    monitor = Monitor("val_acc", "max", owner="EarlyStopping")
    assert monitor.value({"val_acc": 0.5, "lr": 0.1}) == 0.5
    with pytest.raises(KeyError, match=r"EarlyStopping: metric 'val_acc' is not among .*'lr'"):
        monitor.value({"lr": 0.1, "train_loss": 1.0})


def test_needs_validation_for_val_metrics_only():
    assert Monitor("val_loss").needs_validation
    assert not Monitor("train_loss").needs_validation


@pytest.mark.parametrize("args, message", [
    (("", "min"), "Owner: monitor must be a metric name"),
    (("val_loss", "down"), "Owner: mode must be 'min', 'max' or 'auto', got 'down'"),
    (("val_f1", "auto"), "Owner: mode='auto' cannot tell whether 'val_f1' should go up or"),
    (("val_loss", "max"), "improves when it goes down, so mode must be 'min'"),
    (("val_acc", "min"), "improves when it goes up, so mode must be 'max'"),
    (("val_acc", "max", -0.1), "min_delta must be a finite number >= 0"),
    (("val_acc", "max", math.inf), "min_delta must be a finite number >= 0"),
])
def test_bad_arguments_are_refused_naming_the_owner(args, message):
    with pytest.raises(ValueError, match=message):
        Monitor(*args, owner="Owner")
