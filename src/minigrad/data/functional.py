"""Deterministic batched image ops: the functional half of ``minigrad.data.transforms``.

Each op takes an NCHW batch (uint8, float32 or float64) and per-sample
parameters (an array of length N, or one scalar for every sample), never
modifies its input, and returns a new C-contiguous batch of the input's dtype
(``to_float`` excepted). Given the same parameters, each agrees with the
torchvision functional op of the same name applied image by image: see each
docstring for the exact correspondence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from minigrad.kernels import augment

IMAGE_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))
Padding = int | Sequence[int]


def check_batch(batch: np.ndarray, name: str = "batch") -> np.ndarray:
    """Returns ``batch`` if it is an (N, C, H, W) uint8/float32/float64 array, else raises."""
    if not isinstance(batch, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (N, C, H, W), got {type(batch)}")
    if batch.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got shape {batch.shape}")
    if batch.dtype not in IMAGE_DTYPES:
        raise TypeError(f"{name} must be uint8, float32 or float64, got {batch.dtype}")
    return batch


def per_sample(values, n: int, dtype, name: str) -> np.ndarray:
    """Broadcasts a scalar or an (N,) sequence to a contiguous (N,) array of ``dtype``."""
    array = np.asarray(values)
    if array.ndim > 1 or (array.ndim == 1 and array.shape[0] != n):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got shape {array.shape}")
    if np.dtype(dtype).kind == "i" and array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must be integers, got {array.dtype}")
    return np.ascontiguousarray(np.broadcast_to(array, (n,)), dtype=dtype)


def channel_values(value, batch: np.ndarray, name: str) -> np.ndarray:
    """Turns a number or a per-channel sequence into a (C,) float64 array valid for ``batch``.

    For uint8 batches every value must lie in [0, 255].
    """
    channels = batch.shape[1]
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if values.ndim != 1 or values.shape[0] not in (1, channels):
        raise ValueError(
            f"{name} must be a number or a sequence of {channels} per-channel values, got {value!r}"
        )
    if batch.dtype == np.uint8 and not np.all((values >= 0) & (values <= 255)):
        raise ValueError(f"{name} must lie in [0, 255] for a uint8 batch, got {value!r}")
    return np.ascontiguousarray(np.broadcast_to(values, (channels,)))


def as_batch_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Casts float64 values to ``dtype``, rounding to nearest for uint8."""
    return (np.rint(values) if dtype == np.uint8 else values).astype(dtype)


def to_float(batch: np.ndarray, dtype=np.float32) -> np.ndarray:
    """uint8 -> ``dtype`` in [0, 1]: ``x / 255``, as torchvision's ``convert_image_dtype``.

    Float batches are returned unchanged (same object, same dtype).
    """
    check_batch(batch)
    if batch.dtype != np.uint8:
        return batch
    dtype = np.dtype(dtype)
    return np.divide(batch, dtype.type(255), dtype=dtype)


def normalize(batch: np.ndarray, mean, std) -> np.ndarray:
    """``(x - mean[c]) / std[c]`` in the batch's float dtype, as ``torchvision.F.normalize``."""
    check_batch(batch)
    if batch.dtype == np.uint8:
        raise TypeError("normalize needs a float batch, got uint8; convert first (ToFloat)")
    mean = channel_values(mean, batch, "mean").astype(batch.dtype).reshape(1, -1, 1, 1)
    std = channel_values(std, batch, "std").astype(batch.dtype).reshape(1, -1, 1, 1)
    if np.any(std == 0):
        raise ValueError(f"std must be non-zero in every channel, got {std.ravel().tolist()}")
    return (batch - mean) / std


def rotate(batch: np.ndarray, angles, fill=0.0) -> np.ndarray:
    """Rotates image n counter-clockwise by ``angles[n]`` degrees about its centre, bilinearly.

    Equals ``torchvision.F.rotate(img, angle, InterpolationMode.BILINEAR)`` (whose
    default ``fill=None`` pads with 0) for ``fill=0``, at every pixel. For another
    fill, pixels outside the image are taken as ``fill`` before interpolating; this
    agrees with torchvision's ``fill=`` on every pixel whose four neighbours lie
    inside the image (at the rim torchvision blends differently). uint8 results
    are rounded half to even, as torchvision rounds.
    """
    check_batch(batch)
    angles = per_sample(angles, batch.shape[0], np.float64, "angles")
    if not np.all(np.isfinite(angles)):
        raise ValueError("angles must be finite")
    fill = channel_values(fill, batch, "fill")
    batch = np.ascontiguousarray(batch)  # the kernel reads flat planes
    out = np.empty_like(batch)
    augment.rotate_bilinear(batch, angles, fill, batch.dtype == np.uint8, out)
    return out


def padding_ltrb(padding: Padding) -> tuple[int, int, int, int]:
    """torchvision's padding forms -> (left, top, right, bottom).

    An int pads every side, (lr, tb) pads left/right and top/bottom, and
    (l, t, r, b) gives each side.
    """
    values = (padding,) if isinstance(padding, int | np.integer) else tuple(padding)
    if len(values) not in (1, 2, 4) or not all(isinstance(p, int | np.integer) for p in values):
        raise ValueError(f"padding must be an int or a sequence of 2 or 4 ints, got {padding!r}")
    if any(p < 0 for p in values):
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    if len(values) == 1:
        return (int(values[0]),) * 4
    if len(values) == 2:
        return int(values[0]), int(values[1]), int(values[0]), int(values[1])
    return tuple(int(p) for p in values)


