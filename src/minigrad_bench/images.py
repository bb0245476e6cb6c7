"""The images' statistics and the transform pipelines every benchmark recipe is built from.

One train pipeline for all recipes, in one order: ``[rotate] -> pad-and-crop -> [flip] ->
float, normalised -> [cutout]`` (the reference recipe rotates and crops; the VGG baselines
crop, flip and cut out, or rotate instead of flipping). ``tensor_batches`` applies the same
order on the GPU.
"""

from __future__ import annotations

from minigrad.data import transforms

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # per-channel statistics of the 50,000 training images
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def image_size(dataset: str) -> int:
    """Height and width of the data set's images."""
    return 28 if dataset == "mnist" else 32


def image_stats(dataset: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel, in [0, 1] pixel units."""
    if dataset == "mnist":
        return (MNIST_MEAN,), (MNIST_STD,)
    return CIFAR_MEAN, CIFAR_STD


def eval_transform(dataset: str) -> transforms.Compose:
    """uint8 -> float32 in [0, 1] -> normalised: what validation and test batches get."""
    return transforms.Compose([transforms.ToFloat(), transforms.Normalize(*image_stats(dataset))])


def train_transform(dataset: str, *, rotation_degrees: float = 0.0, crop_padding: int = 0,
                    flip: bool = False, cutout_length: int = 0) -> transforms.Compose:
    """uint8 batch -> [rotated, bilinear, fill 0] -> padded by ``crop_padding`` and cropped
    back at a random offset -> [flipped] -> normalised float32 -> [one Cutout hole].

    Every random step draws per-sample parameters; a step whose knob is 0 or False is left out.
    """
    steps = []
    if rotation_degrees:
        steps.append(transforms.RandomRotation(rotation_degrees))
    steps.append(transforms.RandomCrop(image_size(dataset), padding=crop_padding))
    if flip:
        steps.append(transforms.RandomHorizontalFlip())
    steps += eval_transform(dataset).transforms
    if cutout_length:
        steps.append(transforms.Cutout(1, cutout_length))
    return transforms.Compose(steps)
