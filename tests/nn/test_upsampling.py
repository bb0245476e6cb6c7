import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck
from tests.nn.cases import random_input
from tests.parity import assert_torch_parity

MODES = [("nearest", None), ("nearest-exact", None), ("bilinear", None), ("bilinear", True)]
MODE_IDS = ["nearest", "nearest-exact", "bilinear", "bilinear-corners"]
# Integer and fractional factors, downsampling, sizes, a factor that rounds back to the input
# size (7 * 1.1) and one that lands on twice it (3 * 2.2), where torch takes shortcuts
RESIZES = [
    ((4, 5), dict(scale_factor=2)),
    ((3, 5), dict(scale_factor=1.5)),
    ((6, 4), dict(scale_factor=(0.5, 3.3))),
    ((7, 4), dict(scale_factor=1.1)),
    ((3, 5), dict(scale_factor=2.2)),
    ((5, 6), dict(scale_factor=1.48)),
    ((4, 3), dict(size=(9, 4))),
    ((2, 9), dict(size=(32, 47))),
    ((5, 5), dict(size=1)),
    ((3, 4), dict(scale_factor=2.7, recompute_scale_factor=True)),
]
RESIZE_IDS = [f"{shape}-{kwargs}" for shape, kwargs in RESIZES]


def pair(mode, align_corners, kwargs, torch=None):
    ours = nn.Upsample(mode=mode, align_corners=align_corners, **kwargs)
    return ours if torch is None else (ours, torch.nn.Upsample(
        mode=mode, align_corners=align_corners, **kwargs))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,kwargs", RESIZES, ids=RESIZE_IDS)
@pytest.mark.parametrize("mode,align_corners", MODES, ids=MODE_IDS)
def test_upsample_matches_torch(mode, align_corners, shape, kwargs, dtype):
    torch = pytest.importorskip("torch")
    ours, theirs = pair(mode, align_corners, kwargs, torch)
    assert_torch_parity(ours, theirs, random_input((2, 3) + shape), dtype)


@pytest.mark.parametrize("shape,kwargs", RESIZES[:7], ids=RESIZE_IDS[:7])
@pytest.mark.parametrize("mode,align_corners", MODES, ids=MODE_IDS)
def test_upsample_gradients_match_finite_differences(mode, align_corners, shape, kwargs):
    assert gradcheck(pair(mode, align_corners, kwargs), random_input((2, 1) + shape))


def test_upsample_nearest_by_two_repeats_each_pixel():
    x = random_input((1, 2, 3, 4), dtype=np.float32)
    y = nn.Upsample(scale_factor=2)(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x.repeat(2, axis=2).repeat(2, axis=3))


def test_upsample_backward_sums_the_gradient_of_each_source_pixel():
    layer = nn.Upsample(scale_factor=(3, 2))
    layer(np.zeros((1, 1, 2, 2), np.float32))
    dx = layer.backward(np.ones((1, 1, 6, 4), np.float32))
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx, np.full((1, 1, 2, 2), 6.0))


def test_upsample_bilinear_with_aligned_corners_keeps_the_corners():
    x = random_input((1, 1, 3, 4))
    y = nn.Upsample(size=(7, 9), mode="bilinear", align_corners=True)(x)
    np.testing.assert_allclose(y[0, 0, [0, 0, -1, -1], [0, -1, 0, -1]],
                               x[0, 0, [0, 0, -1, -1], [0, -1, 0, -1]], rtol=1e-15)


def test_upsample_shared_by_two_calls_of_different_sizes():
    layer = nn.Upsample(scale_factor=2, mode="bilinear")
    small, large = random_input((1, 1, 2, 2)), random_input((1, 1, 3, 5))
    layer(small)
    layer(large)
    assert layer.backward(np.ones((1, 1, 6, 10))).shape == (1, 1, 3, 5)
    assert layer.backward(np.ones((1, 1, 4, 4))).shape == (1, 1, 2, 2)


def test_upsample_repr_equals_torch():
    torch = pytest.importorskip("torch")
    for kwargs in (dict(scale_factor=2), dict(size=(3, 4), mode="bilinear"),
                   dict(scale_factor=(1, 2.5), mode="nearest-exact"), dict(size=5)):
        assert repr(nn.Upsample(**kwargs)) == repr(torch.nn.Upsample(**kwargs))


def test_upsample_errors_name_layer_expected_and_got():
    with pytest.raises(ValueError, match="Upsample: mode must be 'nearest', 'nearest-exact' or "
                                         "'bilinear', got 'bicubic'"):
        nn.Upsample(scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample()
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample(size=3, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners can only be set with mode='bilinear'"):
        nn.Upsample(scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="scale_factor must be a positive number or a pair of "
                                         "them, got -2"):
        nn.Upsample(scale_factor=-2)
    with pytest.raises(ValueError, match=r"size must be .*, got \(3, 2.5\)"):
        nn.Upsample(size=(3, 2.5))
    with pytest.raises(ValueError, match="recompute_scale_factor is not meaningful with a size"):
        nn.Upsample(size=3, recompute_scale_factor=True)
    layer = nn.Upsample(scale_factor=0.4)
    with pytest.raises(ValueError, match=r"Upsample\(scale_factor=0.4, mode='nearest'\): input "
                                         r"of shape \(1, 1, 2, 5\) gives an empty output of "
                                         r"size \(0, 2\)"):
        layer(np.zeros((1, 1, 2, 5), np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\), got input "
                                         r"of shape \(2, 5\)"):
        layer(np.zeros((2, 5), np.float32))
    layer(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"backward expected a gradient of shape "
                                         r"\(1, 1, 2, 2\)"):
        layer.backward(np.zeros((1, 1, 5, 5), np.float32))
