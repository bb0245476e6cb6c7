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
        ({"mode": "maximum"}, "mode must be 'min', 'max' or 'auto', got 'maximum'"),
        ({"monitor": "val_f1"}, "mode='auto' cannot tell whether 'val_f1' should go up"),
        ({"baseline": math.nan}, "baseline must be a finite number or None, got nan"),
        ({"baseline": "0.9"}, "baseline must be a finite number or None"),
        ({"monitor": "val_loss", "mode": "max"}, "mode must be 'min'"),
        ({"monitor": "train_acc", "mode": "min"}, "mode must be 'max'"),
        ({"patience": -1}, "patience must be an int >= 0"),
        ({"min_delta": -0.1}, "min_delta must be a finite number >= 0"),
        ({"start_from_epoch": -1}, "start_from_epoch must be an int >= 0"),
        ({"monitor": ""}, "monitor must be a metric name"),
    ],
)
def test_early_stopping_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**kwargs)


@pytest.mark.parametrize("make, message", [
    (lambda: EarlyStopping(restore_best_weights="False"),
     "EarlyStopping: restore_best_weights must be True or False, got 'False'"),
    (lambda: ModelCheckpoint("c.npz", save_best_only=0),
     "ModelCheckpoint: save_best_only must be True or False, got 0"),
])
def test_switches_that_are_no_bool_are_refused_not_read_for_their_truth(make, message):
    # "False" is truthy: taken for its truth value it would mean the opposite
    with pytest.raises(TypeError, match=message):
        make()


def test_early_stopping_refuses_a_non_integer_patience_with_a_type_error():
    with pytest.raises(TypeError, match="patience must be an int >= 0, got 2.5"):
        EarlyStopping(patience=2.5)


def test_early_stopping_on_a_val_metric_without_val_loader_fails_at_fit_start():
    model = Net()
    trainer = Trainer(
        model, ScriptedLoss(model), SGD(model.parameters(), lr=0.1), callbacks=[EarlyStopping()]
    )
    message = (r"EarlyStopping: monitor='val_acc' is a validation metric, but fit\(\) got no "
               r"val_loader; this run logs train_loss, train_acc, lr, epoch_time")
    with pytest.raises(ValueError, match=message):
        trainer.fit(one_batch_loader(), epochs=2, verbose=False)
    assert trainer.loss_fn.train_calls == []


def test_early_stopping_on_a_metric_the_run_never_logs_fails_at_fit_start_naming_them():
    model = Net()
    loss = ScriptedLoss(model, [1.0])
    trainer = Trainer(model, loss, SGD(model.parameters(), lr=0.1),
                      callbacks=[EarlyStopping(monitor="val_f1", mode="max")])
    message = (r"EarlyStopping: monitor='val_f1' is not a metric this run logs; it logs "
               r"train_loss, train_acc, val_loss, val_acc, lr, epoch_time \(the accuracies only "
               r"for class-index targets\)")
    with pytest.raises(ValueError, match=message):
        trainer.fit(one_batch_loader(), one_batch_loader(), epochs=1, verbose=False)
    assert loss.train_calls == []  # before any batch


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


# -- what is checked when fit starts, before any batch ---------------------------------
@pytest.mark.parametrize("path, error, message", [
    ("ck-{foo}.npz", ValueError, r"ModelCheckpoint: path='.*ck-\{foo\}.npz' has the field "
     r"\{foo\}, which is neither 'epoch' nor a metric this run logs; it logs train_loss, "
     r"train_acc, val_loss, val_acc, lr, epoch_time"),
    ("ck-{val_acc:d}.npz", ValueError, r"cannot be formatted with an int epoch and float "
     r"metrics \(ValueError: Unknown format code 'd'"),
    ("ck-{epoch.npz", ValueError, r"is not a valid format string"),
    ("ck-{}.npz", ValueError, r"has the field \{\}"),
    ("missing/ck-{epoch}.npz", FileNotFoundError, r"ModelCheckpoint: path='.*missing/"
     r"ck-1.npz': the folder '.*missing' does not exist"),
])
def test_model_checkpoint_paths_that_cannot_be_written_fail_at_fit_start(tmp_path, path, error,
                                                                         message):
    model = Net()
    loss = ScriptedLoss(model, [1.0])
    saver = ModelCheckpoint(tmp_path / path, monitor="val_loss", mode="min")
    trainer = Trainer(model, loss, SGD(model.parameters(), lr=0.1), callbacks=[saver])
    with pytest.raises(error, match=message):
        trainer.fit(one_batch_loader(), one_batch_loader(), epochs=1, verbose=False)
    assert loss.train_calls == [] and list(tmp_path.iterdir()) == []


