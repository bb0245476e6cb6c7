"""The reference recipe of the course project, defined once: per data set, in minigrad and torch.

Network: Conv2d(1, 2, 5) -> GELU -> Flatten -> Linear(1152, 256) -> GELU -> Dropout(0.3)
-> Linear(256, 10), softmax fused into the cross-entropy loss. Data: a seeded 4:1 split of
the training images, random rotation (+-10 degrees) and pad-2 random crop per sample,
normalised. Training: plain SGD, batch 512, the learning rate halved after a 5-epoch
plateau of validation accuracy, early stopping after 20 epochs without improvement, best
weights restored.

``examples/mnist.py`` builds the same recipe from minigrad alone, in plain sight, and a test
checks that the two set up the same run. CIFAR-10 has no reference network, so the
benchmark adapts it as little as possible: the first convolution takes 3 channels
(Conv2d(3, 2, 5) on 32x32 gives 2 x 28 x 28 = 1,568 features for the first Linear), the
crop is 32 pixels, and the images are normalised per channel. The torch twin's optimizer
and schedule are built here too, from the same ``Recipe``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from minigrad import nn, optim
from minigrad.checks import check_choice
from minigrad.data import DataLoader, random_split
from minigrad.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau
from minigrad.train import EarlyStopping, Trainer
from minigrad_bench.images import eval_transform, train_transform
from minigrad_bench.models import seed_net, torch_seed_net

CIFAR_FEATURES = 2 * 28 * 28
SCHEDULES = ("plateau", "cosine", "onecycle")


@dataclass(frozen=True)
class Recipe:
    """Every knob of a run; ``asdict(recipe)`` is what results files record."""

    optimizer: str = "sgd"          # "sgd" (the reference) or "adamw"
    lr: float = 0.2
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 512
    epochs: int = 300               # an upper bound: early stopping ends the run
    schedule: str = "plateau"       # "plateau" (the reference), "cosine" or "onecycle"
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    early_stopping_patience: int = 20
    augment: bool = True
    rotation_degrees: float = 10.0
    crop_padding: int = 2
    dropout: float = 0.3
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


# -- data ---------------------------------------------------------------------------------
def split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded 4:1 train/validation split every run of a seed shares (numpy and torch)."""
    train_idx, val_idx = random_split(n, fractions=(0.8, 0.2), seed=seed)
    return train_idx, val_idx


def reference_loaders(dataset: str, x: np.ndarray, y: np.ndarray,
                      recipe: Recipe) -> tuple[DataLoader, DataLoader]:
    """Train and validation loaders of the reference recipe over its seeded split of (x, y)."""
    train_idx, val_idx = split(len(x), recipe.seed)
    augment = (train_transform(dataset, rotation_degrees=recipe.rotation_degrees,
                               crop_padding=recipe.crop_padding)
               if recipe.augment else eval_transform(dataset))
    train = DataLoader(x[train_idx], y[train_idx], recipe.batch_size, shuffle=True,
                       transform=augment, seed=recipe.seed)
    val = DataLoader(x[val_idx], y[val_idx], recipe.batch_size, shuffle=False,
                     transform=eval_transform(dataset))
    return train, val


def official_test_loader(dataset: str, x: np.ndarray, y: np.ndarray,
                         batch_size: int) -> DataLoader:
    """The official test images, in order, normalised as validation batches are."""
    return DataLoader(x, y, batch_size, shuffle=False, transform=eval_transform(dataset))


# -- the network, in minigrad and in torch --------------------------------------------------
def reference_model(dataset: str, recipe: Recipe) -> nn.Sequential:
    """The numpy reference network, initialised from ``recipe.seed``."""
    generator = np.random.default_rng(recipe.seed)
    if dataset == "mnist":
        return seed_net(recipe.dropout, generator=generator)
    return nn.Sequential(
        nn.Conv2d(3, 2, 5, generator=generator), nn.GELU(), nn.Flatten(),
        nn.Linear(CIFAR_FEATURES, 256, generator=generator), nn.GELU(),
        nn.Dropout(recipe.dropout), nn.Linear(256, 10, generator=generator),
    )


