"""Model families as builder functions, with torch's (torchvision's) module names and keys.

Every builder takes ``generator=`` (a ``numpy.random.Generator``: the same seed gives the
same weights) and ``dtype=`` (float32 by default, or float64).
"""

from minigrad.models.cifar_resnet import CifarResNet, ZeroPadShortcut, resnet20, resnet32, resnet56
from minigrad.models.lenet import LeNet5, lenet5
from minigrad.models.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50
from minigrad.models.seed import seed_net
from minigrad.models.vgg import VGG_WIDTHS, vgg_baseline

__all__ = [
    "BasicBlock", "Bottleneck", "CifarResNet", "LeNet5", "ResNet", "VGG_WIDTHS",
    "ZeroPadShortcut", "lenet5", "resnet18", "resnet20", "resnet32", "resnet34", "resnet50",
    "resnet56", "seed_net", "vgg_baseline",
]
