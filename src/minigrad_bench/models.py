"""The networks compared by the benchmarks, each in minigrad and as its exact torch twin.

The minigrad builders live in ``minigrad.models`` (``seed_net``, and ``vgg_baseline``
imported here as ``vgg``); the torch twins stay here. Both builders of a pair produce
identical ``state_dict`` keys and shapes, so weights move between them with
``load_state_dict``.
"""

from __future__ import annotations

from minigrad.models.seed import seed_net
from minigrad.models.vgg import VGG_WIDTHS
from minigrad.models.vgg import vgg_baseline as vgg

__all__ = ["VGG_WIDTHS", "seed_net", "torch_resnet18_small", "torch_resnet20", "torch_seed_net",
           "torch_vgg", "vgg"]


def torch_seed_net(dropout: float = 0.3):
    """The torch twin of ``seed_net``."""
    from torch import nn as tnn

    return tnn.Sequential(
        tnn.Conv2d(1, 2, 5), tnn.GELU(), tnn.Flatten(), tnn.Linear(1152, 256), tnn.GELU(),
        tnn.Dropout(dropout), tnn.Linear(256, 10),
    )


def torch_vgg(in_channels: int = 1, num_classes: int = 10, widths=VGG_WIDTHS):
    """The torch twin of ``vgg``, with the same initialisation scheme (torch's own RNG)."""
    from torch import nn as tnn

    c0 = widths[0]
    layers = [tnn.Conv2d(in_channels, c0, 3, padding=1, bias=False), tnn.BatchNorm2d(c0),
              tnn.ReLU(inplace=True)]
    for c_in, c_out in zip(widths[:-1], widths[1:]):
        layers.append(tnn.Sequential(
            tnn.Conv2d(c_in, c_out, 3, padding=1), tnn.BatchNorm2d(c_out), tnn.ReLU(inplace=True),
            tnn.Conv2d(c_out, c_out, 3, padding=1), tnn.BatchNorm2d(c_out), tnn.ReLU(inplace=True),
            tnn.MaxPool2d(2)))
    layers += [tnn.AdaptiveAvgPool2d((1, 1)), tnn.Flatten(), tnn.Linear(widths[-1], num_classes)]
    model = tnn.Sequential(*layers)
    for module in model.modules():
        if isinstance(module, tnn.Conv2d):
            tnn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                tnn.init.zeros_(module.bias)
        elif isinstance(module, tnn.BatchNorm2d):
            tnn.init.ones_(module.weight)
            tnn.init.zeros_(module.bias)
        elif isinstance(module, tnn.Linear):
            tnn.init.normal_(module.weight, 0.0, 0.01)
            tnn.init.zeros_(module.bias)
    return model


def torch_resnet20(num_classes: int = 10, in_channels: int = 3):
    """The torch twin of ``minigrad.models.resnet20``: torchvision's BasicBlock, the
    parameter-free shortcut (option A: subsample, zero channels on both sides), minigrad's
    module names."""
    import torch
    from torchvision.models.resnet import BasicBlock

    class Shortcut(torch.nn.Module):
        def __init__(self, pad):
            super().__init__()
            self.pad = pad

        def forward(self, x):
            return torch.nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))

    def stage(inplanes, planes, stride):
        shortcut = Shortcut((planes - inplanes) // 2) if stride != 1 else None
        return torch.nn.Sequential(BasicBlock(inplanes, planes, stride, shortcut),
                                   BasicBlock(planes, planes), BasicBlock(planes, planes))

    class ResNet20(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
            self.bn1 = torch.nn.BatchNorm2d(16)
            self.relu = torch.nn.ReLU(inplace=True)
            self.layer1, self.layer2, self.layer3 = stage(16, 16, 1), stage(16, 32, 2), \
                stage(32, 64, 2)
            self.avgpool = torch.nn.AdaptiveAvgPool2d((1, 1))
            self.fc = torch.nn.Linear(64, num_classes)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet20()


def torch_resnet18_small(num_classes: int = 10):
    """torchvision's resnet18 with the 32x32 stem of ``resnet18(small_input=True)``: a 3x3
    stride-1 first convolution and no max-pool (same keys)."""
    import torch
    import torchvision

    model = torchvision.models.resnet18(num_classes=num_classes)
    model.conv1 = torch.nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model
