"""Trainer: minigrad's batch step (all or nothing, gradient clipping included), the Generator
it hands out, evaluation, prediction, argument checks and float64 (the epoch loop itself:
test_loop.py)."""

import math

import numpy as np
import pytest

from minigrad import nn
from minigrad.nn.utils import clip_grad_norm_, clip_grad_value_
from minigrad.optim import SGD
from minigrad.train import EarlyStopping, Trainer
from tests.train.helpers import (
    ArrayLoader,
    Net,
    SoftmaxCrossEntropy,
    blobs,
    loaders,
    make_trainer,
    one_batch_loader,
)


def test_fit_hands_its_generator_to_the_model_and_the_loaders():
    train, val = loaders()
    trainer = make_trainer()
    trainer.fit(train, val, epochs=1, verbose=False)
    assert train.generator is trainer.generator and val.generator is trainer.generator
    assert trainer.model[1].generator is trainer.generator


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
    with pytest.raises(TypeError, match="got EarlyStopping; wrap it in a list"):
        Trainer(model, loss, optimizer, callbacks=EarlyStopping())
    with pytest.raises(TypeError, match="scheduler_monitor must be a metric name .* got 5"):
        Trainer(model, loss, optimizer, scheduler_monitor=5)
    with pytest.raises(TypeError, match="seed must be an int"):
        Trainer(model, loss, optimizer, seed=1.5)


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


# -- a refused or failing step changes nothing ---------------------------------------
def norm_trainer(**kwargs):
    """A Trainer of a BatchNorm model with SGD momentum: buffers and optimizer state to keep."""
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    model.reset_parameters(np.random.default_rng(0))
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    return Trainer(model, nn.CrossEntropyLoss(), optimizer, **kwargs)


def everything(trainer):
    """Copies of the parameters, buffers and optimizer state of ``trainer``."""
    momentum = [trainer.optimizer.state.get(p, {}).get("momentum_buffer")
                for p in trainer.model.parameters()]
    return trainer.model.state_dict(), [None if m is None else m.copy() for m in momentum]


def assert_unchanged(trainer, before):
    weights, momentum = everything(trainer)
    assert list(weights) == list(before[0])
    for key, value in weights.items():
        np.testing.assert_array_equal(value, before[0][key], err_msg=key)
    for now, then in zip(momentum, before[1], strict=True):
        assert (now is None) == (then is None)
        if now is not None:
            np.testing.assert_array_equal(now, then)
    assert all(m.pending_forwards() == 0 for m in trainer.model.modules())
    assert trainer.loss_fn.pending_forwards() == 0


class Batches:
    """``x, y`` in batches of four, one pass per epoch. The batch at ``poisoned`` (epoch,
    batch) has NaN inputs, and everything is recorded just before it is yielded, when the
    previous batch's update is done."""

    def __init__(self, trainer, x, y, poisoned):
        self.trainer, self.x, self.y, self.poisoned = trainer, x, y, poisoned
        self.epoch, self.before = 0, None

    def __iter__(self):
        self.epoch += 1
        for batch, start in enumerate(range(0, len(self.x), 4), 1):
            xb = self.x[start:start + 4]
            if (self.epoch, batch) == self.poisoned:
                self.before = everything(self.trainer)
                xb = np.full_like(xb, np.nan)  # BatchNorm's statistics of it are NaN
            yield xb, self.y[start:start + 4]


@pytest.mark.parametrize("epoch, batch", [(1, 1), (2, 3)])
def test_a_nan_batch_leaves_weights_buffers_and_optimizer_as_after_the_previous_batch(epoch, batch):
    trainer = norm_trainer()  # no EarlyStopping: nothing restores the weights afterwards
    x, y = blobs(16)
    loader = Batches(trainer, x, y, poisoned=(epoch, batch))
    with pytest.warns(RuntimeWarning, match=f"loss is nan at epoch {epoch}, batch {batch}; "
                                            "training stopped before this batch's update"):
        history = trainer.fit(loader, epochs=3, verbose=False)
    assert history.epochs == epoch - 1 and history.stopped_epoch == epoch
    assert_unchanged(trainer, loader.before)
    assert np.isfinite(trainer.predict(x)).all()
    if epoch == 1:
        assert all(m is None for m in loader.before[1])  # nothing was stepped: no momentum


@pytest.mark.parametrize("labels, error, message", [
    (np.full(4, 7), ValueError, r"targets must lie in \[0, 3\)"),
    (np.zeros(4, np.float32), TypeError, "expects integer class targets"),
    (np.zeros(3, np.int64), ValueError, r"expected targets of shape \(4,\)"),
])
def test_bad_labels_in_a_first_batch_change_no_buffer(labels, error, message):
    trainer = norm_trainer()
    x, _ = blobs(4)
    before = everything(trainer)
    with pytest.raises(error, match=message):
        trainer.fit([(x, labels)], epochs=1, verbose=False)
    assert_unchanged(trainer, before)


class Faulty(nn.Module):
    """Identity that breaks its backward in one of three ways."""

    def __init__(self, fault):
        super().__init__()
        self.fault = fault
        self.scale = nn.Parameter(np.ones(1, np.float32))

    def forward(self, x):
        return x

    def backward(self, dy):
        if self.fault == "raise":
            raise RuntimeError("backward failed")
        if self.fault == "inf":
            self.scale.grad += np.float32(math.inf)
        if self.fault == "shape":
            self.scale.grad = np.zeros(2, np.float32)
        return dy


