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

__all__ = ["VGG_WIDTHS", "seed_net", "torch_seed_net", "torch_vgg", "vgg"]


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
