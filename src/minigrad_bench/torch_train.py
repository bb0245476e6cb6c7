"""The torch side of the comparison: the reference net's twin and the VGG baselines.

The twin is trained as minigrad's Trainer trains the reference net, step for step, and is fed
the identical batches: the same minigrad DataLoaders, built with the same seed, driven by a
``numpy.random.Generator`` seeded as the Trainer's is. The Trainer shares that one Generator
between the loaders (shuffling, augmentation) and Dropout, so the twin must consume it the
same way to see the same batches; its Dropout therefore draws its masks from that Generator
exactly as minigrad's does (``NumpyMaskDropout``). It starts from the numpy net's initial
weights. The two runs then differ only in floating-point arithmetic.

Both loops record a ``minigrad.train.History`` with the Trainer's metrics and apply the same
early-stopping rule (``EarlyStopping.update``: strictly better than the best, patience in
consecutive epochs); the best epoch's weights are restored and the test set is evaluated
once with them.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn as tnn

from minigrad.train import EarlyStopping, History
from minigrad.train.progress import summary_line
from minigrad_bench.baselines import BaselineRecipe, baseline_loaders
from minigrad_bench.models import torch_vgg
from minigrad_bench.recipes import Recipe, split
from minigrad_bench.reference import official_test_loader, reference_loaders
from minigrad_bench.reference import torch_reference_model as reference_twin_net
from minigrad_bench.tensor_batches import TensorBatches


@dataclass(frozen=True)
class Runtime:
    """Where and how a torch model computes: bf16 autocast and channels_last are CUDA-only."""

    device: torch.device
    autocast: bool = False
    channels_last: bool = False

    @classmethod
    def for_model(cls, device: str, fast: bool) -> Runtime:
        """``fast`` turns on bf16 autocast and channels_last when ``device`` is CUDA."""
        on_cuda = torch.device(device).type == "cuda"
        if on_cuda:
            torch.backends.cudnn.benchmark = True
        return cls(torch.device(device), fast and on_cuda, fast and on_cuda)

    @property
    def sync_each_batch(self) -> bool:
        """On CPU each batch's loss is read at once (the Trainer's NaN rule); on GPU per epoch."""
        return self.device.type == "cpu"

    def batch(self, xb, yb) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(xb, np.ndarray):
            xb, yb = torch.from_numpy(xb), torch.from_numpy(yb)
        return xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)

    def autocast_context(self):
        if self.autocast:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


class NumpyMaskDropout(tnn.Module):
    """Inverted dropout whose masks are drawn from a numpy Generator as minigrad's Dropout
    draws them: ``generator.random(shape, dtype) >= p``, kept values scaled by 1/(1-p)."""

    def __init__(self, p: float, generator: np.random.Generator):
        super().__init__()
        self.p, self.generator = float(p), generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return torch.zeros_like(x)
        dtype = np.float64 if x.dtype == torch.float64 else np.float32
        keep = self.generator.random(tuple(x.shape), dtype=dtype) >= dtype(self.p)
        mask = keep.astype(dtype) * dtype(1.0 / (1.0 - self.p))
        return x * torch.from_numpy(mask).to(x.device)


@dataclass
class TorchRun:
    """A torch run in progress: what an interrupted run leaves behind is taken from here."""

    model: tnn.Module
    history: History = field(default_factory=lambda: History("val_acc", "max"))
    best_state: dict | None = None
    test: dict | None = None

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The model's current weights as numpy arrays, keyed as the minigrad twin's."""
        return {k: v.detach().float().cpu().numpy() if v.is_floating_point() else
                v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}


