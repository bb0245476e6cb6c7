"""The twin's pieces: dropout masks drawn as minigrad draws them, the same early-stopping rule."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import nn
from minigrad.data import DataLoader
from minigrad.train.loop import EpochLoop

torch = pytest.importorskip("torch")

from minigrad_bench.accuracy import torch_train  # noqa: E402
from minigrad_bench.reference import Recipe, reference_model  # noqa: E402


def test_numpy_mask_dropout_draws_minigrad_dropouts_masks():
    x = np.random.default_rng(0).standard_normal((8, 256)).astype(np.float32)
    ours = nn.Dropout(0.3, generator=np.random.default_rng(5))
    twin = torch_train.NumpyMaskDropout(0.3, np.random.default_rng(5))
    for _ in range(3):  # consecutive draws stay in step
        np.testing.assert_array_equal(twin(torch.from_numpy(x)).numpy(), ours(x))
    twin.eval()
    assert torch.equal(twin(torch.from_numpy(x)), torch.from_numpy(x))


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_twin_starts_from_the_numpy_nets_weights_and_computes_the_same_logits(dataset):
    recipe = Recipe(seed=3)
    model = reference_model(dataset, recipe)
    run = torch_train.reference_twin(dataset, recipe, model.state_dict(),
                                     torch_train.Runtime.for_model("cpu", fast=False))
    channels, size = (1, 28) if dataset == "mnist" else (3, 32)
    x = np.random.default_rng(0).standard_normal((4, channels, size, size)).astype(np.float32)
    model.eval()
    run.model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(run.model(torch.from_numpy(x)).numpy(), model(x),
                                   rtol=1e-4, atol=1e-5)


def test_early_stopping_rule_restores_the_best_epoch_and_says_why(monkeypatch):
    """val_acc 0.5, 0.7, 0.6, 0.6 with patience 2: stops after epoch 4, restores epoch 2."""
    model = torch.nn.Linear(2, 2)
    scripted = iter([0.5, 0.7, 0.6, 0.6, 0.9])
    weights_seen = {}

    def fake_epoch(trainer, *args):
        with torch.no_grad():
            model.weight.add_(1.0)
        trainer.optimizer.step()
        return {"loss": 1.0, "acc": 0.5}

    def fake_eval(trainer, *args):
        value = next(scripted)
        weights_seen[value] = model.weight.detach().clone()
        return {"loss": 1.0, "acc": value}

    monkeypatch.setattr(torch_train.TorchTrainer, "_train_epoch", fake_epoch)
    monkeypatch.setattr(torch_train.TorchTrainer, "evaluate", fake_eval)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5)
    stopper = torch_train.EarlyStopping("val_acc", "max", patience=2)
    runtime = torch_train.Runtime.for_model("cpu", fast=False)
    trainer = torch_train.TorchTrainer(model, optimizer, scheduler, [stopper], runtime=runtime)
    unused = [None]  # the faked epoch and evaluation read no batch (fit refuses len() == 0)
    history = trainer.fit(unused, unused, 5, verbose=False)
    assert history.epochs == 4 and history.best_epoch == 2 and history.stopped_epoch == 4
    assert "best 0.7 at epoch 2" in history.stop_reason
    assert torch.equal(model.weight, weights_seen[0.7])


def tiny_torch_run(lr=0.1, epochs=3, one_cycle=False, lazy_loss=False):
    """A torch Linear trained by TorchTrainer on a fixed toy problem; its History.

    ``one_cycle``: torch's OneCycleLR over the run, stepped per batch (4 batches an epoch).
    ``lazy_loss``: the losses stay tensors and are read once per epoch, as on a GPU.
    """
    g = np.random.default_rng(0)
    x = g.standard_normal((48, 1, 2, 2)).astype(np.float32)
    y = (x.reshape(48, 4).sum(1) > 0).astype(np.int64)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=4 * epochs)
                 if one_cycle else None)
    runtime = torch_train.Runtime(torch.device("cpu"), lazy_loss=lazy_loss)
    trainer = torch_train.TorchTrainer(model, optimizer, scheduler, runtime=runtime,
                                       scheduler_interval="batch" if one_cycle else "epoch")
    train = DataLoader(x[:32], y[:32], 8, seed=0)
    return trainer.fit(train, DataLoader(x[32:], y[32:], 8, shuffle=False), epochs,
                       verbose=False)


def test_the_torch_run_is_driven_by_the_trainers_epoch_loop():
    assert issubclass(torch_train.TorchTrainer, EpochLoop)
    history = tiny_torch_run()
    assert list(history) == ["train_loss", "train_acc", "val_loss", "val_acc", "lr",
                             "epoch_time"]
    assert (history.monitor, history.mode, history.epochs) == ("val_loss", "min", 3)


def test_the_torch_run_steps_a_one_cycle_per_batch_as_torchs_own_loop_does():
    history = tiny_torch_run(epochs=2, one_cycle=True)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=8)
    expected = []
    for _ in range(8):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert history.steps["lr"] == expected
    assert history["lr"] == [expected[0], expected[4]]


def test_sums_kept_on_the_device_give_the_same_history_as_per_batch_reads():
    per_batch = tiny_torch_run()
    lazy = tiny_torch_run(lazy_loss=True)
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert lazy[key] == per_batch[key], key


def test_a_nan_loss_stops_the_torch_run_with_the_trainers_sentence():
    # lr NaN: the first update makes every later loss NaN
    with pytest.warns(RuntimeWarning, match="loss is nan at epoch 1, batch 2"):
        history = tiny_torch_run(lr=float("nan"), epochs=2)
    assert history.epochs == 0 and history.stopped_epoch == 1
    assert "before this batch's update" in history.stop_reason
    # Read once per epoch (a GPU), the epoch's mean is checked instead.
    with pytest.warns(RuntimeWarning, match="the mean loss of epoch 1 is nan"):
        history = tiny_torch_run(lr=float("nan"), epochs=2, lazy_loss=True)
    assert history.epochs == 0 and history.stopped_epoch == 1


def test_runtime_for_cuda_is_fast_and_lazy_and_for_cpu_plain():
    cpu = torch_train.Runtime.for_model("cpu", fast=True)
    assert (cpu.autocast, cpu.channels_last, cpu.lazy_loss) == (False, False, False)
    cuda = torch_train.Runtime.for_model("cuda", fast=True)  # no GPU needed to build it
    assert (cuda.autocast, cuda.channels_last, cuda.lazy_loss) == (True, True, True)
    assert torch_train.Runtime.for_model("cuda", fast=False).lazy_loss
