"""How big a benchmark run is: the full recipes, a quick CPU profile, a seconds-long smoke test.

A profile fixes the data sizes, the epochs and the VGG widths; the recipes themselves (optimizer,
schedule, augmentation, batch size) are never changed by it. Every result records the profile
with ``Profile.to_dict()``, so a quick-profile number cannot pass for a full-recipe one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from minigrad.checks import check_choice
from minigrad_bench.models import VGG_WIDTHS

DATASETS = ("mnist", "cifar10")


@dataclass(frozen=True)
class Profile:
    """The size of a ``compare`` run.

    Attributes:
        name: "full", "quick" or "smoke".
        train_images: use the first N images of the official training set (before the
            seeded 4:1 train/validation split); None for all of them.
        test_images: the first N official test images; None for all of them.
        reference_epochs: upper bound on the reference recipe's epochs (its early stopping
            still applies); None keeps the recipe's own bound.
        vgg_epochs: epochs of the torch VGG baseline per data set (its cosine schedule
            spans exactly these epochs).
        vgg_widths: channel widths of the VGG's four stages; ``VGG_WIDTHS`` is the baseline.
        seeds: the seeds ``compare`` runs when ``--seeds`` is not given.
        needs_real_cifar: refuse to run CIFAR-10 without the official files (else a small
            set in the official format is built from the partial set, or synthetic data).
        summary: one sentence saying what the profile is.
    """

    name: str
    train_images: int | None
    test_images: int | None
    reference_epochs: int | None
    vgg_epochs: dict = field(default_factory=dict)
    vgg_widths: tuple[int, ...] = VGG_WIDTHS
    seeds: tuple[int, ...] = (0,)
    needs_real_cifar: bool = False
    summary: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES = {
    "full": Profile(
        name="full", train_images=None, test_images=None, reference_epochs=None,
        vgg_epochs={"mnist": 100, "cifar10": 200}, vgg_widths=VGG_WIDTHS, seeds=(0, 1, 2),
        needs_real_cifar=True,
        summary="the full recipes: all training images (4:1 split), the whole test set, the "
                "reference recipe until early stopping (at most 300 epochs), the full-width VGG "
                "(64, 128, 256, 512) for 100 epochs (MNIST) or 200 (CIFAR-10); seeds 0 1 2",
    ),
    "quick": Profile(
        name="quick", train_images=12_000, test_images=None, reference_epochs=15,
        vgg_epochs={"mnist": 3, "cifar10": 3}, vgg_widths=(16, 32, 64, 128), seeds=(0,),
        summary="a reduced run for a 2-core CPU: the first 12,000 training images (4:1 split: "
                "9,600 train / 2,400 validation; CIFAR-10 without its official files: the "
                "4,000-image partial set), the whole test set, the reference recipe for at "
                "most 15 epochs, a width-reduced VGG (16, 32, 64, 128) for 3 epochs with its "
                "cosine schedule over those 3; seed 0",
    ),
    "smoke": Profile(
        name="smoke", train_images=600, test_images=200, reference_epochs=2,
        vgg_epochs={"mnist": 1, "cifar10": 1}, vgg_widths=(4, 8, 8, 16), seeds=(0,),
        summary="a seconds-long check that everything runs (numbers mean nothing): the first "
                "600 training images (480 train / 120 validation), 200 test images, 2 epochs "
                "of the reference recipe, a tiny VGG (4, 8, 8, 16) for 1 epoch; seed 0",
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; a ValueError listing the choices otherwise."""
    return PROFILES[check_choice(name, "profile", tuple(PROFILES))]


def check_dataset(name: str) -> str:
    """``name`` if it is a data set the benchmarks know; a ValueError listing them otherwise."""
    return check_choice(name, "dataset", DATASETS)