def test_model_checkpoint_fields_and_monitor_that_are_logged_pass(tmp_path):
    model = Net()
    path = tmp_path / "ck-{epoch:02d}-{train_loss:.2f}-{lr}.npz"
    trainer = Trainer(model, ScriptedLoss(model, [1.0]), SGD(model.parameters(), lr=0.1),
                      callbacks=[ModelCheckpoint(path, save_best_only=False)])
    trainer.fit(one_batch_loader(), epochs=1, verbose=False)  # val_acc unused: every epoch
    assert [p.name for p in tmp_path.iterdir()] == ["ck-01-1.00-0.1.npz"]


def test_csv_logger_into_a_missing_folder_fails_at_fit_start(tmp_path):
    model = Net()
    loss = ScriptedLoss(model, [1.0])
    trainer = Trainer(model, loss, SGD(model.parameters(), lr=0.1),
                      callbacks=[CSVLogger(tmp_path / "no" / "log.csv")])
    with pytest.raises(FileNotFoundError, match=r"CSVLogger: path='.*log.csv': the folder"):
        trainer.fit(one_batch_loader(), epochs=1, verbose=False)
    assert loss.train_calls == []


def test_an_accuracy_monitor_in_a_run_without_class_targets_fails_before_the_first_update():
    model = Net()
    before = model.state_dict()
    loss = ScriptedLoss(model, [1.0])
    trainer = Trainer(model, loss, SGD(model.parameters(), lr=0.1),
                      callbacks=[EarlyStopping(monitor="train_acc", mode="max")])
    x = np.ones((5, 4), np.float32)
    regression = [(x, np.zeros((5, 3), np.float32))]
    message = (r"EarlyStopping: monitor='train_acc' is not a metric this run logs; it logs "
               r"train_loss, lr, epoch_time \(no accuracies: the targets are not class indices\)")
    with pytest.raises(ValueError, match=message):
        trainer.fit(regression, epochs=2, verbose=False)
    assert loss.train_calls == [1]  # one forward, no update
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_a_checkpoint_path_that_is_a_folder_fails_at_fit_start(tmp_path):
    model = Net()
    trainer = Trainer(model, ScriptedLoss(model, [1.0]), SGD(model.parameters(), lr=0.1),
                      callbacks=[ModelCheckpoint(tmp_path, save_best_only=False)])
    with pytest.raises(IsADirectoryError, match="ModelCheckpoint: path=.* is a folder"):
        trainer.fit(one_batch_loader(), epochs=1, verbose=False)
# -- Keras's baseline and mode="auto", translated from keras/src/callbacks/early_stopping_test.py
def run_keras_script(stopper, values, stop_requested_at=None):
    """Keras's test loop on 1-based epochs: feed each value, stop when asked; the epochs run.

    ``stop_requested_at``: the epoch after which another callback asks the run to stop.
    """
    for epoch, value in enumerate(values, 1):
        stopper.update(value, epoch)
        if stopper.stopped_epoch is not None or epoch == stop_requested_at:
            return epoch
    return len(values)


@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_keras_patience_case(patience):
    # Keras: stopped_epoch == max(patience, 1) + 2, 0-based; here 1-based.
    stopper = EarlyStopping(monitor="loss", patience=patience)
    run_keras_script(stopper, [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5])
    assert stopper.stopped_epoch == max(patience, 1) + 3


