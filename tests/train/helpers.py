"""Small hand-written models, losses and loaders that make Trainer behaviour easy to pin."""

from __future__ import annotations

import numpy as np

from minigrad import nn
from minigrad.optim import SGD
from minigrad.train import Callback, Trainer


class TinyLinear(nn.Module):
    """y = x @ W.T + b, written out so these tests do not depend on nn.Linear."""

    def __init__(self, fan_in: int, fan_out: int, seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.weight = nn.Parameter(rng.normal(0, 0.1, (fan_out, fan_in)).astype(np.float32))
        self.bias = nn.Parameter(np.zeros(fan_out, np.float32))

    def forward(self, x):
        self._x = x
        return x @ self.weight.data.T + self.bias.data

    def backward(self, dy):
        self.weight.grad += dy.T @ self._x
        self.bias.grad += dy.sum(0)
        return dy @ self.weight.data


class Noise(nn.Module):
    """Dropout-like: multiplies by a random 0/2 mask in training, identity in eval mode."""

    def __init__(self):
        super().__init__()
        self.generator = np.random.default_rng(12345)

    def forward(self, x):
        if not self.training:
            self._mask = 1
            return x
        self._mask = (self.generator.random(x.shape, dtype=x.dtype) >= 0.5) * x.dtype.type(2)
        return x * self._mask

    def backward(self, dy):
        return dy * self._mask


class Net(nn.Sequential):
    """Linear -> Noise -> Linear: trainable, random in training, deterministic in eval."""

    def __init__(self, fan_in: int = 4, hidden: int = 8, classes: int = 3, seed: int = 0):
        super().__init__(
            TinyLinear(fan_in, hidden, seed), Noise(), TinyLinear(hidden, classes, seed + 1)
        )


class SoftmaxCrossEntropy:
    """Mean cross-entropy over logits (N, C) and class indices (N,), with backward."""

    def __call__(self, logits, target):
        z = logits - logits.max(1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(1, keepdims=True))
        self._probs, self._target = np.exp(log_probs), target
        return float(-log_probs[np.arange(len(target)), target].mean())

    def backward(self):
        grad = self._probs.copy()
        grad[np.arange(len(self._target)), self._target] -= 1
        return grad / len(self._target)


class ScriptedLoss:
    """Returns scripted values and a constant gradient, so each step changes the weights.

    ``train_values(epoch, batch)`` gives the training loss (default 1.0); in eval mode the
    loss of validation epoch ``e`` (one batch each) is ``val_values[e - 1]``.
    """

    def __init__(self, model, val_values=(), train_values=None):
        self.model, self.val_values, self.train_values = model, list(val_values), train_values
        self.val_calls = 0
        self.train_calls: list[int] = []  # batches seen per training epoch

    def __call__(self, logits, target):
        self._shape = logits.shape
        if not self.model.training:
            self.val_calls += 1
            return self.val_values[self.val_calls - 1]
        if len(self.train_calls) < self.val_calls + 1:
            self.train_calls.append(0)
        self.train_calls[-1] += 1
        if self.train_values is None:
            return 1.0
        return self.train_values(len(self.train_calls), self.train_calls[-1])

    def backward(self):
        return np.full(self._shape, 0.01, np.float32)


class ArrayLoader:
    """A minimal DataLoader: batches of (x, y), optionally shuffled by ``generator``."""

    def __init__(self, x, y, batch_size=16, shuffle=True, generator=None):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.generator = generator if generator is not None else np.random.default_rng(99)

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        order = self.generator.permutation(len(self.x)) if self.shuffle else np.arange(len(self.x))
        for start in range(0, len(self.x), self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.x[index], self.y[index]


def blobs(n=120, features=4, classes=3, seed=0):
    """Linearly separable-ish float32 clusters with int64 labels."""
    centers = np.random.default_rng(1000).normal(0, 3, (classes, features))  # same for all seeds
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = centers[y] + rng.normal(0, 1, (n, features))
    return x.astype(np.float32), y.astype(np.int64)


def one_batch_loader(features=4, n=5):
    """A loader with one fixed batch per epoch (scripted-loss tests)."""
    x = np.ones((n, features), np.float32)
    y = np.zeros(n, np.int64)
    return [(x, y)]


class RecordWeights(Callback):
    """Keeps a copy of the model's state_dict after every epoch."""

    def __init__(self):
        self.snapshots = []

    def on_epoch_end(self, trainer, epoch, logs):
        self.snapshots.append(trainer.model.state_dict())


def make_trainer(seed=0, lr=0.1, model_seed=0, **kwargs):
    """A Trainer of ``Net`` with SGD (momentum 0.9) on ``SoftmaxCrossEntropy``."""
    model = Net(seed=model_seed)
    return Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=lr, momentum=0.9),
        seed=seed,
        **kwargs,
    )


def loaders(batch_size=16):
    """Train (120 shuffled) and validation (60, in order) loaders over ``blobs``."""
    x, y = blobs(120)
    xv, yv = blobs(60, seed=1)
    return ArrayLoader(x, y, batch_size), ArrayLoader(xv, yv, 32, shuffle=False)