class _Tally:
    """Sample-weighted mean loss and accuracy, kept on the device when not syncing per batch."""

    def __init__(self, runtime: Runtime):
        self.sync = runtime.sync_each_batch
        zero = 0.0 if self.sync else torch.zeros((), dtype=torch.float64, device=runtime.device)
        self.loss_sum, self.correct, self.seen = zero, zero, 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, yb: torch.Tensor) -> float | None:
        """Adds a batch; on CPU returns its loss as a float (for the NaN check)."""
        n = len(yb)
        hits = (logits.argmax(1) == yb).sum()
        self.seen += n
        if self.sync:
            value = loss.item()
            self.loss_sum += value * n
            self.correct += int(hits)
            return value
        self.loss_sum += loss.detach().double() * n
        self.correct += hits
        return None

    def means(self) -> dict[str, float]:
        return {"loss": float(self.loss_sum) / self.seen, "acc": float(self.correct) / self.seen}


def train_epoch(model, optimizer, batches, runtime: Runtime) -> dict | str:
    """One pass in train mode; the metrics, or a sentence if a loss was NaN/inf."""
    model.train()
    tally = _Tally(runtime)
    for number, (xb, yb) in enumerate(batches, 1):
        xb, yb = runtime.batch(xb, yb)
        with runtime.autocast_context():
            logits = model(xb)
        loss = F.cross_entropy(logits.float(), yb)
        value = tally.add(loss, logits, yb)
        if value is not None and not math.isfinite(value):
            return f"loss is {value} at batch {number}; training stopped before its update"
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    metrics = tally.means()
    if not math.isfinite(metrics["loss"]):
        return f"loss is {metrics['loss']} over the epoch"
    return metrics


@torch.no_grad()
def evaluate(model, batches, runtime: Runtime) -> dict[str, float]:
    """Mean loss and accuracy in eval mode; the model's mode is restored."""
    was_training = model.training
    model.eval()
    tally = _Tally(runtime)
    for xb, yb in batches:
        xb, yb = runtime.batch(xb, yb)
        with runtime.autocast_context():
            logits = model(xb)
        tally.add(F.cross_entropy(logits.float(), yb), logits, yb)
    model.train(was_training)
    return tally.means()


def fit(run: TorchRun, optimizer, scheduler, train, val, epochs: int, stopper: EarlyStopping,
        runtime: Runtime, label: str = "", verbose: bool = True) -> History:
    """The Trainer's epoch: train, validate, record, step the scheduler, early-stop rule."""
    history = run.history
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        lr = float(optimizer.param_groups[0]["lr"])
        metrics = train_epoch(run.model, optimizer, train, runtime)
        if isinstance(metrics, str):
            history.stopped_epoch, history.stop_reason = epoch, f"epoch {epoch}: {metrics}"
            break
        logs = {"train_loss": metrics["loss"], "train_acc": metrics["acc"]}
        logs.update({f"val_{k}": v for k, v in evaluate(run.model, val, runtime).items()})
        logs.update(lr=lr, epoch_time=time.perf_counter() - started)
        history.append(logs)
        if verbose:
            print(f"{label}{summary_line(epoch, epochs, logs)}", flush=True)
        scheduler.step(logs["val_acc"]) if plateau else scheduler.step()
        if stopper.update(logs["val_acc"], epoch):
            run.best_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
        history.best_epoch = stopper.best_epoch
        if stopper.stopped_epoch is not None:
            history.stopped_epoch = epoch
            history.stop_reason = (
                f"early stopping: val_acc did not improve by more than {stopper.min_delta} "
                f"for {stopper.patience} epochs (best {stopper.best:.6g} at epoch "
                f"{stopper.best_epoch})")
            break
    if run.best_state is not None:
        run.model.load_state_dict(run.best_state)
    return history


def reference_optimizer(model: tnn.Module, recipe: Recipe):
    """torch's version of ``recipes.build_optimizer`` (the same groups and hyperparameters)."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)
    decay = [p for name, p in model.named_parameters() if name.endswith("weight")]
    rest = [p for name, p in model.named_parameters() if not name.endswith("weight")]
    return torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=recipe.lr)


def reference_scheduler(optimizer, recipe: Recipe):
    if recipe.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=recipe.plateau_factor, patience=recipe.plateau_patience)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)


def reference_twin(dataset: str, recipe: Recipe,
                   initial_state: dict) -> tuple[TorchRun, np.random.Generator]:
    """The twin net with the numpy net's initial weights, and the Generator that drives it."""
    generator = np.random.default_rng(recipe.seed)  # as Trainer(seed=recipe.seed)
    model = reference_twin_net(dataset, recipe.dropout)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in initial_state.items()})
    for name, module in model.named_children():
        if isinstance(module, tnn.Dropout):
            setattr(model, name, NumpyMaskDropout(module.p, generator))
    return TorchRun(model), generator


