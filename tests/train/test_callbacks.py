"""EarlyStopping, ModelCheckpoint and CSVLogger semantics, pinned with scripted metric sequences."""

import csv
import math

import numpy as np
import pytest

from minigrad.checkpoint import load
from minigrad.optim import SGD
from minigrad.train import CSVLogger, EarlyStopping, ModelCheckpoint, Trainer
from tests.train.helpers import Net, RecordWeights, ScriptedLoss, one_batch_loader

nan = math.nan

# (values over epochs 1.., mode, patience, min_delta, start_from_epoch) ->
# (stopped_epoch or None, best_epoch)
SCRIPTS = [
    # patience N: best at epoch b, nothing better after -> the last epoch run is b + N
    ([1, 2, 3, 3, 3, 3, 3], "max", 2, 0.0, 0, 5, 3),
    ([1, 2, 3, 2, 2, 2, 2], "max", 3, 0.0, 0, 6, 3),
    # the count is of CONSECUTIVE non-improving epochs: an improvement resets it
    ([1, 0, 2, 0, 3, 0, 0], "max", 2, 0.0, 0, 7, 5),
    # a tie is not an improvement
    ([0.5, 0.5, 0.5, 0.5], "max", 2, 0.0, 0, 3, 1),
    ([3, 2, 2.5, 1, 1, 1], "min", 2, 0.0, 0, 6, 4),
    # patience 0: stop at the first non-improving epoch
    ([1, 2, 1, 5], "max", 0, 0.0, 0, 3, 2),
    # min_delta: the improvement must be MORE than min_delta (1.5 - 0.5 == 1.0 is not)
    ([1.0, 1.5, 1.25, 3.0], "max", 2, 0.5, 0, 3, 1),
    ([1.0, 1.5, 1.25, 3.0], "max", 3, 0.5, 0, None, 4),
    ([4.0, 3.5, 3.25, 1.0], "min", 3, 0.5, 0, None, 4),
    # start_from_epoch=2: epochs 1 and 2 are neither compared nor counted
    ([9, 8, 1, 1, 1], "max", 2, 0.0, 2, 5, 3),
    ([9, 8, 1, 1, 1], "max", 2, 0.0, 0, 3, 1),
    # NaN never improves and counts as a non-improving epoch
    ([1, nan, nan, 5], "max", 2, 0.0, 0, 3, 1),
    ([nan, 1, 0, 0, 0], "max", 2, 0.0, 0, 4, 2),
    # never triggered: runs out of epochs
    ([1, 2, 3, 4], "max", 1, 0.0, 0, None, 4),
]


@pytest.mark.parametrize("values, mode, patience, min_delta, start, stopped, best", SCRIPTS)
def test_early_stopping_update_follows_the_documented_semantics(
    values, mode, patience, min_delta, start, stopped, best
):
    stopper = EarlyStopping(
        monitor="m", mode=mode, patience=patience, min_delta=min_delta, start_from_epoch=start
    )
    epoch = 0
    for epoch, value in enumerate(values, 1):
        stopper.update(value, epoch)
        if stopper.stopped_epoch is not None:
            break
    assert stopper.stopped_epoch == stopped
    assert stopper.best_epoch == best
    assert epoch == (stopped or len(values))


def fit_scripted(val_losses, epochs=None, **stopper_args):
    """Trains Net on a scripted val_loss sequence; returns trainer, history, snapshots."""
    model = Net()
    recorder = RecordWeights()
    stopper = EarlyStopping(monitor="val_loss", mode="min", **stopper_args)
    trainer = Trainer(
        model,
        ScriptedLoss(model, val_losses),
        SGD(model.parameters(), lr=0.5),
        callbacks=[stopper, recorder],
    )
    history = trainer.fit(
        one_batch_loader(), one_batch_loader(), epochs=epochs or len(val_losses), verbose=False
    )
    return trainer, history, recorder.snapshots


@pytest.mark.parametrize("values, mode, patience, min_delta, start, stopped, best", SCRIPTS)
def test_early_stopping_through_the_trainer_stops_and_restores_the_best_epoch(
    values, mode, patience, min_delta, start, stopped, best
):
    losses = [-v for v in values] if mode == "max" else values  # monitor val_loss in "min"
    trainer, history, snapshots = fit_scripted(
        losses, patience=patience, min_delta=min_delta, start_from_epoch=start
    )
    assert history.stopped_epoch == stopped
    assert history.best_epoch == best
    assert history.epochs == len(snapshots) == (stopped or len(values))
    np.testing.assert_array_equal(history["val_loss"], losses[: history.epochs])
    if stopped is not None:
        assert history.stop_reason.startswith("early stopping: val_loss did not improve")
    final = trainer.model.state_dict()
    for key, value in snapshots[best - 1].items():
        np.testing.assert_array_equal(final[key], value)


def test_early_stopping_restores_best_weights_when_not_triggered():
    trainer, history, snapshots = fit_scripted([3.0, 1.0, 2.0, 2.5], patience=10)
    assert history.stopped_epoch is None and history.best_epoch == 2
    for key, value in snapshots[1].items():
        np.testing.assert_array_equal(trainer.model.state_dict()[key], value)
    assert not np.array_equal(snapshots[1]["0.weight"], snapshots[3]["0.weight"])


