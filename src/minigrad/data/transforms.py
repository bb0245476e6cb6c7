"""Batched data augmentation with per-sample random parameters.

A transform is a callable ``t(batch, generator) -> batch``: it takes a whole
(N, C, H, W) batch (uint8, float32 or float64) and a ``numpy.random.Generator``,
never modifies the batch it is given, and returns a new batch. Random
transforms draw an independent parameter set FOR EACH SAMPLE from that
generator (torchvision's v2 transforms share one draw across a batch tensor),
vectorised, with numba kernels doing the pixel work; the same generator state
gives the same output. Deterministic transforms accept ``generator=None``.

Geometric transforms keep the dtype: on uint8 they work on the raw bytes (fast,
4x less memory) and round like torchvision does on uint8 tensors; their ``fill``
is in the batch's units (0..255 for uint8, usually 0..1 for float).

Example (MNIST, 28x28 uint8 in, float32 normalised out)::

    augment = Compose([RandomRotation(15), RandomCrop(28, padding=2), ToFloat(),
                       Normalize(0.1307, 0.3081)])
    xb = augment(x_uint8[:128], np.random.default_rng(0))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from minigrad.checks import check_int, check_number
from minigrad.data import functional as F

Transform = Callable[[np.ndarray, "np.random.Generator | None"], np.ndarray]


def _require_generator(generator, owner: str) -> np.random.Generator:
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"{owner} draws random parameters: pass a numpy Generator, got {generator!r}"
        )
    return generator


def _pair(value, name: str) -> tuple[float, float]:
    """(lo, hi) with lo <= hi from a 2-sequence of finite numbers."""
    try:
        lo, hi = (check_number(v, name, finite=True) for v in value)
    except (TypeError, ValueError):
        lo = hi = math.nan
    if not lo <= hi:
        raise ValueError(
            f"{name} must be a (min, max) pair of finite numbers with min <= max, got {value!r}"
        )
    return lo, hi


def _values(value, name: str):
    """A number or a sequence of finite numbers (per channel), checked; returned as given."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim > 1 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a finite number or a sequence of them, got {value!r}")
    return value


class Compose:
    """Applies transforms in order, passing the same generator to each."""

    def __init__(self, transforms: Sequence[Transform]):
        if isinstance(transforms, str) or not isinstance(transforms, Sequence):
            raise TypeError(
                "Compose: transforms must be a list of callables t(batch, generator), "
                f"got {type(transforms).__name__} {transforms!r}"
            )
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose takes callables t(batch, generator), got {t!r}")

    def __call__(self, batch: np.ndarray, generator: np.random.Generator | None = None):
        for t in self.transforms:
            batch = t(batch, generator)
            if not isinstance(batch, np.ndarray):
                raise TypeError(
                    f"Compose: {t!r} returned a {type(batch).__name__}, expected a numpy array"
                )
        return batch

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class ToFloat:
    """uint8 -> float in [0, 1] (``x / 255``); float batches pass through unchanged."""

    def __init__(self, dtype=np.float32):
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"ToFloat: dtype must be float32 or float64, got {dtype!r}") from None
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"ToFloat: dtype must be float32 or float64, got {self.dtype}")

    def __call__(self, batch: np.ndarray, generator=None) -> np.ndarray:
        return F.to_float(batch, self.dtype)

    def __repr__(self) -> str:
        return f"ToFloat({self.dtype})"


class Normalize:
    """``(x - mean[c]) / std[c]`` on a float batch; mean/std are numbers or per channel."""

    def __init__(self, mean, std):
        self.mean, self.std = _values(mean, "Normalize: mean"), _values(std, "Normalize: std")
        if np.any(np.asarray(std, dtype=np.float64) == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {std!r}")

    def __call__(self, batch: np.ndarray, generator=None) -> np.ndarray:
        return F.normalize(batch, self.mean, self.std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean!r}, std={self.std!r})"


class RandomRotation:
    """Rotates each image by its own angle, uniform in [-degrees, degrees] (or [lo, hi]).

    Bilinear, about the image centre, counter-clockwise for positive angles,
    ``fill`` outside the image: see ``functional.rotate`` for how it matches
    torchvision.
    """

    def __init__(self, degrees, fill=0):
        if isinstance(degrees, int | float | np.number) and not isinstance(degrees, bool):
            degrees = check_number(degrees, "RandomRotation: degrees", minimum=0, finite=True)
            degrees = (-degrees, degrees)
        self.degrees = _pair(degrees, "RandomRotation: degrees")
        self.fill = fill

    def get_params(self, n: int, generator: np.random.Generator) -> np.ndarray:
        """(n,) float64 angles in degrees."""
        return generator.uniform(*self.degrees, size=n)

    def __call__(self, batch: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        angles = self.get_params(len(batch), _require_generator(generator, "RandomRotation"))
        return F.rotate(batch, angles, self.fill)

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees}, fill={self.fill!r})"


class RandomCrop:
    """torchvision's RandomCrop per sample: pad by ``padding`` with ``fill``, crop ``size``.

    ``size`` is an int or (h, w); ``padding`` an int, (left/right, top/bottom) or
    (left, top, right, bottom). Each image gets its own offset, uniform over all
    positions where the window fits inside the padded image.
    """

    def __init__(self, size, padding: F.Padding = 0, fill=0):
        self.size = F.crop_size(size)
        self.padding = F.padding_ltrb(padding)
        self.fill = fill

    def get_params(self, shape: tuple[int, ...], generator: np.random.Generator):
        """(top, left), each (N,) int64, in padded coordinates, for a batch of ``shape``."""
        n, _, height, width = shape
        left_pad, top_pad, right_pad, bottom_pad = self.padding
        room_h = height + top_pad + bottom_pad - self.size[0]
        room_w = width + left_pad + right_pad - self.size[1]
        if room_h < 0 or room_w < 0:
            raise ValueError(
                f"RandomCrop size {self.size} is larger than the padded image "
                f"({height + top_pad + bottom_pad}, {width + left_pad + right_pad})"
            )
        return generator.integers(0, room_h + 1, size=n), generator.integers(0, room_w + 1, size=n)

    def __call__(self, batch: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        F.check_batch(batch)
        top, left = self.get_params(batch.shape, _require_generator(generator, "RandomCrop"))
        return F.crop(batch, top, left, self.size, self.padding, self.fill)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding}, fill={self.fill!r})"


