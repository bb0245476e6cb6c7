"""The epoch loop (train/loop.py), driven through a Trainer: metrics, the scheduler step,
determinism, train/eval modes, NaN handling and what it prints."""

import math

import numpy as np
import pytest

from minigrad import nn
from minigrad.optim import SGD
from minigrad.optim.lr_scheduler import StepLR
from minigrad.train import Callback, EarlyStopping, Trainer
from tests.train.helpers import (
    ArrayLoader,
    Net,
    RecordWeights,
    ScriptedLoss,
    SoftmaxCrossEntropy,
    blobs,
    loaders,
    make_trainer,
    one_batch_loader,
)


def test_fit_records_every_metric_once_per_epoch_and_learns():
    train, val = loaders()
    history = make_trainer().fit(train, val, epochs=4, verbose=False)
    assert list(history) == ["train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time"]
    assert all(len(values) == 4 for values in history.values())
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_acc"][-1] > 0.9
    assert history["lr"] == [0.1] * 4
    assert all(t > 0 for t in history["epoch_time"])
    assert history.best_epoch == history.compute_best_epoch()  # val_loss, min, by default
    assert history.stopped_epoch is None and history.stop_reason is None


def test_train_loss_is_the_sample_weighted_mean_over_batches():
    # Batches of 16, 16, 16, 2 samples; the scripted loss of batch b is b, so the mean
    # weighted by batch size differs from the plain mean over batches (2.5).
    x, y = blobs(50)
    model = Net()
    loss = ScriptedLoss(model, [0.0], train_values=lambda epoch, batch: float(batch))
    trainer = Trainer(model, loss, SGD(model.parameters(), lr=0.0))
    history = trainer.fit(ArrayLoader(x, y, 16), one_batch_loader(), epochs=1, verbose=False)
    assert history["train_loss"] == [(16 * (1 + 2 + 3) + 2 * 4) / 50]


def test_with_lr_zero_train_and_val_metrics_equal_evaluate_on_the_same_data():
    # Weights never move and Net's Noise is off in eval mode, so validation must be exact.
    train, _ = loaders()
    trainer = make_trainer(lr=0.0)
    eval_loader = ArrayLoader(train.x, train.y, 7, shuffle=False)
    history = trainer.fit(train, eval_loader, epochs=1, verbose=False)
    result = trainer.evaluate(ArrayLoader(train.x, train.y, 120, shuffle=False))
    assert history["val_loss"][0] == pytest.approx(result["loss"], rel=1e-6)
    assert history["val_acc"][0] == result["acc"]
    logits = trainer.predict(train.x)
    assert result["acc"] == np.mean(logits.argmax(1) == train.y)


def test_accuracy_is_the_fraction_of_argmax_hits():
    model = Net()
    trainer = Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.0))
    x, y = blobs(40)
    logits = trainer.predict(x)
    y_half = np.where(np.arange(40) < 10, logits.argmax(1), (logits.argmax(1) + 1) % 3)
    assert trainer.evaluate([(x, y_half)])["acc"] == 10 / 40


def test_regression_targets_get_no_accuracy():
    model = Net(classes=2)
    trainer = Trainer(model, nn.MSELoss(), SGD(model.parameters(), lr=0.01))
    x = np.ones((8, 4), np.float32)
    history = trainer.fit([(x, np.zeros((8, 2), np.float32))], epochs=2, verbose=False)
    assert list(history) == ["train_loss", "lr", "epoch_time"]
    assert history.monitor == "train_loss"


def test_scheduler_steps_once_per_epoch_after_the_epoch():
    train, val = loaders()
    trainer = make_trainer(lr=0.1)
    trainer.scheduler = StepLR(trainer.optimizer, step_size=2, gamma=0.5)
    history = trainer.fit(train, val, epochs=5, verbose=False)
    assert history["lr"] == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_same_seed_same_run_bit_for_bit_and_the_global_rng_is_untouched():
    # Reading (never setting) the legacy global state is how to prove nobody drew from it.
    state = np.random.get_state()  # noqa: NPY002
    runs = []
    for _ in range(2):
        train, val = loaders()
        trainer = make_trainer(seed=7)
        history = trainer.fit(train, val, epochs=3, verbose=False)
        runs.append((history, trainer.model.state_dict()))
    (h1, w1), (h2, w2) = runs
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert h1[key] == h2[key]
    for key in w1:
        np.testing.assert_array_equal(w1[key], w2[key])
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]