def test_early_stopping_keeps_copies_not_references_of_the_best_weights():
    trainer, _, _ = fit_scripted([1.0, 2.0], patience=10)
    stopper = trainer.callbacks[0]
    best = stopper.best_weights["0.weight"].copy()
    trainer.model[0].weight.data += 1.0
    np.testing.assert_array_equal(stopper.best_weights["0.weight"], best)


def test_without_restore_best_weights_the_last_weights_stay():
    trainer, history, snapshots = fit_scripted([1.0, 2.0, 3.0], restore_best_weights=False)
    assert history.best_epoch == 1
    np.testing.assert_array_equal(trainer.model.state_dict()["0.weight"], snapshots[2]["0.weight"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "maximum"}, "mode must be 'min' or 'max'"),
        ({"monitor": "val_loss", "mode": "max"}, "mode must be 'min'"),
        ({"monitor": "train_acc", "mode": "min"}, "mode must be 'max'"),
        ({"patience": -1}, "patience must be an int >= 0"),
        ({"patience": 2.5}, "patience must be an int >= 0"),
        ({"min_delta": -0.1}, "min_delta must be a finite number >= 0"),
        ({"start_from_epoch": -1}, "start_from_epoch must be an int >= 0"),
        ({"monitor": ""}, "monitor must be a metric name"),
    ],
)
def test_early_stopping_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**kwargs)


def test_early_stopping_on_a_val_metric_without_val_loader_fails_at_fit_start():
    model = Net()
    trainer = Trainer(
        model, ScriptedLoss(model), SGD(model.parameters(), lr=0.1), callbacks=[EarlyStopping()]
    )
    with pytest.raises(ValueError, match="monitors 'val_acc' but fit\\(\\) got no val_loader"):
        trainer.fit(one_batch_loader(), epochs=2, verbose=False)


def test_early_stopping_on_a_metric_the_run_lacks_names_the_metrics_it_has():
    model = Net()
    trainer = Trainer(
        model,
        ScriptedLoss(model, [1.0]),
        SGD(model.parameters(), lr=0.1),
        callbacks=[EarlyStopping(monitor="val_f1")],
    )
    with pytest.raises(KeyError, match="'val_f1' is not among .*'val_loss'"):
        trainer.fit(one_batch_loader(), one_batch_loader(), epochs=1, verbose=False)


# -- ModelCheckpoint and CSVLogger ----------------------------------------------------
def test_model_checkpoint_saves_only_improving_epochs(tmp_path):
    model = Net()
    path = tmp_path / "best.npz"
    saver = ModelCheckpoint(path, monitor="val_loss", mode="min")
    recorder = RecordWeights()
    trainer = Trainer(
        model,
        ScriptedLoss(model, [3.0, 1.0, 2.0, 1.0]),
        SGD(model.parameters(), lr=0.5),
        callbacks=[recorder, saver],
    )
    trainer.fit(one_batch_loader(), one_batch_loader(), epochs=4, verbose=False)
    saved = load(path)
    assert saved["trainer"]["epoch"] == 2  # the tie at epoch 4 is not an improvement
    np.testing.assert_array_equal(saved["model"]["0.weight"], recorder.snapshots[1]["0.weight"])


def test_model_checkpoint_every_epoch_with_epoch_in_the_name(tmp_path):
    model = Net()
    saver = ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}.npz", save_best_only=False)
    trainer = Trainer(
        model,
        ScriptedLoss(model, [3.0, 1.0, 2.0]),
        SGD(model.parameters(), lr=0.5),
        callbacks=[saver],
    )
    trainer.fit(one_batch_loader(), one_batch_loader(), epochs=3, verbose=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"ckpt-0{i}.npz" for i in (1, 2, 3)]
    assert load(tmp_path / "ckpt-02.npz")["trainer"]["history"]["metrics"]["val_loss"] == [3, 1]


def test_model_checkpoint_holds_the_decisions_of_callbacks_listed_after_it(tmp_path):
    model = Net()
    saver = ModelCheckpoint(tmp_path / "c.npz", save_best_only=False)
    stopper = EarlyStopping(monitor="val_loss", mode="min", patience=1)
    trainer = Trainer(
        model,
        ScriptedLoss(model, [1.0, 2.0, 3.0]),
        SGD(model.parameters(), lr=0.5),
        callbacks=[saver, stopper],
    )
    trainer.fit(one_batch_loader(), one_batch_loader(), epochs=3, verbose=False)
    state = load(tmp_path / "c.npz")["trainer"]
    assert state["history"]["stopped_epoch"] == 2
    assert state["callbacks"][1]["state"]["stopped_epoch"] == 2


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    model = Net()
    path = tmp_path / "log.csv"
    trainer = Trainer(
        model,
        ScriptedLoss(model, [3.0, 0.1 + 0.2]),
        SGD(model.parameters(), lr=0.5),
        callbacks=[CSVLogger(path)],
    )
    history = trainer.fit(one_batch_loader(), one_batch_loader(), epochs=2, verbose=False)
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert list(rows[0]) == ["epoch", *history]
    assert [float(row["val_loss"]) for row in rows] == history["val_loss"]  # exact floats
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]