@pytest.mark.parametrize("baseline, stop_requested_at, epochs_run", [
    (None, None, 5),  # Keras: best at 0-based epoch 2, patience 2: restores epoch 2
    (0.5, None, 5),  # no epoch beats the baseline: trains `patience` epochs, restores epoch 2
    (0.5, 4, 4),  # another callback stops the run: the best epoch is still restored
])
def test_keras_final_weights_cases(baseline, stop_requested_at, epochs_run):
    losses = ([0.2, 0.15, 0.1, 0.11, 0.12] if baseline is None
              else [0.9, 0.8, 0.7, 0.71, 0.72, 0.73])
    stopper = EarlyStopping(monitor="val_loss", patience=2 if baseline is None else 5,
                            baseline=baseline)
    assert run_keras_script(stopper, losses, stop_requested_at) == epochs_run
    assert stopper.best_epoch == 3  # Keras's 0-based epoch 2: the weights restored


def test_an_improving_epoch_below_the_baseline_does_not_reset_the_wait_nor_stop_the_run():
    # Keras's order: wait += 1, then an improvement returns before the patience check.
    stopper = EarlyStopping(monitor="val_loss", patience=2, baseline=0.5)
    assert run_keras_script(stopper, [0.9, 0.8, 0.7, 0.6, 0.65, 0.55]) == 5
    assert (stopper.stopped_epoch, stopper.best_epoch, stopper.wait) == (5, 4, 5)


def test_once_the_baseline_is_beaten_patience_counts_as_without_one():
    stopper = EarlyStopping(monitor="val_loss", patience=2, baseline=0.5)
    assert run_keras_script(stopper, [0.9, 0.4, 0.45, 0.46, 0.1]) == 4
    assert (stopper.stopped_epoch, stopper.best_epoch) == (4, 2)
    # min_delta applies to the baseline too: 0.45 beats 0.5, but not by more than 0.1
    plain = EarlyStopping(monitor="val_loss", patience=2, baseline=0.5)
    strict = EarlyStopping(monitor="val_loss", patience=2, baseline=0.5, min_delta=0.1)
    assert run_keras_script(plain, [0.9, 0.45, 0.5, 0.5]) == 4
    assert run_keras_script(strict, [0.9, 0.45, 0.5, 0.5]) == 3
    assert plain.best_epoch == strict.best_epoch == 2


def test_the_baseline_waits_for_start_from_epoch_and_works_in_max_mode():
    stopper = EarlyStopping(monitor="val_acc", patience=2, baseline=0.9, start_from_epoch=2)
    assert run_keras_script(stopper, [0.1, 0.2, 0.5, 0.6, 0.6, 0.95]) == 5
    assert (stopper.stopped_epoch, stopper.best_epoch) == (5, 4)


@pytest.mark.parametrize("monitor, expected", [
    ("val_loss", "min"), ("loss", "min"), ("acc", "max"), ("val_accuracy", "max"),
    ("train_auc", "max"),
])
def test_keras_auto_mode_cases(monitor, expected):
    assert EarlyStopping(monitor=monitor).mode == expected
    assert ModelCheckpoint("unused.npz", monitor=monitor).mode == expected


@pytest.mark.parametrize("monitor", ["unknown", "val_mse", "f1_score"])
def test_auto_mode_refuses_a_name_that_does_not_tell_its_direction(monitor):
    # Keras 3 raises for "unknown" too; for "val_mse" or "f1_score" it asks the compiled
    # metric object, which minigrad does not have: the user says mode="min" or "max".
    with pytest.raises(ValueError, match="pass mode='max' or mode='min'"):
        EarlyStopping(monitor=monitor)
    assert EarlyStopping(monitor=monitor, mode="min").mode == "min"


def test_a_baseline_run_through_the_trainer_restores_the_best_epoch_and_says_why():
    trainer, history, snapshots = fit_scripted([0.9, 0.8, 0.7, 0.71, 0.72, 0.73], patience=5,
                                               baseline=0.5)
    assert (history.epochs, history.stopped_epoch, history.best_epoch) == (5, 5, 3)
    assert history.stop_reason == ("early stopping: val_loss did not beat the baseline 0.5 by "
                                   "more than 0.0 in 5 epochs (best 0.7 at epoch 3)")
    for key, value in snapshots[2].items():
        np.testing.assert_array_equal(trainer.model.state_dict()[key], value)
