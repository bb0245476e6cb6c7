"""The CIFAR ResNets (He et al. 2016, option-A shortcuts) against a torch twin built from
torchvision's BasicBlock; the option-A shortcut on its own; a short training run."""

import numpy as np
import pytest

from minigrad import nn, optim
from minigrad.models import CifarResNet, ZeroPadShortcut, resnet20, resnet32, resnet56
from minigrad.testing import gradcheck
from tests.models.helpers import assert_same_structure, assert_same_weights
from tests.nn.cases import random_input
from tests.parity import assert_close, assert_torch_parity, copy_state_to_torch, to_torch

# 6n + 2 layers; He et al. report 0.27M, 0.46M and 0.85M parameters
PARAMETERS = {resnet20: (3, 269_722), resnet32: (5, 464_154), resnet56: (9, 853_018)}


def torch_zero_pad_shortcut(in_channels, out_channels, stride):
    """The torch twin of ZeroPadShortcut (the usual PyTorch option A: slice, then F.pad)."""
    from torch import nn as tnn

    class ZeroPadShortcut(tnn.Module):
        def __init__(self):
            super().__init__()
            self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
            self.pad = (out_channels - in_channels) // 2

        def forward(self, x):
            high = self.out_channels - self.in_channels - self.pad
            return tnn.functional.pad(x[:, :, ::self.stride, ::self.stride],
                                      (0, 0, 0, 0, self.pad, high))

        def extra_repr(self):
            return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"

    return ZeroPadShortcut()


def torch_cifar_resnet(blocks, num_classes=10, in_channels=3):
    """The torch twin: torchvision's BasicBlock, the zero-padding shortcut, the same names."""
    pytest.importorskip("torchvision")
    from torch import nn as tnn
    from torchvision.models.resnet import BasicBlock

    def make_layer(inplanes, planes, stride):
        shortcut = torch_zero_pad_shortcut(inplanes, planes, stride) if stride != 1 else None
        return tnn.Sequential(BasicBlock(inplanes, planes, stride, shortcut),
                              *[BasicBlock(planes, planes) for _ in range(1, blocks)])

    class CifarResNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
            self.bn1 = tnn.BatchNorm2d(16)
            self.relu = tnn.ReLU(inplace=True)
            self.layer1 = make_layer(16, 16, 1)
            self.layer2 = make_layer(16, 32, 2)
            self.layer3 = make_layer(32, 64, 2)
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.fc = tnn.Linear(64, num_classes)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
            return self.fc(self.avgpool(x).flatten(1))

    return CifarResNet()


@pytest.mark.parametrize("builder", [resnet20, resnet32, resnet56])
def test_parameter_count_keys_and_repr_equal_the_torch_twin(builder):
    blocks, count = PARAMETERS[builder]
    ours = builder(generator=np.random.default_rng(0))
    assert ours.num_parameters() == count
    assert len(ours.layer1) == len(ours.layer2) == len(ours.layer3) == blocks
    assert_same_structure(ours, torch_cifar_resnet(blocks))


@pytest.mark.parametrize("train", [True, False])
def test_resnet20_matches_torch(train):
    ours = resnet20(generator=np.random.default_rng(0))
    if not train:  # non-trivial running statistics for eval mode
        ours.train()(random_input((4, 3, 32, 32), seed=3, dtype=np.float32))
    assert_torch_parity(ours, torch_cifar_resnet(3), random_input((2, 3, 32, 32)), np.float64,
                        train=train)


def test_resnet20_for_28x28_grey_images_matches_torch():
    ours = resnet20(num_classes=10, in_channels=1, generator=np.random.default_rng(0))
    y, _ = assert_torch_parity(ours, torch_cifar_resnet(3, 10, 1), random_input((2, 1, 28, 28)),
                               np.float64)
    assert y.shape == (2, 10)


@pytest.mark.parametrize("train", [False, True])
def test_resnet20_float32_matches_torch_and_stays_float32(train):
    # In train mode the gradients of this point are not smooth: scaling the float64 weights
    # by 1 + 1e-7 noise moves dL/dx by 6e-7 (relative to its largest entry), by 1 + 1e-6
    # noise by 8e-2: one of the 376,832 ReLU inputs (the nearest to zero: 2.5e-6)
    # changes sign, and train-mode BatchNorm spreads that change over its channel and every
    # layer below. So in train mode the float32 gradients of any
    # algorithm whose error exceeds ~1e-7 (the F(4x4) Winograd: ~4e-6 per layer) part from
    # torch's by a few percent; parity of the gradients in train mode is the float64 test's.
    ours = resnet20(generator=np.random.default_rng(0))
    x = random_input((2, 3, 32, 32))
    if train:
        ours.to(np.float32)
        y = ours.train()(x.astype(np.float32))
        dx = ours.backward(np.ones_like(y))
        theirs = torch_cifar_resnet(3)
        copy_state_to_torch(ours, theirs, np.float32)
        assert_close("forward output", y, theirs.train()(to_torch(x.astype(np.float32))),
                     np.float32)
    else:
        y, dx = assert_torch_parity(ours, torch_cifar_resnet(3), x, np.float32, train=False)
    assert y.dtype == dx.dtype == np.float32


def test_same_generator_seed_gives_the_same_weights():
    assert_same_weights(resnet20(generator=np.random.default_rng(3)),
                        resnet20(generator=np.random.default_rng(3)))


def test_shortcut_subsamples_and_pads_channels_on_both_sides():
    x = random_input((2, 3, 7, 7))
    y = ZeroPadShortcut(3, 8, stride=2)(x)  # pad 2 below, 3 above
    assert y.shape == (2, 8, 4, 4)
    np.testing.assert_array_equal(y[:, 2:5], x[:, :, ::2, ::2])
    assert not y[:, :2].any() and not y[:, 5:].any()


@pytest.mark.parametrize("shape, stride", [((2, 3, 7, 7), 2), ((1, 3, 4, 6), 1)])
def test_shortcut_passes_finite_differences_and_matches_torch(shape, stride):
    x = random_input(shape)
    assert gradcheck(ZeroPadShortcut(3, 8, stride), x)
    pytest.importorskip("torch")
    assert_torch_parity(ZeroPadShortcut(3, 8, stride), torch_zero_pad_shortcut(3, 8, stride), x)


def test_shortcut_rejects_bad_input_naming_itself():
    shortcut = ZeroPadShortcut(16, 32)
    with pytest.raises(ValueError, match=r"ZeroPadShortcut\(16, 32, stride=2\) expected input "
                                         r"of shape \(N, 16, H, W\), got input of shape"):
        shortcut(np.zeros((2, 8, 4, 4), np.float32))
    with pytest.raises(ValueError, match="out_channels must be >= in_channels"):
        ZeroPadShortcut(32, 16)


def test_bad_block_count_is_named():
    with pytest.raises(ValueError, match="CifarResNet blocks must be a positive int, got 0"):
        CifarResNet(0)


def test_a_small_residual_network_learns_a_batch():
    """Twenty SGD steps on one batch of 32 random images with random labels: the loss of a
    working network (every gradient right) falls by far more than half."""
    g = np.random.default_rng(0)
    model = CifarResNet(1, num_classes=4, in_channels=1, generator=g)
    x = g.standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = g.integers(0, 4, 32)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(20):
        losses.append(loss_fn(model(x), y))
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
    assert losses[-1] < 0.3 * losses[0], losses
