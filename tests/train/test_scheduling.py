"""SchedulerStep: the Trainer steps its lr scheduler through it, a plateau with the run's metric."""

import warnings

import pytest

from minigrad.optim import SGD
from minigrad.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from minigrad.train import EarlyStopping, Monitor, MonitorCallback, Trainer
from minigrad.train.scheduling import SchedulerStep
from tests.train.helpers import Net, ScriptedLoss, one_batch_loader


# -- ReduceLROnPlateau as the Trainer's scheduler -------------------------------------
def plateau_trainer(val_losses, stopper=None, **plateau_args):
    model = Net()
    optimizer = SGD(model.parameters(), lr=1.0)
    scheduler = ReduceLROnPlateau(optimizer, **plateau_args)
    callbacks = [stopper] if stopper else []
    return Trainer(model, ScriptedLoss(model, val_losses), optimizer, scheduler, callbacks)


def test_plateau_scheduler_is_stepped_with_the_monitored_metric_like_torch():
    torch = pytest.importorskip("torch")
    losses = [5.0, 4.0, 4.0, 4.0, 4.0, 3.99999, 4.0, 4.0, 4.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    args = {"mode": "min", "factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 0.2}
    trainer = plateau_trainer(losses, **args)
    history = trainer.fit(one_batch_loader(), one_batch_loader(), epochs=len(losses), verbose=False)
    torch_optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    torch_scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_optimizer, **args)
    expected = []
    for loss in losses:
        expected.append(torch_optimizer.param_groups[0]["lr"])  # the lr used in the epoch
        torch_scheduler.step(loss)
    assert history["lr"] == expected
    assert len(set(expected)) > 2  # the script does reduce the lr, down to min_lr


def test_plateau_follows_the_early_stopping_monitor_by_default():
    # train_loss improves every epoch while val_loss is flat: stepped with val_loss the
    # plateau (patience 0) would cut the lr at epoch 2; stepped with train_loss it never does.
    model = Net()
    optimizer = SGD(model.parameters(), lr=1.0)
    scheduler = ReduceLROnPlateau(optimizer, mode="min", patience=0)
    loss = ScriptedLoss(model, [1.0] * 3, train_values=lambda epoch, batch: 4.0 - epoch)
    stopper = EarlyStopping(monitor="train_loss", mode="min", patience=50)
    trainer = Trainer(model, loss, optimizer, scheduler, callbacks=[stopper])
    history = trainer.fit(one_batch_loader(), one_batch_loader(), epochs=3, verbose=False)
    assert history["train_loss"] == [3.0, 2.0, 1.0]
    assert history["lr"] == [1.0, 1.0, 1.0]
    assert trainer.scheduler.best == 1.0


def test_plateau_mode_contradicting_the_metric_is_rejected():
    trainer = plateau_trainer([1.0], mode="max")
    with pytest.raises(ValueError, match="mode='max' but is stepped with 'val_loss'"):
        trainer.fit(one_batch_loader(), one_batch_loader(), epochs=1, verbose=False)


def test_explicit_scheduler_monitor_is_used():
    model = Net()
    optimizer = SGD(model.parameters(), lr=1.0)
    scheduler = ReduceLROnPlateau(optimizer, mode="max", patience=0)
    trainer = Trainer(
        model,
        ScriptedLoss(model, [1.0, 2.0, 3.0]),
        optimizer,
        scheduler,
        scheduler_monitor="val_accuracy",
    )
    with pytest.raises(KeyError, match="'val_accuracy' is not among"):
        trainer.fit(one_batch_loader(), one_batch_loader(), epochs=1, verbose=False)


def test_warns_when_early_stopping_patience_leaves_the_plateau_no_chance():
    with pytest.warns(UserWarning, match=r"patience \(5\) <= ReduceLROnPlateau patience \(5\)"):
        plateau_trainer([1.0], EarlyStopping(patience=5), mode="min", patience=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plateau_trainer([1.0], EarlyStopping(patience=6), mode="min", patience=5)


def test_a_scheduler_whose_step_needs_the_metric_is_told_apart_in_both_frameworks():
    optimizer = SGD(Net().parameters(), lr=1.0)
    assert SchedulerStep(ReduceLROnPlateau(optimizer)).takes_metric
    assert not SchedulerStep(StepLR(optimizer, step_size=2)).takes_metric
    torch = pytest.importorskip("torch")
    torch_optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    assert SchedulerStep(torch.optim.lr_scheduler.ReduceLROnPlateau(torch_optimizer)).takes_metric
    assert not SchedulerStep(torch.optim.lr_scheduler.StepLR(torch_optimizer, 2)).takes_metric


def test_the_patience_warning_points_at_the_line_that_builds_the_trainer():
    with pytest.warns(UserWarning, match="never be reduced") as caught:
        plateau_trainer([1.0], EarlyStopping(patience=3), mode="min", patience=3)
    assert caught[0].filename == __file__


class StopsOnTrainLoss(MonitorCallback):
    """A best-tracking callback the Trainer has never heard of: it stops the run."""

    def __init__(self):
        super().__init__("train_loss", "min")
        self.patience = 7
        self.best_epoch = 2  # a fixed claim, to see that the History takes it


class RecordLr(MonitorCallback):
    """Watches val_loss without stopping; records the lr it sees at each epoch's end."""

    def __init__(self):
        super().__init__("val_loss", "min")
        self.seen = []

    def on_epoch_end(self, trainer, epoch, logs):
        self.seen.append(trainer.optimizer.param_groups[0]["lr"])


def test_a_new_stopping_callback_sets_the_runs_monitor_best_epoch_and_plateau_metric():
    # train_loss improves every epoch, val_loss is flat: stepped with val_loss, a
    # patience-0 plateau would cut the lr at epoch 2; stepped with train_loss it never does.
    model = Net()
    optimizer = SGD(model.parameters(), lr=1.0)
    loss = ScriptedLoss(model, [1.0] * 3, train_values=lambda epoch, batch: 4.0 - epoch)
    watcher, stopper = RecordLr(), StopsOnTrainLoss()
    trainer = Trainer(model, loss, optimizer, ReduceLROnPlateau(optimizer, patience=0),
                      callbacks=[watcher, stopper])
    history = trainer.fit(one_batch_loader(), one_batch_loader(), epochs=3, verbose=False)
    assert trainer.monitor is stopper.criterion
    assert (history.monitor, history.mode, history.best_epoch) == ("train_loss", "min", 2)
    assert history["lr"] == [1.0, 1.0, 1.0]


def test_the_scheduler_steps_before_the_other_callbacks_see_the_epoch():
    model = Net()
    optimizer = SGD(model.parameters(), lr=1.0)
    watcher = RecordLr()
    trainer = Trainer(model, ScriptedLoss(model, [1.0] * 3), optimizer,
                      StepLR(optimizer, step_size=1, gamma=0.5), callbacks=[watcher])
    history = trainer.fit(one_batch_loader(), one_batch_loader(), epochs=3, verbose=False)
    assert history["lr"] == [1.0, 0.5, 0.25]  # the lr each epoch trained with
    assert watcher.seen == [0.5, 0.25, 0.125]  # already stepped when the callbacks run
    assert isinstance(trainer.monitor, Monitor) and trainer.monitor.metric == "val_loss"


def test_assigning_a_scheduler_steps_the_new_one_and_none_stops_stepping():
    model = Net()
    optimizer = SGD(model.parameters(), lr=1.0)
    trainer = Trainer(model, ScriptedLoss(model, [1.0] * 4), optimizer)
    trainer.scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
    trainer.fit(one_batch_loader(), one_batch_loader(), epochs=2, verbose=False)
    trainer.scheduler = None
    history = trainer.fit(one_batch_loader(), one_batch_loader(), epochs=2, verbose=False)
    assert history["lr"] == [0.25, 0.25]
    with pytest.raises(TypeError, match="scheduler must have a step"):
        trainer.scheduler = object()
