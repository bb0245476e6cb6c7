"""LoggedMetrics: the metrics a run logs, as the loop logs them; the message of a missing one."""

import numpy as np
import pytest

from minigrad.optim import SGD
from minigrad.train import Trainer
from minigrad.train.metrics import LoggedMetrics
from tests.train.helpers import Net, ScriptedLoss, blobs, make_trainer


@pytest.mark.parametrize("validation", [False, True])
@pytest.mark.parametrize("classification", [False, True])
def test_the_names_are_the_columns_the_loop_logs(validation, classification):
    x, y = blobs(8)
    if classification:
        trainer = make_trainer()
    else:  # float targets: a regression run, no accuracies
        model = Net()
        trainer = Trainer(model, ScriptedLoss(model, [1.0]), SGD(model.parameters(), lr=0.1))
        y = np.zeros((8, 3), np.float32)
    history = trainer.fit([(x, y)], [(x, y)] if validation else None, epochs=1, verbose=False)
    assert list(history) == list(LoggedMetrics(validation, classification).names)


def test_before_the_first_batch_the_accuracies_count_as_logged():
    assert LoggedMetrics(True).names == LoggedMetrics(True, classification=True).names
    assert "val_acc" in LoggedMetrics(True) and "val_acc" not in LoggedMetrics(False)


@pytest.mark.parametrize("metrics, metric, message", [
    (LoggedMetrics(True), "val_f1", "Owner: monitor='val_f1' is not a metric this run logs; it "
     "logs train_loss, train_acc, val_loss, val_acc, lr, epoch_time (the accuracies only for "
     "class-index targets)"),
    (LoggedMetrics(False), "val_loss", "Owner: monitor='val_loss' is a validation metric, but "
     "fit() got no val_loader; this run logs train_loss, train_acc, lr, epoch_time"),
    (LoggedMetrics(True, False), "train_acc", "Owner: monitor='train_acc' is not a metric this "
     "run logs; it logs train_loss, val_loss, lr, epoch_time (no accuracies: the targets are "
     "not class indices)"),
])
def test_require_names_the_argument_the_value_and_what_the_run_logs(metrics, metric, message):
    with pytest.raises(ValueError) as info:
        metrics.require(metric, "Owner: monitor")
    assert str(info.value).startswith(message)
    metrics.require("lr", "Owner: monitor")  # logged: no error
