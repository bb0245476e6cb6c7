"""The networks compared by the benchmarks, each in minigrad and as its exact torch twin.

Both builders of a pair produce identical ``state_dict`` keys and shapes, so weights move
between them with ``load_state_dict``.
"""

from __future__ import annotations

import numpy as np

from minigrad import nn

VGG_WIDTHS = (64, 128, 256, 512)


def seed_net(dropout: float = 0.3, *, generator: np.random.Generator | None = None,
             dtype=np.float32) -> nn.Sequential:
    """The reference numpy network (softmax fused into the loss): 297,790 parameters."""
    g = np.random.default_rng() if generator is None else generator
    return nn.Sequential(
        nn.Conv2d(1, 2, 5, generator=g, dtype=dtype), nn.GELU(), nn.Flatten(),
        nn.Linear(1152, 256, generator=g, dtype=dtype), nn.GELU(), nn.Dropout(dropout),
        nn.Linear(256, 10, generator=g, dtype=dtype),
    )


def vgg(in_channels: int = 1, num_classes: int = 10, widths=VGG_WIDTHS, *,
        generator: np.random.Generator | None = None, dtype=np.float32) -> nn.Sequential:
    """The VGG-style baseline: conv1 (no bias) + BN + ReLU, three double-conv blocks with
    max-pooling, global average pooling, Linear. 4,656,074 parameters for 1 input channel.

    Initialisation as the torch baseline: Kaiming-normal (fan_out, relu) convolutions,
    BatchNorm weight 1 / bias 0, Linear N(0, 0.01) with zero bias.
    """
    g = np.random.default_rng() if generator is None else generator
    c0 = widths[0]
    layers = [nn.Conv2d(in_channels, c0, 3, padding=1, bias=False, dtype=dtype),
              nn.BatchNorm2d(c0, dtype=dtype), nn.ReLU()]
    for c_in, c_out in zip(widths[:-1], widths[1:]):
        layers.append(nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, dtype=dtype), nn.BatchNorm2d(c_out, dtype=dtype),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, dtype=dtype),
            nn.BatchNorm2d(c_out, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2)))
    layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
               nn.Linear(widths[-1], num_classes, dtype=dtype)]
    model = nn.Sequential(*layers)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu",
                                    generator=g)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01, generator=g)
            nn.init.zeros_(module.bias)
    return model


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
