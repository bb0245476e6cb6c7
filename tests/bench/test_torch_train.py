"""The twin's pieces: dropout masks drawn as minigrad draws them, the same early-stopping rule."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad import nn

torch = pytest.importorskip("torch")

from minigrad_bench import torch_train  # noqa: E402
from minigrad_bench.recipes import Recipe  # noqa: E402
from minigrad_bench.reference import reference_model  # noqa: E402


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
    run, _ = torch_train.reference_twin(dataset, recipe, model.state_dict())
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
    run = torch_train.TorchRun(model)
    scripted = iter([0.5, 0.7, 0.6, 0.6, 0.9])
    weights_seen = {}

    def fake_epoch(model, optimizer, *args):
        with torch.no_grad():
            model.weight.add_(1.0)
        optimizer.step()
        return {"loss": 1.0, "acc": 0.5}

    def fake_eval(model, *args):
        value = next(scripted)
        weights_seen[value] = model.weight.detach().clone()
        return {"loss": 1.0, "acc": value}

    monkeypatch.setattr(torch_train, "train_epoch", fake_epoch)
    monkeypatch.setattr(torch_train, "evaluate", fake_eval)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5)
    stopper = torch_train.EarlyStopping("val_acc", "max", patience=2)
    runtime = torch_train.Runtime.for_model("cpu", fast=False)
    history = torch_train.fit(run, optimizer, scheduler, [], [], 5, stopper, runtime,
                              verbose=False)
    assert history.epochs == 4 and history.best_epoch == 2 and history.stopped_epoch == 4
    assert "best 0.7 at epoch 2" in history.stop_reason
    assert torch.equal(model.weight, weights_seen[0.7])
