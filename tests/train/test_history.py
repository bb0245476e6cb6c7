import json
import math
import os

import numpy as np
import pytest

from minigrad.train import History
from minigrad.train.history import MAX_JSON_BYTES


def make_history():
    history = History(monitor="val_acc", mode="max")
    history.append({"train_loss": 0.9, "val_acc": 0.5, "lr": 0.1})
    history.append({"train_loss": 0.1 + 0.2, "val_acc": 0.75, "lr": 0.1})
    history.append({"train_loss": 0.25, "val_acc": 0.7, "lr": 0.01})
    history.best_epoch = 2
    return history


def test_history_reads_like_a_dict_of_lists():
    history = make_history()
    assert list(history) == ["train_loss", "val_acc", "lr"]
    assert history["val_acc"] == [0.5, 0.75, 0.7]
    assert len(history) == 3 and history.epochs == 3
    assert dict(history.items())["lr"] == [0.1, 0.1, 0.01]
    assert history.best() == 0.75


def test_missing_metric_error_lists_the_metrics_there_are():
    with pytest.raises(KeyError, match="no metric 'val_loss'.*train_loss"):
        make_history()["val_loss"]


def test_a_metric_first_seen_later_is_padded_with_nan():
    history = History()
    history.append({"a": 1.0})
    history.append({"a": 2.0, "b": 5.0})
    history.append({"b": 6.0})
    assert history["a"][:2] == [1.0, 2.0] and math.isnan(history["a"][2])
    assert math.isnan(history["b"][0]) and history["b"][1:] == [5.0, 6.0]


def test_json_round_trip_is_exact_including_nan_and_attributes(tmp_path):
    history = make_history()
    history.append({"train_loss": math.nan, "val_acc": 0.1, "lr": 0.01})
    history.stopped_epoch, history.stop_reason = 4, "loss is nan at epoch 4, batch 2"
    path = tmp_path / "history.json"
    history.to_json(path)
    loaded = History.load(path)
    assert loaded == history
    assert loaded["train_loss"][1] == 0.1 + 0.2  # repr round-trips floats bit for bit
    assert (loaded.best_epoch, loaded.stopped_epoch) == (2, 4)
    assert loaded.monitor == "val_acc" and loaded.mode == "max"
    assert os.listdir(tmp_path) == ["history.json"]  # no temp file left behind
    assert json.loads(path.read_text().replace("NaN", "null"))["best_epoch"] == 2


def test_save_is_an_alias_of_to_json(tmp_path):
    make_history().save(tmp_path / "h.json")
    assert History.load(tmp_path / "h.json") == make_history()


@pytest.mark.parametrize(
    "mode, values, expected",
    [
        ("max", [0.5, 0.75, 0.75, 0.7], 2),  # ties: the first epoch reaching the best
        ("min", [3.0, 1.0, 2.0, 1.0], 2),
        ("min", [math.nan, 2.0, math.nan], 2),  # NaN is never best
        ("min", [math.nan], None),
    ],
)
def test_compute_best_epoch_is_one_based_first_best(mode, values, expected):
    history = History(monitor="m", mode=mode)
    for value in values:
        history.append({"m": value})
    assert history.compute_best_epoch() == expected


def test_from_dict_rejects_data_that_is_not_a_history():
    with pytest.raises(ValueError, match="'metrics'"):
        History.from_dict({"val_acc": [1.0]})


@pytest.mark.parametrize("text, message", [
    (b"\xff\xfe", "codec can't decode"),
    (b"{", "Expecting property name"),
    (b"[" * 100_000 + b"]" * 100_000, "recursion"),
    (b'{"metrics": {"val_acc": 5}}', "metric 'val_acc' must map to a list of numbers"),
    (b'{"metrics": {"a": [1.0], "b": []}}', "different numbers of epochs"),
    (b'{"metrics": {"a": [1.0]}, "best_epoch": 7}', "best_epoch must be None or a 1-based"),
    (b'{"metrics": {}, "mode": "up"}', "mode must be 'min' or 'max'"),
])
def test_load_refuses_files_that_are_not_a_history_naming_them(tmp_path, text, message):
    path = tmp_path / "h.json"
    path.write_bytes(text)
    with pytest.raises(ValueError, match=f"h.json' is not a History's JSON: .*{message}"):
        History.load(path)


def test_load_refuses_a_huge_file_unread(tmp_path):
    path = tmp_path / "h.json"
    with open(path, "wb") as file:
        file.truncate(MAX_JSON_BYTES + 1)  # sparse: no disk used
    with pytest.raises(ValueError, match=r"h.json' holds 67108865 bytes, more than a History"):
        History.load(path)
def test_step_records_round_trip_through_json_and_arrays_with_epochs_as_ints(tmp_path):
    history = make_history()
    history.append_step({"epoch": 1, "lr": 0.1})
    history.append_step({"epoch": 1, "lr": 0.2, "grad_norm": 3.5})  # a key first seen now
    assert history.steps["grad_norm"][1] == 3.5 and math.isnan(history.steps["grad_norm"][0])
    history.to_json(tmp_path / "h.json")
    loaded = History.load(tmp_path / "h.json")
    assert loaded == history and loaded.steps["epoch"] == [1, 1]
    assert all(type(e) is int for e in loaded.steps["epoch"])
    as_arrays = {**history.to_dict(),
                 "steps": {k: np.asarray(v) for k, v in history.steps.items()}}
    assert History.from_dict(as_arrays) == history  # a checkpoint keeps them as arrays
    assert history.epochs == 3  # steps are not epochs


def test_a_history_without_step_records_writes_no_steps_key():
    assert "steps" not in make_history().to_dict()
    assert History.from_dict(make_history().to_dict()).steps == {}
    with pytest.raises(ValueError, match="'steps' must be a mapping"):
        History.from_dict({**make_history().to_dict(), "steps": [1.0]})
