"""The CIFAR ResNets of He et al. (2016), section 4.2: ResNet-20, -32 and -56.

A 3x3 convolution to 16 channels, then three stages of n BasicBlocks at 16, 32 and 64
channels (32x32, 16x16 and 8x8 maps for 32x32 input), global average pooling and a linear
classifier: 6n + 2 weighted layers. The shortcuts are the paper's option A, free of
parameters: where a stage halves the map and doubles the channels, the shortcut takes every
second pixel and pads the new channels with zeros (``ZeroPadShortcut``). The blocks, module
names and initialisation are those of ``minigrad.models.resnet`` (torchvision's).
"""

from __future__ import annotations

import numpy as np

from minigrad import nn
from minigrad.models.arguments import generator_or_fresh, positive_int
from minigrad.models.resnet import BasicBlock, conv3x3, init_resnet_
from minigrad.nn import layout
from minigrad.nn.module import Module
from minigrad.nn.validation import check_float_input, check_grad_shape, describe


class ZeroPadShortcut(Module):
    """Option-A shortcut: ``x[:, :, ::stride, ::stride]``, zero channels added around it.

    Shapes: (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).
    The input lands in channels ``pad .. pad + in_channels`` with ``pad = (out - in) // 2``,
    zeros on both sides, as in the common PyTorch version (akamaster/pytorch_resnet_cifar10).
    The output is channels-last memory (``nn.layout``), like the BatchNorm output of the
    residual branch it is added to, so that the sum stays channels-last for the next
    block's convolutions; the input gradient has the input's layout.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2):
        super().__init__()
        self.in_channels = positive_int("ZeroPadShortcut", "in_channels", in_channels)
        self.out_channels = positive_int("ZeroPadShortcut", "out_channels", out_channels)
        self.stride = positive_int("ZeroPadShortcut", "stride", stride)
        if self.out_channels < self.in_channels:
            raise ValueError(f"ZeroPadShortcut out_channels must be >= in_channels, got "
                             f"{self.in_channels} -> {self.out_channels}")
        self.pad = (self.out_channels - self.in_channels) // 2

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(self, x, (4,), f"(N, {self.in_channels}, H, W)")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{describe(self)} expected input of shape "
                             f"(N, {self.in_channels}, H, W), got input of shape {x.shape}")
        s = self.stride
        kept = x[:, :, ::s, ::s]
        y = layout.allocate((x.shape[0], self.out_channels) + kept.shape[2:], x.dtype,
                            allocator=np.zeros)
        y[:, self.pad:self.pad + self.in_channels] = kept
        self.save_for_backward(x.shape, layout.is_channels_last(x))
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape, channels_last = self.pop_saved()
        s = self.stride
        check_grad_shape(self, dy, (shape[0], self.out_channels, -(-shape[2] // s),
                                    -(-shape[3] // s)))
        dx = layout.allocate(shape, dy.dtype, channels_last, allocator=np.zeros)
        dx[:, :, ::s, ::s] = dy[:, self.pad:self.pad + self.in_channels]
        return dx

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class CifarResNet(Module):
    """Stem 3x3 conv to 16 channels, three stages of ``blocks`` BasicBlocks, pool, fc.

    Shapes: (N, in_channels, H, W) -> (N, num_classes); for 32x32 (or 28x28) input the
    stages see 32, 16, 8 (28, 14, 7) pixel maps.
    """

    def __init__(self, blocks: int, num_classes: int = 10, in_channels: int = 3, *,
                 zero_init_residual: bool = False,
                 generator: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        blocks = positive_int("CifarResNet", "blocks", blocks)
        num_classes = positive_int("CifarResNet", "num_classes", num_classes)
        in_channels = positive_int("CifarResNet", "in_channels", in_channels)
        g = generator_or_fresh("CifarResNet", generator)
        self.conv1 = conv3x3(in_channels, 16, dtype=dtype, generator=g)
        self.bn1 = nn.BatchNorm2d(16, dtype=dtype)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, 16, blocks, 1, dtype, g)
        self.layer2 = self._make_layer(16, 32, blocks, 2, dtype, g)
        self.layer3 = self._make_layer(32, 64, blocks, 2, dtype, g)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes, dtype=dtype, generator=g)
        init_resnet_(self, g, zero_init_residual)

    @staticmethod
    def _make_layer(inplanes: int, planes: int, blocks: int, stride: int, dtype,
                    generator) -> nn.Sequential:
        downsample = None
        if stride != 1 or inplanes != planes:
            downsample = ZeroPadShortcut(inplanes, planes, stride)
        stage = [BasicBlock(inplanes, planes, stride, downsample, dtype=dtype,
                            generator=generator)]
        stage += [BasicBlock(planes, planes, dtype=dtype, generator=generator)
                  for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 16, H, W)
        x = self.layer3(self.layer2(self.layer1(x)))  # (N, 64, H/4, W/4)
        x = self.avgpool(x)  # (N, 64, 1, 1)
        return self.fc(x.reshape(x.shape[0], -1))  # (N, num_classes)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        d = self.fc.backward(dy)
        d = self.avgpool.backward(d.reshape(d.shape + (1, 1)))
        d = self.layer1.backward(self.layer2.backward(self.layer3.backward(d)))
        return self.conv1.backward(self.bn1.backward(self.relu.backward(d)))


def resnet20(num_classes: int = 10, in_channels: int = 3, *, zero_init_residual: bool = False,
             generator: np.random.Generator | None = None, dtype=np.float32) -> CifarResNet:
    """ResNet-20 (3 blocks per stage): 269,722 parameters at 10 classes."""
    return CifarResNet(3, num_classes, in_channels, zero_init_residual=zero_init_residual,
                       generator=generator, dtype=dtype)


def resnet32(num_classes: int = 10, in_channels: int = 3, *, zero_init_residual: bool = False,
             generator: np.random.Generator | None = None, dtype=np.float32) -> CifarResNet:
    """ResNet-32 (5 blocks per stage): 464,154 parameters at 10 classes."""
    return CifarResNet(5, num_classes, in_channels, zero_init_residual=zero_init_residual,
                       generator=generator, dtype=dtype)


def resnet56(num_classes: int = 10, in_channels: int = 3, *, zero_init_residual: bool = False,
             generator: np.random.Generator | None = None, dtype=np.float32) -> CifarResNet:
    """ResNet-56 (9 blocks per stage): 853,018 parameters at 10 classes."""
    return CifarResNet(9, num_classes, in_channels, zero_init_residual=zero_init_residual,
                       generator=generator, dtype=dtype)