def torch_reference_model(dataset: str, dropout: float):
    """The torch twin of ``reference_model`` (same layers, same state_dict keys)."""
    if dataset == "mnist":
        return torch_seed_net(dropout)
    from torch import nn as tnn

    return tnn.Sequential(
        tnn.Conv2d(3, 2, 5), tnn.GELU(), tnn.Flatten(), tnn.Linear(CIFAR_FEATURES, 256),
        tnn.GELU(), tnn.Dropout(dropout), tnn.Linear(256, 10),
    )


# -- optimisation, in minigrad and in torch ---------------------------------------------------
def build_optimizer(model: nn.Module, recipe: Recipe):
    check_choice(recipe.optimizer, "Recipe: optimizer", ("sgd", "adamw"))
    if recipe.optimizer == "sgd":
        return optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                         weight_decay=recipe.weight_decay)
    # Biases get no weight decay (nanoGPT's convention): decay is for the weight matrices.
    decay = [p for name, p in model.named_parameters() if name.endswith("weight")]
    rest = [p for name, p in model.named_parameters() if not name.endswith("weight")]
    return optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                        {"params": rest, "weight_decay": 0.0}], lr=recipe.lr)


def build_scheduler(optimizer, recipe: Recipe, steps_per_epoch: int | None = None):
    """The recipe's schedule; ``steps_per_epoch`` (the training loader's length) sizes the
    one-cycle one: OneCycleLR over the run, peak ``recipe.lr``, torch's defaults otherwise."""
    check_choice(recipe.schedule, "Recipe: schedule", SCHEDULES)
    if recipe.schedule == "plateau":
        return ReduceLROnPlateau(optimizer, mode="max", factor=recipe.plateau_factor,
                                 patience=recipe.plateau_patience)
    if recipe.schedule == "cosine":
        return CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    return OneCycleLR(optimizer, max_lr=recipe.lr, epochs=recipe.epochs,
                      steps_per_epoch=_steps_per_epoch(steps_per_epoch))


def scheduler_interval(recipe: Recipe) -> str:
    """How often the recipe's schedule is stepped: the one-cycle one after every batch."""
    return "batch" if recipe.schedule == "onecycle" else "epoch"


def _steps_per_epoch(steps_per_epoch: int | None) -> int:
    if steps_per_epoch is None:
        raise ValueError("the one-cycle schedule needs steps_per_epoch (the loader's length)")
    return steps_per_epoch


def early_stopping(recipe: Recipe) -> EarlyStopping:
    return EarlyStopping(monitor="val_acc", mode="max", patience=recipe.early_stopping_patience,
                         restore_best_weights=True)


def build_trainer(recipe: Recipe, callbacks=(), model: nn.Module | None = None,
                  steps_per_epoch: int | None = None) -> Trainer:
    """The reference network (MNIST's, seeded from ``recipe.seed``, unless ``model`` is given)
    with its optimizer, schedule and early stopping; ``callbacks`` run after the latter.
    ``steps_per_epoch``: the training loader's length, for the one-cycle schedule."""
    if model is None:
        model = reference_model("mnist", recipe)
    optimizer = build_optimizer(model, recipe)
    scheduler = build_scheduler(optimizer, recipe, steps_per_epoch)
    return Trainer(model, nn.CrossEntropyLoss(), optimizer, scheduler,
                   callbacks=[early_stopping(recipe), *callbacks], seed=recipe.seed,
                   scheduler_monitor="val_acc", scheduler_interval=scheduler_interval(recipe))


def torch_optimizer(model, recipe: Recipe):
    """torch's version of ``build_optimizer`` (the same groups and hyperparameters)."""
    import torch

    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)
    decay = [p for name, p in model.named_parameters() if name.endswith("weight")]
    rest = [p for name, p in model.named_parameters() if not name.endswith("weight")]
    return torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=recipe.lr)


def torch_scheduler(optimizer, recipe: Recipe, steps_per_epoch: int | None = None):
    """torch's version of ``build_scheduler``."""
    import torch

    check_choice(recipe.schedule, "schedule", SCHEDULES)
    if recipe.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=recipe.plateau_factor, patience=recipe.plateau_patience)
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, epochs=recipe.epochs,
                                               steps_per_epoch=_steps_per_epoch(steps_per_epoch))
