"""The reference MNIST recipe of the course project, built from minigrad's public API.

Network: Conv2d(1, 2, 5) -> GELU -> Flatten -> Linear(1152, 256) -> GELU -> Dropout(0.3)
-> Linear(256, 10), softmax fused into the cross-entropy loss. Data: a seeded 4:1 split of
the 60,000 training images, random rotation and random crop per sample. Training: plain
SGD, batch 512, the learning rate halved after a 5-epoch plateau of validation accuracy,
early stopping after 20 epochs without improvement, best weights restored.

``examples/mnist.py`` runs it for users; the benchmarks run it next to its torch twin.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from minigrad import nn, optim
from minigrad.data import DataLoader, random_split, transforms
from minigrad.optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau
from minigrad.train import EarlyStopping, Trainer
from minigrad_bench.models import seed_net

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass(frozen=True)
class Recipe:
    """Every knob of a run; ``asdict(recipe)`` is what results files record."""

    optimizer: str = "sgd"          # "sgd" (the reference) or "adamw"
    lr: float = 0.2
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 512
    epochs: int = 300               # an upper bound: early stopping ends the run
    schedule: str = "plateau"       # "plateau" (the reference) or "cosine"
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


def normalisation() -> list:
    return [transforms.ToFloat(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))]


def eval_transform():
    """uint8 -> normalised float32: what validation and test batches get."""
    return transforms.Compose(normalisation())


def train_transform(recipe: Recipe):
    """uint8 batch -> rotated (bilinear, fill 0) -> padded and cropped -> normalised float32."""
    if not recipe.augment:
        return eval_transform()
    return transforms.Compose([
        transforms.RandomRotation(recipe.rotation_degrees),
        transforms.RandomCrop(28, padding=recipe.crop_padding),
        *normalisation(),
    ])


def split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded 4:1 train/validation split every run of a seed shares (numpy and torch)."""
    train_idx, val_idx = random_split(n, fractions=(0.8, 0.2), seed=seed)
    return train_idx, val_idx


def loaders(x: np.ndarray, y: np.ndarray, recipe: Recipe) -> tuple[DataLoader, DataLoader]:
    """Train and validation loaders over the recipe's split of (x, y)."""
    train_idx, val_idx = split(len(x), recipe.seed)
    train = DataLoader(x[train_idx], y[train_idx], recipe.batch_size, shuffle=True,
                       transform=train_transform(recipe), seed=recipe.seed)
    val = DataLoader(x[val_idx], y[val_idx], recipe.batch_size, shuffle=False,
                     transform=eval_transform())
    return train, val


def build_optimizer(model: nn.Module, recipe: Recipe):
    if recipe.optimizer == "sgd":
        return optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                         weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        # Biases get no weight decay (nanoGPT's convention): decay is for the weight matrices.
        decay = [p for name, p in model.named_parameters() if name.endswith("weight")]
        rest = [p for name, p in model.named_parameters() if not name.endswith("weight")]
        return optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                            {"params": rest, "weight_decay": 0.0}], lr=recipe.lr)
    raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {recipe.optimizer!r}")


def build_trainer(recipe: Recipe, callbacks=(), model: nn.Module | None = None) -> Trainer:
    """The reference network (seeded from ``recipe.seed``) with its optimizer and schedule."""
    if model is None:
        model = seed_net(recipe.dropout, generator=np.random.default_rng(recipe.seed))
    optimizer = build_optimizer(model, recipe)
    if recipe.schedule == "plateau":
        scheduler = ReduceLROnPlateau(optimizer, mode="max", factor=recipe.plateau_factor,
                                      patience=recipe.plateau_patience)
    elif recipe.schedule == "cosine":
        scheduler = CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    else:
        raise ValueError(f"schedule must be 'plateau' or 'cosine', got {recipe.schedule!r}")
    stopper = EarlyStopping(monitor="val_acc", mode="max",
                            patience=recipe.early_stopping_patience, restore_best_weights=True)
    return Trainer(model, nn.CrossEntropyLoss(), optimizer, scheduler,
                   callbacks=[stopper, *callbacks], seed=recipe.seed,
                   scheduler_monitor="val_acc")
