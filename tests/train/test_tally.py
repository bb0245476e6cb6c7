"""Tally: the epoch's batch-size-weighted loss and accuracy."""

import pytest

from minigrad.train.tally import Tally


def test_means_weight_each_batch_by_its_size():
    tally = Tally()
    tally.add(1.0, 3, 4)
    tally.add(4.0, 0, 2)
    assert tally.means("loader") == {"loss": (4 * 1.0 + 2 * 4.0) / 6, "acc": 3 / 6}


def test_the_first_batch_decides_whether_there_is_an_accuracy():
    tally = Tally()
    tally.add(2.0, None, 5)
    assert tally.means("loader") == {"loss": 2.0}


def test_no_batches_is_an_error_naming_the_source():
    with pytest.raises(ValueError, match="train_loader yielded no batches"):
        Tally().means("train_loader")