@pytest.mark.parametrize("fault, outcome", [
    ("raise", (RuntimeError, "backward failed")),
    ("shape", (ValueError, r"gradient of parameter '2.scale' is shape \(2,\), dtype float32, "
                           r"but the parameter has shape \(1,\)")),
    ("inf", (RuntimeWarning, "the gradient of parameter '2.scale' is not finite at epoch 1, "
                             "batch 1; training stopped before this batch's update")),
])
def test_a_failing_backward_or_a_bad_gradient_changes_nothing(fault, outcome):
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), Faulty(fault), nn.Linear(8, 3))
    trainer = Trainer(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1, momentum=0.9))
    x, y = blobs(8)
    before = everything(trainer)
    kind, message = outcome
    checker = pytest.warns if kind is RuntimeWarning else pytest.raises
    with checker(kind, match=message):
        trainer.fit([(x, y)], epochs=1, verbose=False)
    assert_unchanged(trainer, before)


def test_an_optimizer_step_that_raises_says_what_it_may_have_changed():
    class Broken(SGD):
        def step(self):
            raise FloatingPointError("step failed")

    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    trainer = Trainer(model, nn.CrossEntropyLoss(), Broken(model.parameters(), lr=0.1))
    before = model.state_dict()
    x, y = blobs(8)
    with pytest.raises(FloatingPointError) as info:
        trainer.fit([(x, y)], epochs=1, verbose=False)
    assert "the parameters it had updated before keep their new values" in str(info.value.__notes__)
    np.testing.assert_array_equal(model[1].running_mean, before["1.running_mean"])
# -- gradient clipping -------------------------------------------------------------------
def manual_clipped_run(clip, bound, epochs=2):
    """The Trainer's batch step written out, with torch-named clipping between backward and
    step; the same Generator drives the shuffling and the Noise layer as the Trainer's."""
    model, loss_fn = Net(), SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=0.5, momentum=0.9)
    train, _ = loaders()
    generator = np.random.default_rng(0)
    train.generator = generator
    model.set_generator(generator)
    model.train()
    norms = []
    for _ in range(epochs):
        for xb, yb in train:
            loss_fn(model(xb), yb)
            optimizer.zero_grad()
            model.backward(loss_fn.backward())
            if clip == "norm":
                norms.append(float(clip_grad_norm_(model.parameters(), max_norm=bound)))
            else:
                clip_grad_value_(model.parameters(), clip_value=bound)
            optimizer.step()
    return model, norms


@pytest.mark.parametrize("clip, bound", [("norm", 0.05), ("value", 0.01)])
def test_clipping_in_the_trainer_equals_a_manual_loop_with_nn_utils(clip, bound):
    model = Net()
    trainer = Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.5, momentum=0.9),
                      seed=0, **{f"clip_grad_{clip}": bound})
    history = trainer.fit(loaders()[0], epochs=2, verbose=False)
    expected, norms = manual_clipped_run(clip, bound)
    for key, value in expected.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key], value, err_msg=key)
    if clip == "norm":  # the pre-clip norm of every step is in the History
        assert history.steps["grad_norm"] == norms and len(norms) == 16
        assert max(norms) > bound  # the bound did clip
        assert history.steps["epoch"] == [1] * 8 + [2] * 8
    else:
        assert history.steps == {}
    unclipped, _ = manual_clipped_run("norm", 1e9)
    assert not np.array_equal(unclipped.state_dict()["0.weight"], model.state_dict()["0.weight"])


class ScaledGradient(SoftmaxCrossEntropy):
    """A finite loss whose gradient is scaled by ``scale``: NaN is what an overflow in
    backward looks like; 1e30 gives finite float32 gradients whose norm overflows."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def backward(self):
        return super().backward() * np.float32(self.scale)


@pytest.mark.parametrize("scale, reason", [
    (np.nan, "the gradient of parameter '0.weight' is not finite"),
    (1e30, "the total gradient norm is inf although every gradient is finite"),
])
def test_a_non_finite_gradient_or_norm_refuses_the_update_before_the_step(scale, reason):
    model = Net()
    optimizer = SGD(model.parameters(), lr=0.5, momentum=0.9)
    trainer = Trainer(model, ScaledGradient(scale), optimizer, clip_grad_norm=1.0)
    before = model.state_dict()
    with pytest.warns(RuntimeWarning, match=f"{reason}.* at epoch 1, batch 1; training stopped"):
        history = trainer.fit(loaders()[0], epochs=1, verbose=False)
    assert history.stopped_epoch == 1
    for key, value in before.items():
        np.testing.assert_array_equal(model.state_dict()[key], value, err_msg=key)
    assert optimizer.state == {}  # not a single step was taken


@pytest.mark.parametrize("arguments, message", [
    ({"clip_grad_norm": 1.0, "clip_grad_value": 1.0}, "clip_grad_norm or clip_grad_value, not"),
    ({"clip_grad_norm": 0.0}, "clip_grad_norm must be a finite number > 0 or None, got 0.0"),
    ({"clip_grad_norm": float("inf")}, "clip_grad_norm must be a finite number > 0"),
    ({"clip_grad_value": -1}, "clip_grad_value must be a finite number > 0 or None, got -1"),
    ({"clip_grad_value": True}, "clip_grad_value must be a finite number > 0"),
    ({"clip_grad_norm": "1"}, "clip_grad_norm must be a finite number > 0"),
])
def test_bad_clipping_settings_are_refused_by_the_constructor(arguments, message):
    model = Net()
    with pytest.raises(ValueError, match=message):
        Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), **arguments)
