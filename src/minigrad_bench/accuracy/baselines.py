"""The torch VGG baseline recipes, exactly as the reference trained them.

MNIST ("seed" recipe): RandomCrop(28, padding=4), RandomHorizontalFlip, Normalize((0.1307,),
(0.3081,)); AdamW(lr 1e-3, weight_decay 1e-3 on every parameter, as
``AdamW(model.parameters(), ...)`` does), CosineAnnealingLR(T_max=epochs), batch 128, 100
epochs. CIFAR-10: RandomCrop(32, padding=4), RandomHorizontalFlip, per-channel Normalize,
Cutout (1 hole of 16 px, applied after normalisation as in DeVries & Taylor's code, so the
hole is the mean colour), same optimizer and schedule, 200 epochs. The "improved" MNIST recipe
replaces the flip (digits are not mirror-symmetric) by rotations of up to 10 degrees.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from minigrad.checks import check_choice
from minigrad.data import DataLoader
from minigrad_bench.images import eval_transform, image_size, image_stats, train_transform
from minigrad_bench.models import VGG_WIDTHS
from minigrad_bench.reference import split

VARIANTS = ("seed", "improved")


@dataclass(frozen=True)
class BaselineRecipe:
    """Every knob of a torch VGG baseline run; ``to_dict()`` is what results record."""

    dataset: str
    variant: str = "seed"
    epochs: int = 100
    widths: tuple[int, ...] = VGG_WIDTHS
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-3
    crop_padding: int = 4
    flip: bool = True
    rotation_degrees: float = 0.0
    cutout_length: int = 0
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def image_size(self) -> int:
        return image_size(self.dataset)

    @property
    def in_channels(self) -> int:
        return 1 if self.dataset == "mnist" else 3


def baseline_recipe(dataset: str, variant: str = "seed", *, epochs: int,
                    widths: tuple[int, ...] = VGG_WIDTHS, seed: int = 0) -> BaselineRecipe:
    """The reference's recipe for ``dataset`` (``variant="improved"``: MNIST only).

    Raises:
        ValueError: unknown variant, or "improved" for CIFAR-10 (whose flip is a fair
            augmentation: natural images are mirror-symmetric).
    """
    check_choice(variant, "recipe", VARIANTS)
    if variant == "improved" and dataset != "mnist":
        raise ValueError("the improved recipe is defined for mnist only (it drops the "
                         "horizontal flip, which suits digits but not natural images)")
    knobs = dict(dataset=dataset, variant=variant, epochs=epochs, widths=tuple(widths), seed=seed)
    if dataset == "cifar10":
        return BaselineRecipe(**knobs, cutout_length=16)
    if variant == "improved":
        return BaselineRecipe(**knobs, flip=False, rotation_degrees=10.0)
    return BaselineRecipe(**knobs)


def baseline_loaders(x: np.ndarray, y: np.ndarray,
                     recipe: BaselineRecipe) -> tuple[DataLoader, DataLoader]:
    """CPU train and validation loaders over the seeded split every run of the seed shares."""
    train_idx, val_idx = split(len(x), recipe.seed)
    augment = train_transform(recipe.dataset, rotation_degrees=recipe.rotation_degrees,
                              crop_padding=recipe.crop_padding, flip=recipe.flip,
                              cutout_length=recipe.cutout_length)
    train = DataLoader(x[train_idx], y[train_idx], recipe.batch_size, shuffle=True,
                       transform=augment, seed=recipe.seed)
    val = DataLoader(x[val_idx], y[val_idx], 512, shuffle=False,
                     transform=eval_transform(recipe.dataset))
    return train, val


def describe(recipe: BaselineRecipe) -> str:
    """One line: the augmentation and optimisation of the recipe."""
    mean, std = image_stats(recipe.dataset)
    augment = [f"RandomCrop({recipe.image_size}, padding={recipe.crop_padding})"]
    if recipe.rotation_degrees:
        augment.insert(0, f"RandomRotation({recipe.rotation_degrees:g})")
    if recipe.flip:
        augment.append("RandomHorizontalFlip")
    augment.append(f"Normalize({mean}, {std})")
    if recipe.cutout_length:
        augment.append(f"Cutout(1, {recipe.cutout_length})")
    return (f"{', '.join(augment)}; AdamW(lr {recipe.lr:g}, weight_decay "
            f"{recipe.weight_decay:g}), CosineAnnealingLR(T_max={recipe.epochs}), "
            f"batch {recipe.batch_size}, {recipe.epochs} epoch{'' if recipe.epochs == 1 else 's'}")
