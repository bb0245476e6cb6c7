"""Numba kernels for batched image augmentation, one parameter set per sample.

Every kernel takes an NCHW batch (uint8, float32 or float64) and per-sample
parameter arrays, and writes into an output array of the caller's choosing, so
the caller decides dtypes and allocation. The kernels know nothing of
transforms or generators: ``minigrad.data.functional`` draws the parameters.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def rotate_bilinear(images, angles, fill, round_output, out):
    """Rotates each image about its centre, counter-clockwise by ``angles[n]`` degrees.

    The geometry is torchvision's ``rotate`` on tensors: output pixel centre
    (x, y), measured from the image centre, samples the input at
    R(-angle) (x, y) with bilinear interpolation (``grid_sample``,
    ``align_corners=False``). A neighbour that falls outside the image
    contributes ``fill[c]`` instead of a pixel, i.e. the image is padded with
    ``fill`` out to infinity.

    Args:
        images: (N, C, H, W) C-contiguous input.
        angles: (N,) float64 degrees.
        fill: (C,) float64 value for the outside.
        round_output: round half to even and clip to [0, 255] before storing
            (for uint8 ``out``, as torchvision rounds integer images).
        out: (N, C, H, W) C-contiguous output, any numeric dtype.
    """
    n, channels, height, width = images.shape
    # flat (image-channel, pixel) views: one index per load instead of four
    source = images.reshape(n * channels, height * width)
    target = out.reshape(n * channels, height * width)
    half_w = 0.5 * width
    half_h = 0.5 * height
    for k in range(n):
        # torchvision builds the inverse map from radians(-angle)
        rot = math.radians(-angles[k])
        cos_a = math.cos(rot)
        sin_a = math.sin(rot)
        for i in range(height):
            # pixel centres relative to the image centre: x = j - W/2 + 1/2, y = i - H/2 + 1/2
            x = 0.5 - half_w
            y = i - half_h + 0.5
            u_row = cos_a * x + sin_a * y + half_w - 0.5
            v_row = -sin_a * x + cos_a * y + half_h - 0.5
            for j in range(width):
                u = u_row + cos_a * j  # source column
                v = v_row - sin_a * j  # source row
                x0 = math.floor(u)
                y0 = math.floor(v)
                fx = u - x0
                fy = v - y0
                w00 = (1.0 - fx) * (1.0 - fy)
                w01 = fx * (1.0 - fy)
                w10 = (1.0 - fx) * fy
                w11 = fx * fy
                ix = int(x0)
                iy = int(y0)
                at = iy * width + ix
                if 0 <= ix < width - 1 and 0 <= iy < height - 1:
                    # the common case: all four neighbours exist
                    for c in range(channels):
                        plane = k * channels + c
                        value = (
                            w00 * source[plane, at]
                            + w01 * source[plane, at + 1]
                            + w10 * source[plane, at + width]
                            + w11 * source[plane, at + width + 1]
                        )
                        if round_output:
                            value = min(max(np.rint(value), 0.0), 255.0)
                        target[plane, i * width + j] = value
                    continue
                in00 = 0 <= ix < width and 0 <= iy < height
                in01 = 0 <= ix + 1 < width and 0 <= iy < height
                in10 = 0 <= ix < width and 0 <= iy + 1 < height
                in11 = 0 <= ix + 1 < width and 0 <= iy + 1 < height
                for c in range(channels):
                    plane = k * channels + c
                    f = fill[c]
                    value = (
                        w00 * (source[plane, at] if in00 else f)
                        + w01 * (source[plane, at + 1] if in01 else f)
                        + w10 * (source[plane, at + width] if in10 else f)
                        + w11 * (source[plane, at + width + 1] if in11 else f)
                    )
                    if round_output:
                        value = min(max(np.rint(value), 0.0), 255.0)
                    target[plane, i * width + j] = value


@njit(cache=True)
def crop_padded(images, top, left, fill, out):
    """Crops ``out``-sized windows whose corners may lie outside the image.

    ``out[n, c, i, j] = images[n, c, top[n] + i, left[n] + j]`` where that pixel
    exists, else ``fill[c]``: the same as padding with ``fill`` and cropping.

    Args:
        images: (N, C, H, W) input.
        top, left: (N,) int64 window corners in input coordinates (may be negative).
        fill: (C,) values of ``out``'s dtype for pixels outside the input.
        out: (N, C, OH, OW) output.
    """
    n, channels, height, width = images.shape
    out_h, out_w = out.shape[2], out.shape[3]
    for k in range(n):
        for c in range(channels):
            f = fill[c]
            for i in range(out_h):
                y = top[k] + i
                if y < 0 or y >= height:
                    out[k, c, i, :] = f
                    continue
                for j in range(out_w):
                    x = left[k] + j
                    out[k, c, i, j] = images[k, c, y, x] if 0 <= x < width else f


@njit(cache=True)
def fill_boxes(images, sample, top, left, height, width, values):
    """Sets box ``b`` of image ``sample[b]`` to the per-channel ``values[b]``, in place.

    Boxes are in image coordinates and must lie inside the image.

    Args:
        images: (N, C, H, W), modified in place.
        sample, top, left, height, width: (B,) int64 box descriptions.
        values: (B, C) fill values, cast to ``images``' dtype on store.
    """
    channels = images.shape[1]
    for b in range(sample.shape[0]):
        k = sample[b]
        for c in range(channels):
            images[k, c, top[b] : top[b] + height[b], left[b] : left[b] + width[b]] = values[b, c]


@njit(cache=True)
def fill_boxes_with_noise(images, sample, top, left, height, width, noise):
    """Writes consecutive runs of ``noise`` into boxes, in place.

    Box ``b`` takes the next ``C * height[b] * width[b]`` values of ``noise``,
    laid out as (C, height, width), like the value tensor torchvision's
    ``erase`` receives.

    Args:
        images: (N, C, H, W), modified in place.
        sample, top, left, height, width: (B,) int64 box descriptions.
        noise: flat array with at least ``C * sum(height * width)`` values.
    """
    channels = images.shape[1]
    at = 0
    for b in range(sample.shape[0]):
        k = sample[b]
        for c in range(channels):
            for i in range(height[b]):
                for j in range(width[b]):
                    images[k, c, top[b] + i, left[b] + j] = noise[at]
                    at += 1
