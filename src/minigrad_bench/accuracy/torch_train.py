"""The torch side of the comparison: the reference net's twin and the VGG baselines.

The twin is trained as minigrad's Trainer trains the reference net, step for step, and is fed
the identical batches: the same minigrad DataLoaders, built with the same seed, driven by a
``numpy.random.Generator`` seeded as the Trainer's is. The Trainer shares that one Generator
between the loaders (shuffling, augmentation) and Dropout, so the twin must consume it the
same way to see the same batches; its Dropout therefore draws its masks from that Generator
exactly as minigrad's does (``NumpyMaskDropout``). It starts from the numpy net's initial
weights. The two runs then differ only in floating-point arithmetic.

Both torch models are trained by ``TorchTrainer``, which supplies only the torch batch step
to minigrad's own epoch loop (``minigrad.train.loop.EpochLoop``, the Trainer's): the same
History, scheduler stepping, ``EarlyStopping`` and stop reasons, so the comparison can never
compare two different loops. The best epoch's weights are restored and the test set is
evaluated once with them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn as tnn

from minigrad.train import EarlyStopping
from minigrad.train.loop import EpochLoop
from minigrad_bench.accuracy.baselines import BaselineRecipe, baseline_loaders
from minigrad_bench.accuracy.tensor_batches import TensorBatches
from minigrad_bench.models import torch_vgg
from minigrad_bench.reference import (
    Recipe,
    official_test_loader,
    reference_loaders,
    scheduler_interval,
    split,
    torch_optimizer,
    torch_reference_model,
    torch_scheduler,
)


@dataclass(frozen=True)
class Runtime:
    """Where and how a torch model computes.

    ``for_model`` turns bf16 autocast, channels_last and lazy losses on for CUDA only; tests
    set them by hand on the CPU (torch supports all three there) to run the CUDA path's code.
    ``lazy_loss``: each batch's loss stays on the device and the epoch's mean is read once
    (reading it every batch would make a GPU wait); otherwise it is read at once, the
    Trainer's NaN rule.
    """

    device: torch.device
    autocast: bool = False
    channels_last: bool = False
    lazy_loss: bool = False

    @classmethod
    def for_model(cls, device: str, fast: bool) -> Runtime:
        """``fast`` turns on bf16 autocast and channels_last when ``device`` is CUDA."""
        on_cuda = torch.device(device).type == "cuda"
        if on_cuda:
            torch.backends.cudnn.benchmark = True
        return cls(torch.device(device), fast and on_cuda, fast and on_cuda, lazy_loss=on_cuda)

    @property
    def sync_each_batch(self) -> bool:
        return not self.lazy_loss

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


class TorchTrainer(EpochLoop):
    """A torch model trained with cross-entropy by minigrad's own epoch loop.

    Only the batch step is torch's (``runtime.batch``, the forward under the runtime's
    autocast, ``F.cross_entropy`` on float32 logits, ``loss.backward()``,
    ``optimizer.step()``); the epochs, the History, the scheduler step, callbacks such as
    ``EarlyStopping`` and the stop reasons are ``minigrad.train.loop.EpochLoop``'s, exactly
    as for ``Trainer``. On the CPU each batch's loss is read at once (the Trainer's NaN
    rule); on a GPU the sums stay on the device and are read once per epoch.

    Args:
        model: a ``torch.nn.Module`` on ``runtime.device``.
        optimizer, scheduler, callbacks, seed, scheduler_monitor, scheduler_interval: as
            for ``Trainer`` (torch's optimizer and scheduler; a torch ``ReduceLROnPlateau``
            is stepped with the monitored metric, per epoch).
        runtime: where and how the model computes.
        label: printed before every line the run prints, e.g. ``"[torch twin] "``.
    """

    def __init__(self, model: tnn.Module, optimizer, scheduler=None, callbacks=(),
                 seed: int | None = 0, scheduler_monitor: str | None = None,
                 scheduler_interval: str = "epoch", *, runtime: Runtime,
                 label: str = "") -> None:
        super().__init__(model, optimizer, scheduler, callbacks, seed, scheduler_monitor,
                         scheduler_interval)
        self.runtime, self.label = runtime, label
        self._loss: torch.Tensor | None = None

    def _forward(self, xb, yb):
        xb, yb = self.runtime.batch(xb, yb)
        with self.runtime.autocast_context():
            logits = self.model(xb)
        self._loss = F.cross_entropy(logits.float(), yb)
        hits = (logits.argmax(1) == yb).sum()
        if self.runtime.sync_each_batch:
            return self._loss.item(), int(hits), len(yb)
        return self._loss.detach().double(), hits, len(yb)

    def _update(self) -> None:
        self.optimizer.zero_grad()
        self._loss.backward()
        self.optimizer.step()

    def train_step(self, xb, yb) -> None:
        """One training step exactly as ``fit`` takes it (forward, loss, backward, optimizer
        step), the loss left unread where the runtime is lazy: what ``gpu-speed`` times.
        The model must be in train mode."""
        self._forward(xb, yb)
        self._update()

    @contextlib.contextmanager
    def _evaluating(self):
        with super()._evaluating(), torch.no_grad():
            yield

    def _share_generator(self, loaders: list) -> None:
        """The numpy Generator drives minigrad loaders and ``NumpyMaskDropout``, as the Trainer's
        drives minigrad's loaders and Dropout; ``TensorBatches`` keep their torch Generator."""
        for loader in loaders:
            if isinstance(getattr(loader, "generator", None), np.random.Generator):
                loader.generator = self.generator
        for module in self.model.modules():
            if isinstance(module, NumpyMaskDropout):
                module.generator = self.generator

    def weights(self) -> dict:
        """Clones of the model's tensors (torch's ``state_dict`` holds references)."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def load_weights(self, weights) -> None:
        self.model.load_state_dict(weights)

    def _print(self, line: str) -> None:
        print(f"{self.label}{line}", flush=True)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The model's current weights as numpy arrays, keyed as the minigrad twin's."""
        return {k: v.detach().float().cpu().numpy() if v.is_floating_point() else
                v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}


