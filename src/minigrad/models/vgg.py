"""The VGG-style baseline the course project compared its network with (docs/benchmarks.md)."""

from __future__ import annotations

import numpy as np

from minigrad import nn

VGG_WIDTHS = (64, 128, 256, 512)


def vgg_baseline(in_channels: int = 1, num_classes: int = 10, widths=VGG_WIDTHS, *,
                 generator: np.random.Generator | None = None,
                 dtype=np.float32) -> nn.Sequential:
    """conv1 (no bias) + BN + ReLU, three double-conv blocks with max-pooling, global average
    pooling, Linear. 4,656,074 parameters for 1 input channel and the default widths.

    Shapes: (N, in_channels, H, W) -> (N, num_classes), H and W multiples of 8.
    Initialisation as the torch baseline: Kaiming-normal (fan_out, relu) convolutions,
    BatchNorm weight 1 / bias 0, Linear N(0, 0.01) with zero bias, drawn from ``generator``
    in module order (same seed, same weights).
    """
    g = np.random.default_rng() if generator is None else generator
    c0 = widths[0]
    layers = [nn.Conv2d(in_channels, c0, 3, padding=1, bias=False, dtype=dtype),
              nn.BatchNorm2d(c0, dtype=dtype), nn.ReLU(inplace=True)]
    for c_in, c_out in zip(widths[:-1], widths[1:]):
        layers.append(nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, dtype=dtype), nn.BatchNorm2d(c_out, dtype=dtype),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, dtype=dtype),
            nn.BatchNorm2d(c_out, dtype=dtype), nn.ReLU(inplace=True), nn.MaxPool2d(2)))
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
