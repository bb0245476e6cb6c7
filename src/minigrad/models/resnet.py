"""ResNet-18/34/50 with torchvision's architecture, module names and state_dict keys.

He et al., "Deep Residual Learning for Image Recognition" (2016), as torchvision builds it
(ResNet v1.5: a Bottleneck's stride sits on its 3x3 convolution). A state_dict of
``torchvision.models.resnet18(num_classes=10)`` loads into ``resnet18(num_classes=10)`` as
is. Each block writes its forward and its backward side by side: the forward keeps the skip
path, the backward sends the gradient down both paths and adds them.

A block calls its ``relu`` more than once in one forward (as torchvision's does); each call
keeps its own context, so the backward, run in reverse order, gets each call's values.
"""

from __future__ import annotations

import numpy as np

from minigrad import nn
from minigrad.models.arguments import generator_or_fresh, positive_int, stage_depths
from minigrad.nn.module import Module


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, *, dtype=np.float32,
            generator: np.random.Generator | None = None) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False,
                     dtype=dtype, generator=generator)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1, *, dtype=np.float32,
            generator: np.random.Generator | None = None) -> nn.Conv2d:
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False, dtype=dtype,
                     generator=generator)


def sum_like(main: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``main + other`` laid out in memory as ``main`` (channels-last stays channels-last,
    ``nn.layout``), whatever the layout of ``other``: for operands of mixed layouts numpy
    picks C order, and the next convolution would copy the sum back a chunk at a time."""
    return np.add(main, other, out=np.empty_like(main))


class BasicBlock(Module):
    """Two 3x3 convolutions and a skip: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    Shapes: (N, inplanes, H, W) -> (N, planes, H', W'), H' = ceil(H / stride). The shortcut
    is ``downsample(x)`` when given (it must map x to the output's shape), else x itself.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Module | None = None, *, dtype=np.float32,
                 generator: np.random.Generator | None = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride, dtype=dtype, generator=generator)
        self.bn1 = nn.BatchNorm2d(planes, dtype=dtype)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, dtype=dtype, generator=generator)
        self.bn2 = nn.BatchNorm2d(planes, dtype=dtype)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(sum_like(out, identity))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        d_sum = self.relu.backward(dy)  # the second relu call: the one after the sum
        d_identity = d_sum if self.downsample is None else self.downsample.backward(d_sum)
        d_main = self.bn1.backward(self.relu.backward(self.conv2.backward(
            self.bn2.backward(d_sum))))
        return sum_like(self.conv1.backward(d_main), d_identity)


class Bottleneck(Module):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4, and a skip.

    Shapes: (N, inplanes, H, W) -> (N, 4 * planes, H', W'), H' = ceil(H / stride).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Module | None = None, *, dtype=np.float32,
                 generator: np.random.Generator | None = None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes, dtype=dtype, generator=generator)
        self.bn1 = nn.BatchNorm2d(planes, dtype=dtype)
        self.conv2 = conv3x3(planes, planes, stride, dtype=dtype, generator=generator)
        self.bn2 = nn.BatchNorm2d(planes, dtype=dtype)
        self.conv3 = conv1x1(planes, planes * self.expansion, dtype=dtype, generator=generator)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, dtype=dtype)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(sum_like(out, identity))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        d_sum = self.relu.backward(dy)  # relu's third call, then its second and first
        d_identity = d_sum if self.downsample is None else self.downsample.backward(d_sum)
        d = self.relu.backward(self.conv3.backward(self.bn3.backward(d_sum)))
        d = self.relu.backward(self.conv2.backward(self.bn2.backward(d)))
        return sum_like(self.conv1.backward(self.bn1.backward(d)), d_identity)