def reference_twin(dataset: str, recipe: Recipe, initial_state: dict,
                   runtime: Runtime, steps_per_epoch: int | None = None) -> TorchTrainer:
    """The twin net with the numpy net's initial weights, set up as ``reference.build_trainer``
    sets up the numpy net: torch SGD/AdamW, ReduceLROnPlateau/cosine/one-cycle (sized by
    ``steps_per_epoch``, stepped per batch), the same EarlyStopping, a Generator seeded as
    the Trainer's."""
    model = torch_reference_model(dataset, recipe.dropout)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in initial_state.items()})
    for name, module in model.named_children():
        if isinstance(module, tnn.Dropout):  # its Generator is handed over when fit starts
            setattr(model, name, NumpyMaskDropout(module.p, np.random.default_rng(recipe.seed)))
    model.to(runtime.device)
    optimizer = torch_optimizer(model, recipe)
    stopper = EarlyStopping("val_acc", "max", patience=recipe.early_stopping_patience)
    return TorchTrainer(model, optimizer, torch_scheduler(optimizer, recipe, steps_per_epoch),
                        [stopper], seed=recipe.seed, scheduler_monitor="val_acc",
                        scheduler_interval=scheduler_interval(recipe), runtime=runtime,
                        label="[torch twin] ")


def train_reference_twin(trainer: TorchTrainer, dataset: str, recipe: Recipe, images,
                         verbose: bool = True) -> dict[str, float]:
    """Trains the twin (from ``reference_twin``) on the reference recipe's loaders, as the
    Trainer trains the numpy net; returns its test metrics (best weights restored).

    ``images`` is ``(x, y, x_test, y_test)``, uint8 NCHW and int64 labels.
    """
    x, y, x_test, y_test = images
    train, val = reference_loaders(dataset, x, y, recipe)
    trainer.fit(train, val, epochs=recipe.epochs, verbose=verbose, progress=False)
    return trainer.evaluate(official_test_loader(dataset, x_test, y_test, recipe.batch_size))


def vgg_trainer(recipe: BaselineRecipe, runtime: Runtime) -> TorchTrainer:
    """The VGG baseline, initialised from torch's RNG seeded with ``recipe.seed``, with the
    reference's torch recipe: AdamW + CosineAnnealingLR(T_max=epochs), best weights kept."""
    with torch.random.fork_rng(devices=[]):  # leaves the caller's torch RNG untouched
        torch.manual_seed(recipe.seed)
        model = torch_vgg(recipe.in_channels, 10, recipe.widths)
    memory_format = torch.channels_last if runtime.channels_last else torch.preserve_format
    model = model.to(runtime.device, memory_format=memory_format)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr,
                                  weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    # Tracks the best epoch only: with patience = epochs it never ends a cosine run early.
    stopper = EarlyStopping("val_acc", "max", patience=recipe.epochs)
    return TorchTrainer(model, optimizer, scheduler, [stopper], seed=recipe.seed,
                        runtime=runtime, label="[torch VGG] ")


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


def train_vgg(trainer: TorchTrainer, recipe: BaselineRecipe, images, verbose: bool = True,
              tensor_pipeline: bool | None = None) -> dict[str, float]:
    """Trains the VGG (from ``vgg_trainer``) for ``recipe.epochs``; returns its test metrics.

    ``tensor_pipeline`` (default: on CUDA) makes and augments batches on the device.
    """
    if tensor_pipeline is None:
        tensor_pipeline = trainer.runtime.device.type == "cuda"
    train, val, test = vgg_batches(recipe, images, trainer.runtime, tensor_pipeline)
    trainer.fit(train, val, epochs=recipe.epochs, verbose=verbose, progress=False)
    return trainer.evaluate(test)
