"""The run's state (train/run_state.py): what a checkpoint saves of a Trainer, loaded all or
nothing."""

import copy

import numpy as np
import pytest

from minigrad.train import Callback, EarlyStopping
from tests.train.helpers import loaders, make_trainer


class Picky(Callback):
    """Refuses, when its state is loaded, any state but the one it holds."""

    def __init__(self):
        self.token = 1

    def state_dict(self):
        return {"token": self.token}

    def load_state_dict(self, state):
        if state["token"] != 1:
            raise ValueError("Picky: unknown token")
        self.token = state["token"]


def test_a_callback_refusing_its_state_late_leaves_the_whole_run_state_unchanged():
    stopper = EarlyStopping(monitor="val_loss", mode="min")
    trainer = make_trainer(callbacks=[stopper, Picky()])
    train, val = loaders()
    trainer.fit(train, val, epochs=2, verbose=False)
    before = copy.deepcopy(trainer.state_dict())
    history = trainer.history
    state = copy.deepcopy(before)
    state["epoch"] = 7
    state["generator"]["state"]["state"] += 1
    state["callbacks"][0]["state"]["wait"] = 5
    state["callbacks"][1]["state"]["token"] = 2
    with pytest.raises(ValueError, match="Picky: unknown token"):
        trainer.load_state_dict(state)
    after = trainer.state_dict()
    assert trainer.history is history and after["epoch"] == 2 and stopper.wait == 0
    assert after["generator"] == before["generator"]
    for key, value in before["callbacks"][0]["state"]["best_weights"].items():
        np.testing.assert_array_equal(stopper.best_weights[key], value)


def test_a_malformed_epoch_is_refused_before_anything_changes():
    trainer = make_trainer()
    state = trainer.state_dict()
    state["epoch"] = 2.5
    with pytest.raises(ValueError, match="trainer state: epoch must be an int >= 0, got 2.5"):
        trainer.load_state_dict(state)
    assert trainer.epoch == 0