def train_reference_twin(run: TorchRun, generator: np.random.Generator, dataset: str,
                         recipe: Recipe, images, runtime: Runtime,
                         verbose: bool = True) -> TorchRun:
    """Trains ``run`` (from ``reference_twin``) as the Trainer trains the numpy net.

    ``images`` is ``(x, y, x_test, y_test)``, uint8 NCHW and int64 labels.
    """
    x, y, x_test, y_test = images
    train, val = reference_loaders(dataset, x, y, recipe)
    train.generator = val.generator = generator  # what Trainer.fit does with its Generator
    run.model.to(runtime.device)
    optimizer = reference_optimizer(run.model, recipe)
    stopper = EarlyStopping("val_acc", "max", patience=recipe.early_stopping_patience)
    fit(run, optimizer, reference_scheduler(optimizer, recipe), train, val, recipe.epochs,
        stopper, runtime, "[torch twin] ", verbose)
    test = official_test_loader(dataset, x_test, y_test, recipe.batch_size)
    run.test = evaluate(run.model, test, runtime)
    return run


def vgg_run(recipe: BaselineRecipe, runtime: Runtime) -> TorchRun:
    """The VGG baseline, initialised from torch's RNG seeded with ``recipe.seed``."""
    with torch.random.fork_rng(devices=[]):  # leaves the caller's torch RNG untouched
        torch.manual_seed(recipe.seed)
        model = torch_vgg(recipe.in_channels, 10, recipe.widths)
    memory_format = torch.channels_last if runtime.channels_last else torch.preserve_format
    return TorchRun(model.to(runtime.device, memory_format=memory_format))


def vgg_batches(recipe: BaselineRecipe, images, runtime: Runtime, tensor_pipeline: bool):
    """(train, validation, test) batches: minigrad loaders on CPU, device tensors on CUDA."""
    x, y, x_test, y_test = images
    if not tensor_pipeline:
        train, val = baseline_loaders(x, y, recipe)
        return train, val, official_test_loader(recipe.dataset, x_test, y_test, 512)
    train_idx, val_idx = split(len(x), recipe.seed)

    def on_device(xs, ys, **kwargs):
        return TensorBatches(torch.from_numpy(xs).to(runtime.device),
                             torch.from_numpy(ys).to(runtime.device),
                             channels_last=runtime.channels_last, **kwargs)

    return (on_device(x[train_idx], y[train_idx], batch_size=recipe.batch_size, recipe=recipe,
                      shuffle=True, seed=recipe.seed),
            on_device(x[val_idx], y[val_idx], batch_size=512),
            on_device(x_test, y_test, batch_size=512))


def train_vgg(run: TorchRun, recipe: BaselineRecipe, images, runtime: Runtime,
              verbose: bool = True, tensor_pipeline: bool | None = None) -> TorchRun:
    """The reference's torch recipe: AdamW + cosine for ``recipe.epochs``, best weights kept.

    ``tensor_pipeline`` (default: on CUDA) makes and augments batches on the device.
    """
    if tensor_pipeline is None:
        tensor_pipeline = runtime.device.type == "cuda"
    train, val, test = vgg_batches(recipe, images, runtime, tensor_pipeline)
    optimizer = torch.optim.AdamW(run.model.parameters(), lr=recipe.lr,
                                  weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    # Tracks the best epoch only: with patience = epochs it never ends a cosine run early.
    stopper = EarlyStopping("val_acc", "max", patience=recipe.epochs)
    fit(run, optimizer, scheduler, train, val, recipe.epochs, stopper, runtime, "[torch VGG] ",
        verbose)
    run.test = evaluate(run.model, test, runtime)
    return run
