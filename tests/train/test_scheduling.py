"""SchedulerStep: the Trainer steps its lr scheduler through it, per epoch (a plateau with the
run's metric) or per batch (the lr of every step equals torch's, resumed runs included)."""

import warnings

import numpy as np
import pytest

from minigrad.optim import SGD, lr_scheduler
from minigrad.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from minigrad.train import (
    Callback,
    EarlyStopping,
    ModelCheckpoint,
    Monitor,
    MonitorCallback,
    Trainer,
)
from minigrad.train.scheduling import SchedulerStep
from tests.train.helpers import Net, ScriptedLoss, SoftmaxCrossEntropy, loaders, one_batch_loader


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
    loss = ScriptedLoss(model, [1.0, 2.0, 3.0])
    trainer = Trainer(model, loss, optimizer, scheduler, scheduler_monitor="val_accuracy")
    message = (r"ReduceLROnPlateau: scheduler_monitor='val_accuracy' is not a metric this run "
               r"logs; it logs train_loss, train_acc, val_loss, val_acc, lr, epoch_time")
    with pytest.raises(ValueError, match=message):
        trainer.fit(one_batch_loader(), one_batch_loader(), epochs=1, verbose=False)
    assert loss.train_calls == []  # refused when fit starts, before any batch


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


# -- per-batch schedules -----------------------------------------------------------------
EPOCHS = 3
BATCHES = 8  # loaders(): 120 training samples in batches of 16
BATCH_SCHEDULES = {
    "one_cycle": lambda S, o: S.OneCycleLR(o, max_lr=0.5, epochs=EPOCHS,
                                           steps_per_epoch=BATCHES),
    "cyclic_triangular2": lambda S, o: S.CyclicLR(o, base_lr=0.01, max_lr=0.3, step_size_up=5,
                                                  mode="triangular2"),
    "linear_warmup_then_cosine": lambda S, o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=6),
            S.CosineAnnealingLR(o, T_max=EPOCHS * BATCHES - 6)], milestones=[6]),
}


def per_batch_trainer(make, callbacks=()):
    model = Net()
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    return Trainer(model, SoftmaxCrossEntropy(), optimizer, make(lr_scheduler, optimizer),
                   callbacks=callbacks, seed=3, scheduler_interval="batch")


class RecordBatches(Callback):
    """(epoch, batch, lr, momentum) at every batch's end, after the scheduler's step."""

    def __init__(self):
        self.seen = []

    def on_train_batch_end(self, trainer, epoch, batch):
        group = trainer.optimizer.param_groups[0]
        self.seen.append((epoch, batch, group["lr"], group["momentum"]))


def torch_lrs_and_momenta(make, steps):
    """torch's lr for each of ``steps`` optimizer steps (its scheduler stepped after each),
    and the momentum after each scheduler step."""
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    scheduler = make(torch.optim.lr_scheduler, optimizer)
    lrs, momenta = [], []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        momenta.append(optimizer.param_groups[0]["momentum"])
    return lrs, momenta


@pytest.mark.parametrize("make", BATCH_SCHEDULES.values(), ids=BATCH_SCHEDULES.keys())
def test_a_per_batch_schedule_gives_torchs_lr_at_every_optimizer_step(make):
    recorder = RecordBatches()
    trainer = per_batch_trainer(make, [recorder])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "lr_scheduler.step() before optimizer.step()"
        history = trainer.fit(*loaders(), epochs=EPOCHS, verbose=False)
    expected_lrs, expected_momenta = torch_lrs_and_momenta(make, EPOCHS * BATCHES)
    np.testing.assert_allclose(history.steps["lr"], expected_lrs, rtol=1e-12, atol=0)
    # Up to the last step: after OneCycleLR's last one torch extrapolates (docs/training.md).
    momenta = [momentum for *_, momentum in recorder.seen]
    np.testing.assert_allclose(momenta[:-1], expected_momenta[:-1], rtol=1e-12, atol=0)
    assert history.steps["epoch"] == [e for e in range(1, EPOCHS + 1) for _ in range(BATCHES)]
    # The epoch's lr column: the lr of its first batch.
    assert history["lr"] == history.steps["lr"][::BATCHES]
    assert len(set(history.steps["lr"])) > EPOCHS  # the lr did move within epochs


@pytest.mark.parametrize("make", BATCH_SCHEDULES.values(), ids=BATCH_SCHEDULES.keys())
def test_a_per_batch_schedule_resumed_mid_run_equals_the_uninterrupted_run(make, tmp_path):
    def run(path, epochs, resume=False):
        trainer = per_batch_trainer(make, [ModelCheckpoint(path, save_best_only=False)])
        history = trainer.fit(*loaders(), epochs=epochs, verbose=False,
                              resume_from=path if resume else None)
        return trainer, history

    full, full_history = run(tmp_path / "full.npz", EPOCHS)
    run(tmp_path / "cut.npz", 1)  # stopped after epoch 1 of 3
    resumed, resumed_history = run(tmp_path / "cut.npz", EPOCHS, resume=True)
    assert resumed_history.steps == full_history.steps
    assert len(resumed_history.steps["lr"]) == EPOCHS * BATCHES
    for key in full_history:
        if key != "epoch_time":
            assert resumed_history[key] == full_history[key], key
    for key, value in full.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value, err_msg=key)
    assert resumed.scheduler.state_dict() == full.scheduler.state_dict()


def test_the_batch_hook_runs_after_the_per_batch_scheduler_has_stepped():
    recorder = RecordBatches()
    trainer = per_batch_trainer(BATCH_SCHEDULES["one_cycle"], [recorder])
    history = trainer.fit(*loaders(), epochs=2, verbose=False)
    assert [(e, b) for e, b, *_ in recorder.seen] == [
        (e, b) for e in (1, 2) for b in range(1, BATCHES + 1)]
    # Each batch's hook sees the lr of the next step: the schedule has already moved on.
    assert [lr for _, _, lr, _ in recorder.seen][:-1] == history.steps["lr"][1:]


def test_a_per_epoch_schedule_keeps_no_step_records_and_steps_only_per_epoch():
    recorder = RecordBatches()
    model = Net()
    optimizer = SGD(model.parameters(), lr=1.0, momentum=0.5)
    trainer = Trainer(model, SoftmaxCrossEntropy(), optimizer,
                      StepLR(optimizer, step_size=1, gamma=0.5), callbacks=[recorder])
    history = trainer.fit(*loaders(), epochs=2, verbose=False)
    assert history["lr"] == [1.0, 0.5]
    assert [lr for _, _, lr, _ in recorder.seen] == [1.0] * BATCHES + [0.5] * BATCHES
    assert history.steps == {} and "steps" not in history.to_dict()


def test_a_plateau_cannot_be_stepped_per_batch_and_the_interval_is_checked():
    model = Net()
    optimizer = SGD(model.parameters(), lr=1.0)
    with pytest.raises(ValueError, match="ReduceLROnPlateau is stepped with an epoch metric"):
        Trainer(model, SoftmaxCrossEntropy(), optimizer, ReduceLROnPlateau(optimizer),
                scheduler_interval="batch")
    with pytest.raises(ValueError, match="interval must be 'epoch' or 'batch', got 'step'"):
        Trainer(model, SoftmaxCrossEntropy(), optimizer, scheduler_interval="step")
