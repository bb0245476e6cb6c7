"""Trainer: the epoch loop, metrics, evaluation, prediction, NaN handling and determinism."""

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
    one_batch_loader,
)


def make_trainer(seed=0, lr=0.1, model_seed=0, **kwargs):
    model = Net(seed=model_seed)
    return Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=lr, momentum=0.9),
        seed=seed,
        **kwargs,
    )


def loaders(batch_size=16):
    x, y = blobs(120)
    xv, yv = blobs(60, seed=1)
    return ArrayLoader(x, y, batch_size), ArrayLoader(xv, yv, 32, shuffle=False)


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


def test_fit_hands_its_generator_to_the_model_and_the_loaders():
    train, val = loaders()
    trainer = make_trainer()
    trainer.fit(train, val, epochs=1, verbose=False)
    assert train.generator is trainer.generator and val.generator is trainer.generator
    assert trainer.model[1].generator is trainer.generator


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


def test_predict_is_batched_and_restores_the_mode():
    trainer = make_trainer()
    x, _ = blobs(50)
    trainer.model.train()
    full = trainer.predict(x, batch_size=64)
    assert full.shape == (50, 3) and full.dtype == np.float32
    np.testing.assert_allclose(trainer.predict(x, batch_size=7), full, rtol=1e-6)
    assert trainer.model.training


def test_predict_probabilities_is_a_stable_softmax_over_dim_1():
    torch = pytest.importorskip("torch")
    trainer = make_trainer()
    x, _ = blobs(10)
    logits = trainer.predict(x)
    probs = trainer.predict(x, probabilities=True)
    assert probs.dtype == np.float32
    expected = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)
    big = trainer.predict(x * 1e4, probabilities=True)
    assert np.isfinite(big).all()
    np.testing.assert_allclose(big.sum(1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda t: t.predict(np.ones((3, 4), np.float32), batch_size=0), ValueError, "batch_size"),
        (lambda t: t.predict(np.ones((0, 4), np.float32)), ValueError, "non-empty"),
        (lambda t: t.evaluate([]), ValueError, "no batches"),
        (lambda t: t.fit([], epochs=1, verbose=False), ValueError, "no batches"),
        (lambda t: t.fit(one_batch_loader(), epochs=0), ValueError, "epochs must be"),
        (lambda t: t.fit(5, epochs=1), TypeError, "train_loader must be an iterable"),
    ],
)
def test_bad_calls_get_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(make_trainer())


def test_constructor_rejects_what_it_cannot_use():
    model = Net()
    optimizer = SGD(model.parameters(), lr=0.1)
    loss = SoftmaxCrossEntropy()
    with pytest.raises(TypeError, match="model must be a minigrad.nn.Module"):
        Trainer(lambda x: x, loss, optimizer)
    with pytest.raises(TypeError, match="loss_fn must be callable with a backward"):
        Trainer(model, lambda a, b: 0.0, optimizer)
    with pytest.raises(TypeError, match="optimizer must be"):
        Trainer(model, loss, object())
    with pytest.raises(TypeError, match=r"callbacks\[0\] must be"):
        Trainer(model, loss, optimizer, callbacks=[print])
    with pytest.raises(TypeError, match="seed must be an int"):
        Trainer(model, loss, optimizer, seed=1.5)


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


def test_seed_net_reaches_90_percent_on_a_real_mnist_subset():
    from minigrad.data import DataLoader, load_mnist

    try:
        x_train, y_train, x_test, y_test = load_mnist(download=False)
    except FileNotFoundError as error:
        pytest.skip(f"MNIST not found (set MINIGRAD_DATA=/work/shared/data): {error}")

    def normalised(x):
        return (x.astype(np.float32) / 255 - np.float32(0.1307)) / np.float32(0.3081)

    model = nn.Sequential(
        nn.Conv2d(1, 2, 5),
        nn.GELU(),
        nn.Flatten(),
        nn.Linear(1152, 256),
        nn.GELU(),
        nn.Dropout(0.3),
        nn.Linear(256, 10),
    )
    model.reset_parameters(np.random.default_rng(0))
    trainer = Trainer(
        model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.02, momentum=0.9), seed=0
    )
    train = DataLoader(normalised(x_train[:6000]), y_train[:6000], batch_size=32)
    val = DataLoader(normalised(x_test[:2000]), y_test[:2000], batch_size=500, shuffle=False)
    history = trainer.fit(train, val, epochs=3, verbose=False)
    assert history["val_acc"][-1] > 0.90, history["val_acc"]
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_a_float64_model_trains_and_predicts_in_float64():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3)).double()
    trainer = Trainer(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1))
    x, y = blobs(60)
    x = x.astype(np.float64)
    history = trainer.fit(ArrayLoader(x, y), ArrayLoader(x, y), epochs=2, verbose=False)
    assert history.epochs == 2 and np.isfinite(history["val_loss"]).all()
    assert trainer.predict(x, probabilities=True).dtype == np.float64
    assert all(p.data.dtype == np.float64 for p in model.parameters())
