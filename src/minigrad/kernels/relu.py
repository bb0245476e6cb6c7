"""ReLU over flat arrays: the output and the mask in one pass, the gradient in another.

numpy needs two passes forward (``np.maximum``, ``x > 0``) and a float-by-bool multiply
backward; these are single passes that release the GIL, so the caller can split a large
array over threads (``minigrad.parallel``). A NaN input gives a NaN output and a False mask,
as ``np.maximum`` and ``x > 0`` do.
"""

from numba import njit


@njit(cache=True, nogil=True)
def forward(x, y, positive):
    """``y = max(x, 0)`` (NaN kept) and ``positive = x > 0``, all 1-D of one length."""
    for i in range(x.size):
        v = x[i]
        p = v > 0
        positive[i] = p
        y[i] = v if (p or v != v) else 0


@njit(cache=True, nogil=True)
def backward(dy, positive, dx):
    """``dx = dy`` where ``positive``, else 0."""
    for i in range(dy.size):
        dx[i] = dy[i] if positive[i] else 0


@njit(cache=True, nogil=True)
def forward_only(x, y):
    """``y = max(x, 0)`` (NaN kept), no mask: a forward that no backward will follow."""
    for i in range(x.size):
        v = x[i]
        y[i] = v if (v > 0 or v != v) else 0
