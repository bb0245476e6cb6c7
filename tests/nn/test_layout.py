"""Channels-last memory under the (N, C, H, W) shape: every layer that meets it computes
what it computes on C-ordered input, and the fast paths hand it on."""

import numpy as np
import pytest

from minigrad import nn
from minigrad.nn import layout
from minigrad.testing import gradcheck
from tests.nn.cases import generator, random_input
from tests.parity import assert_torch_parity


class ChannelsLast(nn.Module):
    """Re-lays its input channels-last (values unchanged): puts the layer after it on its
    channels-last path under gradcheck, which perturbs a C-ordered input."""

    def forward(self, x):
        return layout.from_channels_last(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))

    def backward(self, dy):
        return dy


def channels_last(x):
    return layout.from_channels_last(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))


def layers():
    """(name, minigrad layer factory, torch layer factory, input shape)."""
    from torch import nn as tnn

    return [
        ("conv-winograd", lambda: nn.Conv2d(3, 5, 3, padding=1, algorithm="winograd",
                                            generator=generator()),
         lambda: tnn.Conv2d(3, 5, 3, padding=1), (2, 3, 6, 7)),
        ("conv-im2col", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, algorithm="im2col",
                                          generator=generator()),
         lambda: tnn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 6)),
        ("conv-direct", lambda: nn.Conv2d(2, 2, 3, algorithm="direct", generator=generator()),
         lambda: tnn.Conv2d(2, 2, 3), (2, 2, 5, 5)),
        ("batchnorm", lambda: nn.BatchNorm2d(3), lambda: tnn.BatchNorm2d(3), (3, 3, 4, 5)),
        # a block of eight channels and three more, rows past one tile (kernels/normalization)
        ("batchnorm-blocks", lambda: nn.BatchNorm2d(11), lambda: tnn.BatchNorm2d(11),
         (2, 11, 12, 11)),
        # rows longer than 128 bytes keep the row loop
        ("batchnorm-wide", lambda: nn.BatchNorm2d(40), lambda: tnn.BatchNorm2d(40),
         (2, 40, 3, 5)),
        ("maxpool-2x2", lambda: nn.MaxPool2d(2), lambda: tnn.MaxPool2d(2), (2, 3, 6, 5)),
        ("maxpool-3x3-s2-p1", lambda: nn.MaxPool2d(3, 2, 1), lambda: tnn.MaxPool2d(3, 2, 1),
         (2, 3, 7, 6)),
        ("relu", nn.ReLU, tnn.ReLU, (2, 3, 4, 4)),
    ]


LAYER_NAMES = ["conv-winograd", "conv-im2col", "conv-direct", "batchnorm", "batchnorm-blocks",
               "batchnorm-wide", "maxpool-2x2", "maxpool-3x3-s2-p1", "relu"]


def layer_case(name):
    pytest.importorskip("torch")
    return next(case for case in layers() if case[0] == name)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_layers_on_channels_last_input_match_torch(name, dtype, train):
    _, ours, theirs, shape = layer_case(name)
    x = channels_last(random_input(shape, dtype=dtype) + 0.5)
    assert layout.is_channels_last(x)
    assert_torch_parity(ours(), theirs(), x, dtype, train=train)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_layers_on_channels_last_input_match_finite_differences(name, train):
    _, ours, _, shape = layer_case(name)
    model = nn.Sequential(ChannelsLast(), ours()).double().train(train)
    assert gradcheck(model, random_input(shape) + 0.5)


@pytest.mark.parametrize("name", ["conv-winograd", "batchnorm", "maxpool-2x2", "relu"])
def test_fast_paths_hand_channels_last_memory_on(name):
    _, ours, _, shape = layer_case(name)
    layer = ours().double()
    y = layer(channels_last(random_input(shape)))
    dx = layer.backward(channels_last(random_input(y.shape, seed=1)))
    assert layout.is_channels_last(y) and layout.is_channels_last(dx)


def test_maxpool_on_channels_last_input_keeps_nan_and_the_first_maximum_as_torch():
    torch = pytest.importorskip("torch")
    x = random_input((2, 3, 4, 4))
    x[0, 1, 0, 0] = np.nan
    x[1, 2, 2:, 2:] = 7.0  # a tie: the first in scan order wins
    ours = nn.MaxPool2d(2).double()
    y = ours(channels_last(x))
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = torch.nn.functional.max_pool2d(xt, 2)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    dy = random_input(y.shape, seed=2)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_array_equal(ours.backward(dy), xt.grad.numpy())