def test_a_different_seed_gives_a_different_run():
    histories = []
    for seed in (1, 2):
        train, val = loaders()
        histories.append(make_trainer(seed=seed).fit(train, val, epochs=2, verbose=False))
    assert histories[0]["train_loss"] != histories[1]["train_loss"]


def test_validation_runs_in_eval_mode_and_training_in_train_mode():
    modes = []

    class Spy(nn.Module):
        def forward(self, x):
            modes.append(self.training)
            return x

        def backward(self, dy):
            return dy

    model = nn.Sequential(Net(), Spy())
    trainer = Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1))
    x, y = blobs(20)
    trainer.fit([(x, y), (x, y)], [(x, y)], epochs=1, verbose=False)
    assert modes == [True, True, False]


def test_non_finite_loss_stops_naming_epoch_and_batch_and_keeps_the_best_weights():
    model = Net()
    values = {(2, 3): math.nan}
    loss = ScriptedLoss(model, [2.0, 1.0], train_values=lambda e, b: values.get((e, b), 1.0))
    recorder = RecordWeights()
    weights_before_nan = {}

    class Capture(Callback):
        def on_epoch_begin(self, trainer, epoch):
            if epoch == 2:
                weights_before_nan.update(trainer.model.state_dict())

    stopper = EarlyStopping(monitor="val_loss", mode="min")
    trainer = Trainer(
        model, loss, SGD(model.parameters(), lr=0.5), callbacks=[stopper, recorder, Capture()]
    )
    x, y = blobs(16)
    train = [(x[:4], y[:4]), (x[4:8], y[4:8]), (x[8:12], y[8:12]), (x[12:], y[12:])]
    with pytest.warns(RuntimeWarning, match="loss is nan at epoch 2, batch 3"):
        history = trainer.fit(train, one_batch_loader(), epochs=5, verbose=False)
    assert history.epochs == 1 and history.stopped_epoch == 2 and history.best_epoch == 1
    assert "epoch 2, batch 3" in history.stop_reason
    assert loss.train_calls == [4, 3]  # nothing after the NaN batch
    np.testing.assert_array_equal(model.state_dict()["0.weight"], recorder.snapshots[0]["0.weight"])


def test_inf_loss_without_early_stopping_leaves_the_weights_of_the_last_good_batch():
    model = Net()
    loss = ScriptedLoss(model, [1.0], train_values=lambda e, b: math.inf if b == 2 else 1.0)
    trainer = Trainer(model, loss, SGD(model.parameters(), lr=0.5))
    x, y = blobs(8)
    weights = []

    class AfterFirstBatch(Callback):
        def on_epoch_begin(self, trainer, epoch):
            weights.append(trainer.model.state_dict())

    trainer.callbacks.append(AfterFirstBatch())
    with pytest.warns(RuntimeWarning, match="loss is inf at epoch 1, batch 2"):
        history = trainer.fit([(x, y), (x, y), (x, y)], epochs=3, verbose=False)
    assert history.epochs == 0 and history.stopped_epoch == 1
    one_step = weights[0]["0.weight"] - 0.5 * trainer.model[0].weight.grad
    np.testing.assert_array_equal(trainer.model.state_dict()["0.weight"], one_step)


def test_verbose_prints_one_summary_line_per_epoch_and_no_bar_off_a_terminal(capsys):
    train, val = loaders()
    make_trainer().fit(train, val, epochs=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("epoch 2/2  train_loss ") and "val_acc" in lines[1]
    make_trainer().fit(train, val, epochs=1, verbose=False)
    assert capsys.readouterr().out == ""


def test_progress_bar_can_be_forced_on(capsys):
    train, val = loaders()
    make_trainer().fit(train, val, epochs=1, progress=True)
    out = capsys.readouterr().out
    assert "epoch 1/1:" in out and "/8 [" in out  # tqdm: description, batch count
