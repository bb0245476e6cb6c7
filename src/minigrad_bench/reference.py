"""The reference numpy network and recipe for each data set, and the torch twin's network.

MNIST is ``recipes.py`` exactly. CIFAR-10 has no reference network, so the benchmark adapts
it as little as possible: the first convolution takes 3 channels (Conv2d(3, 2, 5) on 32x32
gives 2 x 28 x 28 = 1,568 features for the first Linear), the crop is 32 pixels, and the
images are normalised per channel. Optimizer, schedule, early stopping, rotation and crop
padding are the reference recipe's.
"""

from __future__ import annotations

import numpy as np

from minigrad import nn
from minigrad.data import DataLoader, transforms
from minigrad_bench import recipes
from minigrad_bench.models import seed_net, torch_seed_net

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # per-channel statistics of the 50,000 training images
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CIFAR_FEATURES = 2 * 28 * 28


def image_stats(dataset: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel, in [0, 1] pixel units."""
    if dataset == "mnist":
        return (recipes.MNIST_MEAN,), (recipes.MNIST_STD,)
    return CIFAR_MEAN, CIFAR_STD


def eval_transform(dataset: str) -> transforms.Compose:
    """uint8 -> float32 in [0, 1] -> normalised: what validation and test batches get."""
    return transforms.Compose([transforms.ToFloat(), transforms.Normalize(*image_stats(dataset))])


def reference_model(dataset: str, recipe: recipes.Recipe) -> nn.Sequential:
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


def reference_loaders(dataset: str, x: np.ndarray, y: np.ndarray,
                      recipe: recipes.Recipe) -> tuple[DataLoader, DataLoader]:
    """Train and validation loaders of the reference recipe over its seeded split of (x, y)."""
    if dataset == "mnist":
        return recipes.loaders(x, y, recipe)
    train_idx, val_idx = recipes.split(len(x), recipe.seed)
    steps = [transforms.RandomRotation(recipe.rotation_degrees),
             transforms.RandomCrop(32, padding=recipe.crop_padding)] if recipe.augment else []
    augment = transforms.Compose([*steps, *eval_transform(dataset).transforms])
    train = DataLoader(x[train_idx], y[train_idx], recipe.batch_size, shuffle=True,
                       transform=augment, seed=recipe.seed)
    val = DataLoader(x[val_idx], y[val_idx], recipe.batch_size, shuffle=False,
                     transform=eval_transform(dataset))
    return train, val


def official_test_loader(dataset: str, x: np.ndarray, y: np.ndarray,
                         batch_size: int) -> DataLoader:
    """The official test images, in order, normalised as validation batches are."""
    return DataLoader(x, y, batch_size, shuffle=False, transform=eval_transform(dataset))
