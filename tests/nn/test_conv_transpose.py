import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck
from tests.nn.cases import generator, random_input
from tests.parity import assert_torch_parity

CASES = [
    ((3, 4, 3), {}, (2, 3, 4, 5)),
    ((3, 4, 3), dict(stride=2, padding=1, output_padding=1), (2, 3, 5, 4)),
    ((2, 3, (2, 3)), dict(stride=(2, 1), padding=(0, 1), bias=False), (3, 2, 3, 4)),
    ((4, 6, 3), dict(stride=2, groups=2), (2, 4, 3, 3)),
    ((2, 2, 4), dict(stride=3, padding=2, output_padding=2), (1, 2, 3, 3)),
    ((3, 2, 1), {}, (2, 3, 2, 2)),
    ((1, 1, 2), dict(stride=2), (2, 1, 1, 1)),
]
IDS = [f"case{i}" for i in range(len(CASES))]


def layer(args, kwargs, dtype=np.float32):
    return nn.ConvTranspose2d(*args, **kwargs, dtype=dtype, generator=generator(1))


@pytest.mark.parametrize("args,kwargs,shape", CASES, ids=IDS)
def test_conv_transpose_gradients_match_finite_differences(args, kwargs, shape):
    assert gradcheck(layer(args, kwargs, np.float64), random_input(shape))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("args,kwargs,shape", CASES, ids=IDS)
def test_conv_transpose_matches_torch(args, kwargs, shape, dtype):
    torch = pytest.importorskip("torch")
    ours = layer(args, kwargs)
    y, _ = assert_torch_parity(ours, torch.nn.ConvTranspose2d(*args, **kwargs),
                               random_input(shape), dtype)
    assert y.shape[2:] == ours.output_size(*shape[2:])


def test_conv_transpose_matches_torch_when_the_batch_is_split_into_chunks():
    torch = pytest.importorskip("torch")
    ours = layer((3, 5, 3), dict(stride=2, padding=1, groups=1))
    ours.scratch_bytes = 5 * 9 * 6 * 6 * 8 * 2  # two samples' columns per chunk, 5 samples
    assert_torch_parity(ours, torch.nn.ConvTranspose2d(3, 5, 3, stride=2, padding=1),
                        random_input((5, 3, 6, 6)), np.float64)


def test_conv_transpose_is_the_adjoint_of_conv2d():
    # <conv(x), y> == <x, conv_transpose(y)> for shared weights: the defining property
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False, dtype=np.float64,
                     generator=generator(2))
    transpose = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1, bias=False,
                                   dtype=np.float64)
    transpose.weight.data[...] = conv.weight.data
    x, y = random_input((2, 3, 8, 8), seed=3), random_input((2, 4, 4, 4), seed=4)
    assert transpose(y).shape == x.shape
    np.testing.assert_allclose(np.sum(conv(x) * y), np.sum(x * transpose(y)), rtol=1e-12)


def test_conv_transpose_init_state_dict_and_repr_follow_torch():
    torch = pytest.importorskip("torch")
    ours = nn.ConvTranspose2d(8, 12, 3, stride=2, groups=4, generator=generator(0))
    theirs = torch.nn.ConvTranspose2d(8, 12, 3, stride=2, groups=4)
    assert repr(ours) == repr(theirs) == \
        "ConvTranspose2d(8, 12, kernel_size=(3, 3), stride=(2, 2), groups=4)"
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    bound = 1 / np.sqrt(12 // 4 * 9)  # fan_in = C_out / groups * kh * kw, as torch
    for ours_p, theirs_p in ((ours.weight.data, theirs.weight), (ours.bias.data, theirs.bias)):
        assert np.abs(ours_p).max() <= bound
        assert np.abs(ours_p).max() > 0.8 * bound
        assert theirs_p.abs().max().item() <= bound
    same = nn.ConvTranspose2d(8, 12, 3, stride=2, groups=4, generator=generator(0))
    np.testing.assert_array_equal(same.weight.data, ours.weight.data)


def test_conv_transpose_keeps_float32_and_handles_an_empty_batch():
    ours = layer((2, 3, 3), dict(stride=2))
    y = ours(np.ones((0, 2, 4, 4), np.float32))
    assert y.shape == (0, 3, 9, 9) and y.dtype == np.float32
    assert ours.backward(y).shape == (0, 2, 4, 4)
    y = ours(random_input((1, 2, 4, 4), dtype=np.float32))
    assert y.dtype == ours.backward(np.ones_like(y)).dtype == ours.weight.grad.dtype == \
        np.float32


def test_conv_transpose_shared_by_two_calls_sums_the_weight_gradient():
    ours = layer((2, 2, 3), dict(stride=2), np.float64)
    a, b = random_input((1, 2, 3, 3), seed=1), random_input((1, 2, 3, 3), seed=2)
    da, db = random_input((1, 2, 7, 7), seed=3), random_input((1, 2, 7, 7), seed=4)
    ours(a)
    ours(b)
    grad_b, grad_a = ours.backward(db), ours.backward(da)
    single = layer((2, 2, 3), dict(stride=2), np.float64)
    single(a)
    np.testing.assert_array_equal(single.backward(da), grad_a)
    single(b)
    np.testing.assert_array_equal(single.backward(db), grad_b)
    np.testing.assert_allclose(single.weight.grad, ours.weight.grad, rtol=1e-14)


def test_conv_transpose_constructor_errors():
    with pytest.raises(ValueError, match="output_padding must be smaller than stride, got "
                                         r"output_padding=\(1, 1\), stride=\(1, 1\)"):
        nn.ConvTranspose2d(2, 2, 3, output_padding=1)
    with pytest.raises(ValueError, match="supports dilation=1 only, got 2"):
        nn.ConvTranspose2d(2, 2, 3, dilation=2)
    with pytest.raises(ValueError, match=r"in_channels \(3\) and out_channels \(4\) must both "
                                         r"be divisible by groups \(2\)"):
        nn.ConvTranspose2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="ConvTranspose2d: in_channels must be an int >= 1, got 0"):
        nn.ConvTranspose2d(0, 4, 3)
    with pytest.raises(ValueError, match="needs kernel_size >= 1"):
        nn.ConvTranspose2d(1, 1, 0)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair of ints"):
        nn.ConvTranspose2d(1, 1, 2.5)


def test_conv_transpose_input_errors_name_layer_expected_and_got():
    ours = nn.ConvTranspose2d(3, 2, 3, padding=2)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(3, 2, kernel_size=\(3, 3\).*"
                                         r"expected input of shape \(N, 3, H, W\), got input of "
                                         r"shape \(1, 2, 4, 4\)"):
        ours(np.zeros((1, 2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\), got input "
                                         r"of shape \(3, 4, 4\)"):
        ours(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(TypeError, match="has float32 parameters but got float64 input"):
        ours(np.zeros((1, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"gives an empty output of size \(0, 0\)"):
        ours(np.zeros((1, 3, 2, 2), np.float32))
    ours(np.zeros((1, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"backward expected a gradient of shape "
                                         r"\(1, 2, 2, 2\)"):
        ours.backward(np.zeros((1, 2, 4, 4), np.float32))
