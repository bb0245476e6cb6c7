"""Resuming: a run killed with SIGKILL after epoch k and resumed equals the uninterrupted run."""

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigrad.checkpoint import load, save
from minigrad.optim import SGD
from minigrad.train import CSVLogger, EarlyStopping, History, ModelCheckpoint, Trainer
from tests.train.helpers import (
    ArrayLoader,
    Net,
    ScriptedLoss,
    SoftmaxCrossEntropy,
    blobs,
    one_batch_loader,
)

SCRIPT = Path(__file__).with_name("resume_script.py")
ROOT = Path(__file__).parents[2]
EPOCHS, KILL_AFTER = 6, 3


def run_script(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def kill_after_epoch(checkpoint, out, epoch):
    """Starts the script and SIGKILLs it right after it announces epoch ``epoch``'s save."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            str(checkpoint),
            str(out),
            str(EPOCHS),
            "--pause-after",
            str(epoch),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line.strip())
            if line.strip() == f"saved {epoch}":
                os.kill(process.pid, signal.SIGKILL)
                break
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert lines == [f"saved {e}" for e in range(1, epoch + 1)], process.stderr.read()
    assert process.returncode == -signal.SIGKILL


def read_result(out):
    result = load(out)
    history = History.from_dict(json.loads(result["history"]))
    return history, result["model"]


def test_kill_9_after_epoch_k_then_resume_equals_the_uninterrupted_run(tmp_path):
    run_script(tmp_path / "full.npz", tmp_path / "full-out.npz", EPOCHS)
    kill_after_epoch(tmp_path / "cut.npz", tmp_path / "cut-out.npz", KILL_AFTER)
    assert load(tmp_path / "cut.npz")["trainer"]["epoch"] == KILL_AFTER
    assert not (tmp_path / "cut-out.npz").exists()
    run_script(tmp_path / "cut.npz", tmp_path / "cut-out.npz", EPOCHS, "--resume")

    full_history, full_weights = read_result(tmp_path / "full-out.npz")
    resumed_history, resumed_weights = read_result(tmp_path / "cut-out.npz")
    assert full_history.epochs == resumed_history.epochs == EPOCHS
    for key in full_history:
        if key != "epoch_time":  # wall-clock time, the only thing allowed to differ
            assert resumed_history[key] == full_history[key], key
    assert len(set(full_history["lr"])) > 1  # the plateau scheduler acted: its state resumed
    assert (resumed_history.best_epoch, resumed_history.stopped_epoch) == (
        full_history.best_epoch,
        full_history.stopped_epoch,
    )
    assert list(resumed_weights) == list(full_weights)
    for key in full_weights:
        assert np.array_equal(resumed_weights[key], full_weights[key]), key
    full_csv, resumed_csv = (
        list(csv.DictReader(open(tmp_path / name, newline="")))
        for name in ("full-out.npz.csv", "cut-out.npz.csv")
    )
    assert [row["epoch"] for row in resumed_csv] == [str(e) for e in range(1, EPOCHS + 1)]
    for full_row, resumed_row in zip(full_csv, resumed_csv, strict=True):
        assert {**full_row, "epoch_time": ""} == {**resumed_row, "epoch_time": ""}


def small_run(tmp_path, epochs, resume=False, model=None):
    """An in-process run with momentum, shuffling, Noise and EarlyStopping, saving each epoch.

    The scripted val_loss is best at epoch 4, so patience 2 stops it after epoch 6.
    """
    model = Net() if model is None else model
    loss = ScriptedLoss(model, [3.0, 2.0, 2.5, 1.0, 1.5, 1.2, 0.1])
    trainer = Trainer(
        model,
        loss,
        SGD(model.parameters(), lr=0.1, momentum=0.9),
        callbacks=[
            EarlyStopping(monitor="val_loss", mode="min", patience=2),
            ModelCheckpoint(tmp_path / "c.npz", save_best_only=False),
        ],
        seed=11,
    )
    x, y = blobs(64)
    history = trainer.fit(
        ArrayLoader(x, y),
        one_batch_loader(),
        epochs=epochs,
        verbose=False,
        resume_from=tmp_path / "c.npz" if resume else None,
    )
    return trainer, history


def test_resuming_a_run_that_stopped_early_trains_no_further(tmp_path):
    trainer, history = small_run(tmp_path, epochs=10)
    assert history.stopped_epoch == 6 and history.best_epoch == 4
    resumed, resumed_history = small_run(tmp_path, epochs=10, resume=True)
    assert resumed_history == history
    assert resumed.loss_fn.train_calls == []  # not a single batch was trained
    for key, value in trainer.model.state_dict().items():
        assert np.array_equal(resumed.model.state_dict()[key], value)  # best weights restored


def test_resuming_with_other_callbacks_is_refused_and_changes_nothing(tmp_path):
    trainer, _ = small_run(tmp_path, epochs=2)
    model = Net(seed=5)
    other = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=0.1, momentum=0.9),
        callbacks=[CSVLogger(tmp_path / "log.csv")],
    )
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"saved with callbacks \['EarlyStopping', 'Model"):
        other.fit(one_batch_loader(), epochs=3, verbose=False, resume_from=tmp_path / "c.npz")
    for key, value in before.items():
        assert np.array_equal(model.state_dict()[key], value)


def run_state(trainer):
    """Everything a failed resume must leave as it was, and the History object itself."""
    stopper = trainer.callbacks[0]
    return {
        "history": trainer.history, "history_data": trainer.history.to_dict(),
        "epoch": trainer.epoch, "monitor": trainer.monitor,
        "stopper": (stopper.wait, stopper.best, stopper.best_epoch, stopper.stopped_epoch),
        "best_weights": {k: v.copy() for k, v in stopper.best_weights.items()},
        "generator": trainer.generator.bit_generator.state,
        "model": trainer.model.state_dict(),
        "momentum": [trainer.optimizer.state[p]["momentum_buffer"].copy()
                     for p in trainer.model.parameters()],
    }


def assert_same_run_state(trainer, before, same_objects=True):
    after = run_state(trainer)
    if same_objects:  # what fit replaces when it starts a run is put back, not rebuilt
        assert after["history"] is before["history"] and after["monitor"] is before["monitor"]
    for key in ("history_data", "epoch", "stopper", "generator"):
        assert after[key] == before[key], key
    for key in ("best_weights", "model"):
        for name, value in before[key].items():
            np.testing.assert_array_equal(after[key][name], value, err_msg=f"{key} {name}")
    for now, then in zip(after["momentum"], before["momentum"], strict=True):
        np.testing.assert_array_equal(now, then)


def test_a_missing_resume_file_fails_before_anything_is_reset(tmp_path):
    trainer, _ = small_run(tmp_path, epochs=2)
    before = run_state(trainer)
    loader = ArrayLoader(*blobs(16))
    own_generator = loader.generator
    with pytest.raises(FileNotFoundError):
        trainer.fit(loader, one_batch_loader(), epochs=4, verbose=False,
                    resume_from=tmp_path / "typo.npz")
    assert_same_run_state(trainer, before)
    assert loader.generator is own_generator  # not handed the run's Generator either


def test_a_checkpoint_of_another_model_fails_after_the_reset_and_undoes_it(tmp_path):
    small_run(tmp_path, epochs=2)
    other = tmp_path / "other"
    other.mkdir()
    trainer, _ = small_run(other, epochs=2, model=Net(hidden=5))
    before = run_state(trainer)
    with pytest.raises(KeyError, match="0.weight: expected \\(5, 4\\), got \\(8, 4\\)"):
        trainer.fit(ArrayLoader(*blobs(16)), one_batch_loader(), epochs=4, verbose=False,
                    resume_from=tmp_path / "c.npz")
    assert_same_run_state(trainer, before)


def test_best_weights_of_another_architecture_are_refused_at_load(tmp_path):
    trainer, _ = small_run(tmp_path, epochs=2)
    stopper = trainer.callbacks[0]
    stopper.best_weights = Net(hidden=5).state_dict()  # a forged or mixed-up checkpoint
    save(tmp_path / "mixed.npz", trainer=trainer)
    (tmp_path / "fresh").mkdir()
    fresh, _ = small_run(tmp_path / "fresh", epochs=1)
    before = run_state(fresh)
    message = (r"EarlyStopping: the saved best weights do not fit this model: mis-shaped "
               r"entries: 0.weight: expected \(8, 4\), got \(5, 4\)")
    with pytest.raises(ValueError, match=message):
        fresh.fit(ArrayLoader(*blobs(16)), one_batch_loader(), epochs=4, verbose=False,
                  resume_from=tmp_path / "mixed.npz")
    assert_same_run_state(fresh, before)
    with pytest.raises(ValueError, match=message):
        load(tmp_path / "mixed.npz", trainer=fresh)
    assert_same_run_state(fresh, before, same_objects=False)
