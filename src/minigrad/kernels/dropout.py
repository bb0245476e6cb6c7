"""Dropout's mask and output in one pass over the uniform draws."""

from numba import njit


@njit(cache=True)
def apply_mask(x, draws, p, scale, out):
    """``draws`` (uniform on [0, 1)) becomes the mask: ``scale`` where ``draws >= p``, else
    0; ``out`` = ``x * mask``. All arrays contiguous and of one shape."""
    for k in range(x.size):
        keep = scale if draws.flat[k] >= p else scale * 0
        draws.flat[k] = keep
        out.flat[k] = x.flat[k] * keep
