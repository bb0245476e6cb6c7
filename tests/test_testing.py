import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck, numerical_gradients


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


def test_numerical_gradients_leave_no_context_for_a_later_backward():
    """A training-mode forward waiting for its backward is still the one that backward
    matches after finite differences ran (their forwards keep nothing)."""
    g = np.random.default_rng(0)
    layer = nn.Linear(4, 2, generator=g).double()
    x = g.standard_normal((3, 4))
    dy = g.standard_normal((3, 2))
    layer(x)
    numerical_gradients(layer, 2 * x, dy)
    assert layer.pending_forwards() == 1
    layer.zero_grad()
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, dy.T @ x, rtol=1e-12)


class ForwardTwice(nn.Module):
    """Right gradient, but its forward runs the child twice and its backward pops once."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Tanh()

    def forward(self, x):
        self.inner(x)
        return self.inner(x)

    def backward(self, dy):
        return self.inner.backward(dy)


def test_gradcheck_names_a_submodule_left_with_an_unconsumed_context():
    x = np.random.default_rng(0).standard_normal((3, 4))
    with pytest.raises(AssertionError, match="Tanh inner still holds 1 forward context"):
        gradcheck(ForwardTwice(), x)
