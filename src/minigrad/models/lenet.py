"""LeNet-5 (LeCun et al., 1998) for 28x28 images, with torch-style layer names."""

from __future__ import annotations

import numpy as np

from minigrad import nn
from minigrad.models.arguments import generator_or_fresh, positive_int
from minigrad.nn.module import Module


class LeNet5(Module):
    """conv1 6@5x5 (padding 2) -> tanh -> avg-pool 2 -> conv2 16@5x5 -> tanh -> avg-pool 2
    -> fc1 400->120 -> tanh -> fc2 120->84 -> tanh -> fc3 84->num_classes.

    Shapes: (N, in_channels, 28, 28) -> (N, num_classes); the feature maps are the paper's
    (C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5), the 28x28 image padded by 2 standing
    for the paper's 32x32 input with its blank border. 61,706 parameters at 10 classes.
    Simplified as usual: plain tanh (not 1.7159 tanh(2x/3)), C3 connected to every S2 map,
    parameter-free average pooling, C5 as a Linear and a linear output instead of RBF units.
    torch's default initialisation, drawn from ``generator`` in layer order.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, *,
                 generator: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        num_classes = positive_int("LeNet5", "num_classes", num_classes)
        in_channels = positive_int("LeNet5", "in_channels", in_channels)
        g = generator_or_fresh("LeNet5", generator)
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2, dtype=dtype, generator=g)
        self.conv2 = nn.Conv2d(6, 16, 5, dtype=dtype, generator=g)
        self.fc1 = nn.Linear(16 * 5 * 5, 120, dtype=dtype, generator=g)
        self.fc2 = nn.Linear(120, 84, dtype=dtype, generator=g)
        self.fc3 = nn.Linear(84, num_classes, dtype=dtype, generator=g)
        self.tanh = nn.Tanh()
        self.pool = nn.AvgPool2d(2)
        self.flatten = nn.Flatten()

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self.pool(self.tanh(self.conv1(x)))  # (N, 6, 14, 14)
        x = self.pool(self.tanh(self.conv2(x)))  # (N, 16, 5, 5)
        x = self.tanh(self.fc1(self.flatten(x)))  # (N, 120)
        x = self.tanh(self.fc2(x))  # (N, 84)
        return self.fc3(x)  # (N, num_classes)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        # tanh and pool run more than once per forward: their backward calls pop the
        # contexts in reverse order of the forward calls
        d = self.fc2.backward(self.tanh.backward(self.fc3.backward(dy)))
        d = self.flatten.backward(self.fc1.backward(self.tanh.backward(d)))
        d = self.conv2.backward(self.tanh.backward(self.pool.backward(d)))
        return self.conv1.backward(self.tanh.backward(self.pool.backward(d)))


def lenet5(num_classes: int = 10, in_channels: int = 1, *,
           generator: np.random.Generator | None = None, dtype=np.float32) -> LeNet5:
    """LeNet-5 for (N, in_channels, 28, 28) input (MNIST, Fashion-MNIST): see ``LeNet5``."""
    return LeNet5(num_classes, in_channels, generator=generator, dtype=dtype)
