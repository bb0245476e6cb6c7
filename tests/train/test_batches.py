"""Loaders (train/batches.py): any iterable of (x, y) pairs, with or without a length; what
is no loader, or an iterator that one epoch exhausts, is refused when fit starts."""

import numpy as np
import pytest

from minigrad.train.batches import batch_count, batch_pair, check_loader
from tests.train.helpers import blobs, make_trainer


class Streamed:
    """A generator-style loader: ``__iter__`` is a generator function, there is no ``__len__``."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        yield from self.batches


def batches(n=3, size=8):
    x, y = blobs(n * size)
    return [(x[i:i + size], y[i:i + size]) for i in range(0, n * size, size)]


def test_a_loader_without_len_trains_and_its_bar_counts_without_a_total(capsys):
    data = batches()
    loader = Streamed(data)
    assert batch_count(loader) is None and batch_count(data) == 3
    history = make_trainer().fit(loader, Streamed(data), epochs=2, progress=True)
    assert history.epochs == 2 and "val_acc" in history
    out = capsys.readouterr().out
    assert "epoch 1/2: 0it [" in out  # tqdm without a total draws a count: "<n>it [..."


def test_a_generator_object_feeds_a_one_epoch_run_only():
    make_trainer().fit((pair for pair in batches()), epochs=1, verbose=False)
    trainer = make_trainer()
    with pytest.raises(ValueError, match=r"train_loader is an iterator \(generator\), exhausted "
                                         r"after one pass, but fit\(epochs=2\) may need 2"):
        trainer.fit((pair for pair in batches()), epochs=2, verbose=False)
    with pytest.raises(ValueError, match="val_loader is an iterator"):
        trainer.fit(batches(), iter(batches()), epochs=3, verbose=False)


@pytest.mark.parametrize("call, error, message", [
    (lambda t: t.fit(None, epochs=1), TypeError, "train_loader must be an iterable of .x, y. "
                                                 "batches .* got NoneType"),
    (lambda t: t.fit(batches(), "val", epochs=1), TypeError,
     "val_loader must be an iterable .* got str"),
    (lambda t: t.fit(batches(), [], epochs=1), ValueError, "val_loader has no batches .its "
                                                           "len.. is 0"),
    (lambda t: t.evaluate(None), TypeError, "evaluate: loader must be an iterable .* got NoneType"),
    (lambda t: t.predict(None), TypeError, r"predict: x must be an array of numbers \(N, ...\), "
                                           "got NoneType of dtype object"),
    (lambda t: t.fit([np.ones((8, 4), np.float32)], epochs=1), TypeError,
     r"train_loader must yield \(x, y\) pairs; batch 1 is a ndarray"),
    (lambda t: t.evaluate([batches()[0], (1, 2, 3)]), TypeError,
     r"evaluate: the loader must yield \(x, y\) pairs; batch 2 is a tuple of length 3"),
])
def test_what_is_no_loader_is_an_error_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call(make_trainer())


def test_check_loader_and_batch_pair_accept_what_fit_accepts():
    check_loader(batches(), "train_loader", epochs=5)
    check_loader(iter(batches()), "train_loader", epochs=1)
    assert batch_pair([1, 2], "loader", 1) == (1, 2)