class ResNet(Module):
    """Stem, four stages of blocks (64, 128, 256, 512 planes), global average pool, fc.

    Shapes: (N, in_channels, H, W) -> (N, num_classes). The stem is torchvision's 7x7
    stride-2 convolution and 3x3 stride-2 max-pool (input /4), or with ``small_input`` a
    3x3 stride-1 convolution and no pooling (``maxpool`` is an ``Identity``: the keys are
    unchanged), the usual variant for 32x32 images.

    Initialisation as torchvision: Kaiming-normal (fan_out, relu) convolutions, BatchNorm
    weight 1 and bias 0, fc torch's Linear default; with ``zero_init_residual`` the last
    BatchNorm weight of every block is 0, so each block starts as the identity.
    """

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int],
                 num_classes: int = 1000, in_channels: int = 3, *, small_input: bool = False,
                 zero_init_residual: bool = False,
                 generator: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        layers = stage_depths("ResNet", layers, 4)
        num_classes = positive_int("ResNet", "num_classes", num_classes)
        in_channels = positive_int("ResNet", "in_channels", in_channels)
        g = generator_or_fresh("ResNet", generator)
        self.inplanes = 64
        if small_input:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, padding=1, bias=False, dtype=dtype,
                                   generator=g)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False,
                                   dtype=dtype, generator=g)
        self.bn1 = nn.BatchNorm2d(64, dtype=dtype)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1, dtype, g)
        self.layer2 = self._make_layer(block, 128, layers[1], 2, dtype, g)
        self.layer3 = self._make_layer(block, 256, layers[2], 2, dtype, g)
        self.layer4 = self._make_layer(block, 512, layers[3], 2, dtype, g)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes, dtype=dtype, generator=g)
        init_resnet_(self, g, zero_init_residual)

    def _make_layer(self, block, planes: int, blocks: int, stride: int, dtype,
                    generator) -> nn.Sequential:
        """One stage: the first block changes width and stride (with a 1x1 downsample)."""
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride, dtype=dtype,
                        generator=generator),
                nn.BatchNorm2d(planes * block.expansion, dtype=dtype))
        stage = [block(self.inplanes, planes, stride, downsample, dtype=dtype,
                       generator=generator)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes, dtype=dtype, generator=generator)
                  for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 512 e, H/32, W/32)
        x = self.avgpool(x)  # (N, 512 e, 1, 1)
        return self.fc(x.reshape(x.shape[0], -1))  # torch.flatten(x, 1), then (N, classes)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        d = self.fc.backward(dy)
        d = self.avgpool.backward(d.reshape(d.shape + (1, 1)))
        d = self.layer1.backward(self.layer2.backward(self.layer3.backward(
            self.layer4.backward(d))))
        return self.conv1.backward(self.bn1.backward(self.relu.backward(
            self.maxpool.backward(d))))


def init_resnet_(model: Module, generator: np.random.Generator,
                 zero_init_residual: bool = False) -> Module:
    """torchvision's ResNet initialisation, in module order, drawing from ``generator``."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu",
                                    generator=generator)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        # Each residual branch then starts at zero, so each block starts as the identity
        # (Goyal et al., 2017: +0.2-0.3% for ImageNet ResNets).
        for module in model.modules():
            if isinstance(module, Bottleneck):
                nn.init.zeros_(module.bn3.weight)
            elif isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)
    return model


def resnet18(num_classes: int = 1000, in_channels: int = 3, *, small_input: bool = False,
             zero_init_residual: bool = False, generator: np.random.Generator | None = None,
             dtype=np.float32) -> ResNet:
    """ResNet-18 (BasicBlock, 2-2-2-2): 11,689,512 parameters at 1000 classes."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, small_input=small_input,
                   zero_init_residual=zero_init_residual, generator=generator, dtype=dtype)


def resnet34(num_classes: int = 1000, in_channels: int = 3, *, small_input: bool = False,
             zero_init_residual: bool = False, generator: np.random.Generator | None = None,
             dtype=np.float32) -> ResNet:
    """ResNet-34 (BasicBlock, 3-4-6-3): 21,797,672 parameters at 1000 classes."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, small_input=small_input,
                   zero_init_residual=zero_init_residual, generator=generator, dtype=dtype)


def resnet50(num_classes: int = 1000, in_channels: int = 3, *, small_input: bool = False,
             zero_init_residual: bool = False, generator: np.random.Generator | None = None,
             dtype=np.float32) -> ResNet:
    """ResNet-50 (Bottleneck, 3-4-6-3): 25,557,032 parameters at 1000 classes."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, small_input=small_input,
                   zero_init_residual=zero_init_residual, generator=generator, dtype=dtype)