class RandomHorizontalFlip:
    """Mirrors each image left-right with probability ``p``, independently."""

    def __init__(self, p: float = 0.5):
        self.p = check_number(p, "RandomHorizontalFlip: p", minimum=0, maximum=1)

    def __call__(self, batch: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        flip = _require_generator(generator, "RandomHorizontalFlip").random(len(batch)) < self.p
        return F.hflip(batch, flip)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomErasing:
    """torchvision's RandomErasing (same defaults and box sampling), per sample.

    With probability ``p`` an image gets one box: up to 10 tries draw an area
    fraction uniform in ``scale`` and a log-uniform aspect ratio in ``ratio``,
    ``h = round(sqrt(area * ratio))``, ``w = round(sqrt(area / ratio))``; the
    first try with ``h < H`` and ``w < W`` is placed uniformly, and an image
    whose 10 tries all fail is left alone. ``value`` is a number, one number
    per channel, or ``"random"`` (standard normal noise, float batches only).
    """

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0):
        self.p = check_number(p, "RandomErasing: p", minimum=0, maximum=1)
        self.scale = _pair(scale, "RandomErasing: scale")
        self.ratio = _pair(ratio, "RandomErasing: ratio")
        if self.scale[0] < 0 or self.scale[1] > 1 or self.ratio[0] <= 0:
            raise ValueError(
                f"RandomErasing needs 0 <= scale <= 1, ratio > 0, got {scale}, {ratio}"
            )
        if isinstance(value, str) and value != "random":
            raise ValueError(
                f'RandomErasing: value must be a number, a sequence or "random", got {value!r}'
            )
        self.value = value if isinstance(value, str) else _values(value, "RandomErasing: value")

    def get_params(self, shape: tuple[int, ...], generator: np.random.Generator):
        """Boxes (sample, top, left, height, width), each (B,) int64, for a batch of ``shape``."""
        n, _, img_h, img_w = shape
        erase = generator.random(n) < self.p
        area = img_h * img_w * generator.uniform(*self.scale, size=(n, 10))
        aspect = np.exp(generator.uniform(*np.log(self.ratio), size=(n, 10)))
        heights = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        widths = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (heights < img_h) & (widths < img_w)
        first = np.argmax(fits, axis=1)  # the first try that fits, as torchvision's loop
        sample = np.flatnonzero(erase & fits.any(axis=1))
        height, width = heights[sample, first[sample]], widths[sample, first[sample]]
        top = generator.integers(0, img_h - height + 1)
        left = generator.integers(0, img_w - width + 1)
        return sample, top, left, height, width

    def __call__(self, batch: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        F.check_batch(batch)
        boxes = self.get_params(batch.shape, _require_generator(generator, "RandomErasing"))
        if not isinstance(self.value, str):
            return F.erase(batch, *boxes[1:], value=self.value, sample=boxes[0])
        if batch.dtype == np.uint8:
            raise TypeError('RandomErasing(value="random") needs a float batch, got uint8')
        count = batch.shape[1] * int(np.sum(boxes[3] * boxes[4]))
        noise = generator.standard_normal(count, dtype=batch.dtype)
        return F.erase_with_noise(batch, *boxes[1:], noise=noise, sample=boxes[0])

    def __repr__(self) -> str:
        return (
            f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio}, "
            f"value={self.value!r})"
        )


class Cutout:
    """Cutout (DeVries & Taylor 2017): zero ``n_holes`` squares in every image.

    Each hole's centre is uniform over the pixels; the hole spans
    ``centre - length // 2`` to ``centre + length // 2`` (exclusive) in each
    axis, clipped to the image, so holes at the rim are smaller, as in the
    reference implementation.
    """

    def __init__(self, n_holes: int = 1, length: int = 16):
        self.n_holes = check_int(n_holes, "Cutout: n_holes", minimum=0)
        self.length = check_int(length, "Cutout: length", minimum=0)

    def get_params(self, shape: tuple[int, ...], generator: np.random.Generator):
        """Boxes (sample, top, left, height, width), each (N * n_holes,) int64."""
        n, _, img_h, img_w = shape
        centre_y = generator.integers(0, img_h, size=(n, self.n_holes)).ravel()
        centre_x = generator.integers(0, img_w, size=(n, self.n_holes)).ravel()
        half = self.length // 2
        y0, y1 = np.clip(centre_y - half, 0, img_h), np.clip(centre_y + half, 0, img_h)
        x0, x1 = np.clip(centre_x - half, 0, img_w), np.clip(centre_x + half, 0, img_w)
        sample = np.repeat(np.arange(n), self.n_holes)
        return sample, y0, x0, y1 - y0, x1 - x0

    def __call__(self, batch: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        F.check_batch(batch)
        sample, top, left, height, width = self.get_params(
            batch.shape, _require_generator(generator, "Cutout")
        )
        return F.erase(batch, top, left, height, width, value=0, sample=sample)

    def __repr__(self) -> str:
        return f"Cutout(n_holes={self.n_holes}, length={self.length})"