def test_layout_helpers_convert_only_when_needed():
    x = random_input((2, 3, 4, 5))
    assert not layout.is_channels_last(x)
    last = layout.to_channels_last(x)
    assert last.shape == (2, 4, 5, 3) and last.flags.c_contiguous
    view = layout.from_channels_last(last)
    np.testing.assert_array_equal(view, x)
    assert layout.is_channels_last(view)
    assert np.shares_memory(layout.to_channels_last(view), last)


@pytest.mark.parametrize("memory", ["C", "channels-last"])
def test_relu_past_its_split_size_matches_numpy_nan_included_and_pairs_any_dy_layout(memory):
    x = random_input((4, 8, 48, 48), dtype=np.float32)  # 73,728 elements: the kernel path
    assert x.size >= nn.ReLU.SPLIT_SIZE
    x[0, 0, 0, :3] = [np.nan, 0.0, -0.0]
    x = channels_last(x) if memory == "channels-last" else x
    relu = nn.ReLU()
    y = relu(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    assert y.dtype == np.float32 and layout.is_channels_last(y) == (memory != "C")
    for dy in (random_input(x.shape, seed=1, dtype=np.float32),
               channels_last(random_input(x.shape, seed=1, dtype=np.float32))):
        relu(x)
        np.testing.assert_array_equal(relu.backward(dy), dy * (x > 0))


@pytest.mark.parametrize("train", [True, False])
def test_forwards_under_no_grad_skip_what_backward_needs_but_give_the_same_output(train):
    """BatchNorm2d on channels-last rows writes y alone (no x_hat), ReLU no mask."""
    import minigrad

    x = channels_last(random_input((4, 8, 48, 48), dtype=np.float32) * 3 + 1)
    for layer in (nn.BatchNorm2d(8), nn.ReLU()):
        if isinstance(layer, nn.BatchNorm2d):
            layer.weight.data[...] = np.linspace(0.5, 2, 8)
            layer.bias.data[...] = np.linspace(-1, 1, 8)
            layer.running_mean[...] = 0.5
        layer.train(train)
        expected = layer(x)
        layer.clear_saved()
        with minigrad.no_grad():
            y = layer(x)
        assert layer.pending_forwards() == 0 and layout.is_channels_last(y)
        np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("memory", ["C", "channels-last"])
def test_shortcut_and_global_average_give_gradients_in_their_inputs_layout(memory):
    """ZeroPadShortcut's output is channels-last whatever its input (so the residual sum
    it joins stays channels-last); it and AdaptiveAvgPool2d((1, 1)) return the input
    gradient in the input's layout, with the values of C-ordered input (float64)."""
    from minigrad.models import ZeroPadShortcut

    x = random_input((2, 4, 6, 6))
    x_in = channels_last(x) if memory == "channels-last" else x
    for layer, model in ((ZeroPadShortcut(4, 8), ZeroPadShortcut(4, 8)),
                         (nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d(1))):
        y, expected = layer(x_in), model(x)
        np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-15)  # summation order
        dy = random_input(y.shape, seed=1)
        dx = layer.backward(channels_last(dy))
        np.testing.assert_array_equal(dx, model.backward(dy))
        assert layout.is_channels_last(dx) == (memory == "channels-last")
        wrapped = (nn.Sequential(ChannelsLast(), layer) if memory == "channels-last"
                   else layer)
        assert gradcheck(wrapped, x)
    assert layout.is_channels_last(ZeroPadShortcut(4, 8)(x_in))


def test_a_residual_sum_keeps_the_main_branchs_layout_whatever_the_shortcuts():
    """numpy lays a sum of mixed layouts out in C order; the blocks' sums take the main
    branch's (channels-last) layout, with the same values, so the next block's
    convolutions get channels-last memory."""
    from minigrad.models.resnet import BasicBlock, sum_like

    main, other = channels_last(random_input((2, 3, 4, 5))), random_input((2, 3, 4, 5), seed=1)
    assert not layout.is_channels_last(main + other)
    total = sum_like(main, other)
    assert layout.is_channels_last(total)
    np.testing.assert_array_equal(total, main + other)
    block = BasicBlock(32, 32, generator=generator()).double()  # Winograd convolutions
    x = random_input((2, 32, 6, 6))  # NCHW input: the shortcut is NCHW
    y = block(x)
    assert layout.is_channels_last(y)
    assert layout.is_channels_last(block.backward(channels_last(random_input(y.shape, seed=2))))
