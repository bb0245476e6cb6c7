import numpy as np
import pytest

import minigrad
from minigrad import nn
from minigrad.nn import conv_direct_simd, layout
from minigrad.testing import gradcheck
from tests.nn.cases import generator, random_input
from tests.parity import assert_torch_parity

# (C_in, C_out, kernel, stride, padding, bias, input shape), channels whole vectors in both
# float32 (16 lanes) and float64 (8): rows of 11, 7 and 17 pixels leave 3, 7 and 1 past the
# last block of eight
CASES = [
    (16, 16, 3, 1, 1, True, (2, 16, 6, 11)),
    (16, 32, 3, 1, 0, False, (1, 16, 10, 9)),            # no padding, no bias, batch 1
    (32, 16, (5, 3), 1, (2, 1), True, (3, 32, 7, 17)),   # non-square kernel and padding
    (16, 16, 3, 1, 2, True, (2, 16, 3, 3)),              # padding 2: input as small as kernel
    (16, 16, 1, 1, 0, True, (2, 16, 4, 8)),              # 1x1
    (16, 16, 3, 2, 1, True, (2, 16, 9, 11)),             # stride 2, odd sizes: 4 phases
    (16, 32, 3, (2, 1), 0, False, (1, 16, 10, 19)),      # strides 2 and 1
    (16, 16, 1, 2, 0, True, (2, 16, 7, 9)),              # 1x1 stride 2: phases no tap reaches
    (32, 16, 5, 3, 2, True, (2, 32, 11, 13)),            # stride 3, 5x5, padding 2
]
IDS = [f"case{i}" for i in range(len(CASES))]


def make(case, seed=0):
    c_in, c_out, k, s, p, bias, _ = case
    return nn.Conv2d(c_in, c_out, k, stride=s, padding=p, bias=bias, algorithm="direct",
                     generator=generator(seed))


def torch_twin(case):
    from torch import nn as tnn

    c_in, c_out, k, s, p, bias, _ = case
    return tnn.Conv2d(c_in, c_out, k, stride=s, padding=p, bias=bias)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_simd_direct_convolution_gradients_match_finite_differences(case):
    assert gradcheck(make(case).double(), random_input(case[-1]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_simd_direct_convolution_matches_torch_and_returns_channels_last(case, dtype):
    pytest.importorskip("torch")
    y, dx = assert_torch_parity(make(case), torch_twin(case), random_input(case[-1]), dtype)
    # channels-last memory is what tells this path from the NCHW direct kernels
    assert layout.is_channels_last(y) and layout.is_channels_last(dx)
    assert y.dtype == dx.dtype == dtype


def test_simd_direct_convolution_takes_either_input_layout():
    case = CASES[0]
    x = random_input(case[-1])
    conv = make(case).double()
    y = conv(x)
    dx = conv.backward(np.ones_like(y))
    grad = conv.weight.grad.copy()
    conv.zero_grad()
    x_last = layout.from_channels_last(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    np.testing.assert_array_equal(conv(x_last), y)
    np.testing.assert_array_equal(conv.backward(np.ones_like(y)), dx)
    np.testing.assert_array_equal(conv.weight.grad, grad)


def test_simd_direct_convolution_gives_the_same_result_on_one_or_two_threads():
    case = (16, 16, 3, 2, 1, True, (5, 16, 8, 9))
    x = random_input(case[-1])
    results = []
    previous = minigrad.get_num_threads()
    try:
        for threads in (1, 2):
            minigrad.set_num_threads(threads)
            conv = make(case).double()
            y = conv(x)
            results.append((y, conv.backward(np.cos(y)), conv.weight.grad, conv.bias.grad))
    finally:
        minigrad.set_num_threads(previous)
    for one, two in zip(*results):
        np.testing.assert_allclose(one, two, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(("channels", "stride", "padding", "itemsize", "expected"), [
    ((16, 32), (1, 1), (1, 1), 4, True),
    ((8, 16), (1, 1), (1, 1), 4, False),     # 8 channels are half a float32 vector
    ((8, 16), (1, 1), (1, 1), 8, True),      # and a whole float64 one
    ((16, 16), (2, 3), (1, 1), 4, True),     # any stride
    ((16, 16), (1, 1), (3, 1), 4, False),    # padding as large as the kernel
])
def test_simd_direct_convolution_applies_to_whole_vectors_and_padding_below_the_kernel(
        channels, stride, padding, itemsize, expected):
    assert conv_direct_simd.applicable(*channels, (3, 3), stride, padding, itemsize) is expected


def test_conv2d_auto_picks_the_simd_direct_kernel_for_few_channels_and_strided_3x3():
    assert nn.Conv2d(16, 16, 3, padding=1).chosen_algorithm() == "direct"
    assert nn.Conv2d(32, 32, 3, padding=1).chosen_algorithm() == "direct"
    assert nn.Conv2d(24, 24, 3, padding=1).chosen_algorithm() == "winograd"  # not a vector
    assert nn.Conv2d(32, 64, 3, padding=1).chosen_algorithm() == "winograd"
    assert nn.Conv2d(16, 32, 3, stride=2, padding=1).chosen_algorithm() == "direct"
    assert nn.Conv2d(64, 128, 3, stride=2, padding=1).chosen_algorithm() == "direct"
    assert nn.Conv2d(128, 256, 3, stride=2, padding=1).chosen_algorithm() == "im2col"
    assert nn.Conv2d(64, 128, 1, stride=2).chosen_algorithm() == "im2col"  # 1x1: a GEMM


def test_simd_direct_convolution_falls_back_to_the_nchw_kernel_where_it_does_not_apply():
    case = (8, 16, 3, 1, 1, True, (2, 8, 5, 6))  # 8 channels: not a float32 vector
    conv = make(case)
    y = conv(random_input(case[-1], dtype=np.float32))
    assert not layout.is_channels_last(y)
