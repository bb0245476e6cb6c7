import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck


class WrongSquare(nn.Module):
    """y = x^2 with a deliberately wrong backward (x instead of 2x)."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, dy):
        return dy * self.x


def test_gradcheck_passes_a_correct_layer_and_catches_a_wrong_one():
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert gradcheck(nn.Sequential(nn.Linear(4, 2).double(), nn.Tanh()), x)
    with pytest.raises(AssertionError, match="gradient of input disagrees"):
        gradcheck(WrongSquare(), x)


def test_gradcheck_requires_float64():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(nn.Linear(2, 2), np.zeros((1, 2), np.float32))
