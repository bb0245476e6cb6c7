"""Trainer: minigrad's batch step, the Generator it hands out, evaluation, prediction, argument
checks and float64 (the epoch loop itself: test_loop.py)."""

import numpy as np
import pytest

from minigrad import nn
from minigrad.optim import SGD
from minigrad.train import Trainer
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