def crop(batch: np.ndarray, top, left, size, padding: Padding = 0, fill=0) -> np.ndarray:
    """Pads every image with ``fill`` by ``padding``, then crops ``size`` at (top[n], left[n]).

    ``top``/``left`` are in padded coordinates, so image n equals
    ``torchvision.F.crop(F.pad(img, padding, fill), top[n], left[n], h, w)``.
    ``size`` is an int (square) or (h, w). The window must lie inside the padded image.
    """
    check_batch(batch)
    n, _, height, width = batch.shape
    out_h, out_w = crop_size(size)
    pad_left, pad_top, pad_right, pad_bottom = padding_ltrb(padding)
    top = per_sample(top, n, np.int64, "top")
    left = per_sample(left, n, np.int64, "left")
    if n and (
        top.min() < 0
        or left.min() < 0
        or top.max() + out_h > height + pad_top + pad_bottom
        or left.max() + out_w > width + pad_left + pad_right
    ):
        raise ValueError(
            f"crop window of size {(out_h, out_w)} at the given top/left leaves the padded "
            f"image of size {(height + pad_top + pad_bottom, width + pad_left + pad_right)}"
        )
    fill = as_batch_dtype(channel_values(fill, batch, "fill"), batch.dtype)
    out = np.empty((n, batch.shape[1], out_h, out_w), dtype=batch.dtype)
    augment.crop_padded(batch, top - pad_top, left - pad_left, fill, out)
    return out


def crop_size(size) -> tuple[int, int]:
    """An int or an (h, w) pair -> (h, w) of positive ints."""
    values = (size, size) if isinstance(size, int | np.integer) else tuple(size)
    if len(values) != 2 or not all(isinstance(s, int | np.integer) and s > 0 for s in values):
        raise ValueError(f"size must be a positive int or a pair of them, got {size!r}")
    return int(values[0]), int(values[1])


def hflip(batch: np.ndarray, flip) -> np.ndarray:
    """Mirrors left-right the images where the boolean ``flip[n]`` is true."""
    check_batch(batch)
    flip = per_sample(flip, batch.shape[0], np.bool_, "flip")
    out = np.array(batch, order="C", copy=True)
    out[flip] = batch[flip][..., ::-1]
    return out


def erase(batch: np.ndarray, top, left, height, width, value=0.0, sample=None) -> np.ndarray:
    """Sets boxes to a per-channel value, as ``torchvision.F.erase(img, top, left, h, w, v)``.

    Box b covers rows ``top[b]:top[b]+height[b]`` and columns
    ``left[b]:left[b]+width[b]`` of image ``sample[b]`` (default: one box per
    image, box n on image n); a box of zero height or width changes nothing.
    ``value`` is a number or one per channel.
    """
    out, boxes = _prepare_boxes(batch, top, left, height, width, sample)
    values = as_batch_dtype(channel_values(value, batch, "value"), batch.dtype)
    per_box = np.ascontiguousarray(np.broadcast_to(values, (boxes[0].shape[0], values.shape[0])))
    augment.fill_boxes(out, *boxes, per_box)
    return out


def erase_with_noise(batch: np.ndarray, top, left, height, width, noise, sample=None) -> np.ndarray:
    """Like ``erase``, but box b takes the next ``C * height[b] * width[b]`` values of ``noise``.

    Each box's run of values is laid out (C, height, width): the value tensor
    torchvision's ``erase`` gets from ``RandomErasing(value="random")``.
    """
    out, boxes = _prepare_boxes(batch, top, left, height, width, sample)
    noise = np.ascontiguousarray(noise).ravel()
    needed = batch.shape[1] * int(np.sum(boxes[3] * boxes[4]))
    if noise.shape[0] < needed:
        raise ValueError(f"noise holds {noise.shape[0]} values, the boxes need {needed}")
    augment.fill_boxes_with_noise(out, *boxes, noise)
    return out


def _prepare_boxes(batch, top, left, height, width, sample):
    """Validates a box list; returns a copy of ``batch`` and (sample, top, left, height, width)."""
    check_batch(batch)
    n, _, img_h, img_w = batch.shape
    sample = np.arange(n) if sample is None else np.asarray(sample)
    if sample.ndim != 1:
        raise ValueError(f"sample must be a 1-d array of image indices, got shape {sample.shape}")
    count = sample.shape[0]
    boxes = tuple(
        per_sample(v, count, np.int64, name)
        for v, name in (
            (sample, "sample"),
            (top, "top"),
            (left, "left"),
            (height, "height"),
            (width, "width"),
        )
    )
    sample, top, left, height, width = boxes
    if count and (sample.min() < 0 or sample.max() >= n):
        raise ValueError(f"sample indices must lie in [0, {n}), got {sample.min()}..{sample.max()}")
    if count and (
        min(top.min(), left.min(), height.min(), width.min()) < 0
        or (top + height).max() > img_h
        or (left + width).max() > img_w
    ):
        raise ValueError(f"every erased box must lie inside the {img_h}x{img_w} image")
    return np.array(batch, order="C", copy=True), boxes
