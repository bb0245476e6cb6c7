"""Batches made and augmented on the accelerator: the VGG baseline's CUDA data path.

On a GPU, feeding batches from numpy would leave it waiting on the CPU. Here the whole
uint8 data set lives on the device, and every augmentation works on a whole batch at once
with per-sample random parameters drawn from a ``torch.Generator`` on that device: crops by
index arithmetic on the padded batch, flips by ``torch.where``, rotations by
``affine_grid`` + ``grid_sample``, cutout by a broadcast mask. The pixel functions mirror
``minigrad.data.functional`` (crop, hflip, rotate, erase) and are tested against it on CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from minigrad_bench.accuracy.baselines import BaselineRecipe
from minigrad_bench.images import image_stats


def crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, padding: int) -> torch.Tensor:
    """Zero-pads (N, C, H, W) by ``padding`` and crops each image at its own (top, left)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (N, 1, H, 1)
    cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (N, 1, 1, W)
    samples = torch.arange(n, device=x.device)[:, None, None, None]
    channels = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[samples, channels, rows, cols]


def hflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirrors left-right the images whose ``flip`` (N,) bool is set."""
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotates image n counter-clockwise by ``degrees[n]`` about its centre (bilinear, fill 0)."""
    radians = degrees.to(torch.float32) * (math.pi / 180)
    cos, sin = torch.cos(radians), torch.sin(radians)
    zero = torch.zeros_like(cos)
    # affine_grid maps output to input coordinates: the inverse rotation, y pointing down.
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def cutout(x: torch.Tensor, centre_y: torch.Tensor, centre_x: torch.Tensor,
           length: int) -> torch.Tensor:
    """Zeroes rows ``cy - length//2 .. cy + length//2`` (exclusive) x the same in columns,
    clipped to the image, in every image (minigrad's ``Cutout`` with one hole)."""
    _, _, h, w = x.shape
    half = length // 2
    rows = torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :]
    in_rows = (rows >= (centre_y - half)[:, None]) & (rows < (centre_y + half)[:, None])
    in_cols = (cols >= (centre_x - half)[:, None]) & (cols < (centre_x + half)[:, None])
    hole = in_rows[:, :, None] & in_cols[:, None, :]  # (N, H, W)
    return x.masked_fill(hole[:, None], 0.0)


class TensorBatches:
    """Mini-batches ``(xb, yb)`` from uint8 images already on the device.

    ``xb`` is float32 normalised NCHW (channels_last if asked), augmented by ``recipe`` when
    one is given; ``yb`` int64. The order is a fresh permutation each epoch when ``shuffle``.
    All randomness comes from ``self.generator`` (a ``torch.Generator`` on the device,
    seeded with ``seed``), so a seed fixes the batches on a given device.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                 recipe: BaselineRecipe | None = None, shuffle: bool = False, seed: int = 0,
                 channels_last: bool = False):
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise ValueError(
                f"x must be a uint8 (N, C, H, W) tensor, got {x.dtype} {tuple(x.shape)}")
        self.x, self.y = x, y.to(torch.int64)
        self.batch_size, self.recipe, self.shuffle = batch_size, recipe, shuffle
        self.channels_last = channels_last
        self.generator = torch.Generator(device=x.device).manual_seed(seed)
        dataset = "mnist" if x.shape[1] == 1 else "cifar10"
        mean, std = image_stats(dataset)
        self.mean = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=x.device).view(1, -1, 1, 1)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self):
        n, device = len(self.x), self.x.device
        order = (torch.randperm(n, generator=self.generator, device=device) if self.shuffle
                 else torch.arange(n, device=device))
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            xb = self.x[index].to(torch.float32).div_(255)
            if self.recipe is not None:
                xb = self._augment(xb)
            else:
                xb = (xb - self.mean) / self.std
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, self.y[index]

    def _uniform_ints(self, high: int, n: int) -> torch.Tensor:
        return torch.randint(0, high, (n,), generator=self.generator, device=self.x.device)

    def _augment(self, xb: torch.Tensor) -> torch.Tensor:
        """The recipe's augmentation, in the order of ``images.train_transform``."""
        recipe, (n, _, h, w) = self.recipe, xb.shape
        if recipe.rotation_degrees:
            u = torch.rand(n, generator=self.generator, device=xb.device)
            xb = rotate(xb, (2 * u - 1) * recipe.rotation_degrees)
        room = 2 * recipe.crop_padding + 1
        xb = crop(xb, self._uniform_ints(room, n), self._uniform_ints(room, n), recipe.crop_padding)
        if recipe.flip:
            xb = hflip(xb, torch.rand(n, generator=self.generator, device=xb.device) < 0.5)
        xb = (xb - self.mean) / self.std
        if recipe.cutout_length:
            centre_y, centre_x = self._uniform_ints(h, n), self._uniform_ints(w, n)
            xb = cutout(xb, centre_y, centre_x, recipe.cutout_length)
        return xb
