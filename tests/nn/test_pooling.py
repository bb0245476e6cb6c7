import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck
from tests.nn.cases import random_input
from tests.parity import assert_torch_parity

POOLS = [
    ("MaxPool2d", dict(kernel_size=2), (2, 3, 6, 6)),
    ("MaxPool2d", dict(kernel_size=2), (2, 2, 7, 5)),   # odd sides: the last row/column dropped
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1), (1, 2, 7, 5)),
    ("MaxPool2d", dict(kernel_size=(3, 2), stride=(1, 2)), (2, 2, 5, 6)),
    ("AvgPool2d", dict(kernel_size=2), (2, 3, 6, 6)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1), (1, 2, 7, 5)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
     (2, 2, 6, 7)),
    ("AdaptiveAvgPool2d", dict(output_size=1), (2, 3, 5, 7)),
    ("AdaptiveAvgPool2d", dict(output_size=(2, 3)), (2, 2, 6, 6)),
    ("AdaptiveAvgPool2d", dict(output_size=(3, 2)), (1, 2, 7, 5)),  # uneven bins
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(POOLS)]


@pytest.mark.parametrize("name,kwargs,shape", POOLS, ids=IDS)
def test_pooling_gradients_match_finite_differences(name, kwargs, shape):
    assert gradcheck(getattr(nn, name)(**kwargs), random_input(shape))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kwargs,shape", POOLS, ids=IDS)
def test_pooling_matches_torch(name, kwargs, shape, dtype):
    torch = pytest.importorskip("torch")
    assert_torch_parity(getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs),
                        random_input(shape), dtype)


def test_max_pool_2x2_fast_path_equals_general_kernel_with_ties_and_nan():
    from minigrad.kernels import pooling as kernels

    g = np.random.default_rng(0)
    x = g.integers(0, 3, (2, 3, 8, 6)).astype(np.float32)  # many ties
    x[0, 0, 0, 1] = x[1, 2, 5, 4] = x[1, 2, 4, 5] = np.nan
    outs = []
    for fast in (True, False):
        y, argmax = np.empty((2, 3, 4, 3), np.float32), np.empty((2, 3, 4, 3), np.int64)
        if fast:
            kernels.max_pool_2x2(x, y, argmax)
        else:
            kernels.max_pool_forward(x, 2, 2, 2, 2, 0, 0, y, argmax)
        outs.append((y, argmax))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])  # NaN == NaN here
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    assert np.isnan(outs[0][0][0, 0, 0, 0]) and np.isnan(outs[0][0][1, 2, 2, 2])


def test_max_pool_rejects_bad_padding_and_small_input():
    with pytest.raises(ValueError, match="padding must be between 0 and half"):
        nn.MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        nn.MaxPool2d(4)(np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\)"):
        nn.MaxPool2d(2)(np.zeros((3, 3), np.float32))


@pytest.mark.parametrize("name,kwargs", [
    ("MaxPool2d", dict(kernel_size=2)), ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("MaxPool2d", dict(kernel_size=(3, 2), stride=(1, 2))), ("AvgPool2d", dict(kernel_size=2)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("AdaptiveAvgPool2d", dict(output_size=1)), ("AdaptiveAvgPool2d", dict(output_size=(2, 3))),
])
def test_pooling_repr_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    assert repr(getattr(nn, name)(**kwargs)) == repr(getattr(torch.nn, name)(**kwargs))


def test_avg_pool_rejects_a_non_bool_count_include_pad():
    with pytest.raises(TypeError, match="AvgPool2d: count_include_pad must be True or False"):
        nn.AvgPool2d(2, count_include_pad="no")
