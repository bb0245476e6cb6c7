import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck
from tests.nn.cases import random_input
from tests.parity import assert_torch_parity

LAYERS = {
    "LeakyReLU": (lambda: nn.LeakyReLU(), lambda t: t.nn.LeakyReLU()),
    "LeakyReLU-0.2": (lambda: nn.LeakyReLU(0.2), lambda t: t.nn.LeakyReLU(0.2)),
    "LeakyReLU-steep": (lambda: nn.LeakyReLU(-1.5), lambda t: t.nn.LeakyReLU(-1.5)),
    "ELU": (lambda: nn.ELU(), lambda t: t.nn.ELU()),
    "ELU-0.5": (lambda: nn.ELU(alpha=0.5), lambda t: t.nn.ELU(alpha=0.5)),
    "SiLU": (lambda: nn.SiLU(), lambda t: t.nn.SiLU()),
}
SHAPES = [(4, 7), (2, 3, 5, 3), ()]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", LAYERS)
def test_rectifier_gradients_match_finite_differences(name, shape):
    # scale 2 keeps |x| well away from the kink at 0 relative to the finite-difference step
    assert gradcheck(LAYERS[name][0](), np.asarray(random_input(shape, scale=2.0)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", LAYERS)
def test_rectifier_matches_torch(name, shape, dtype):
    torch = pytest.importorskip("torch")
    ours, theirs = LAYERS[name]
    assert_torch_parity(ours(), theirs(torch), np.asarray(random_input(shape, scale=3.0)), dtype)


@pytest.mark.parametrize("name", LAYERS)
def test_rectifier_matches_torch_at_zero_and_at_huge_inputs(name):
    torch = pytest.importorskip("torch")
    ours, theirs = LAYERS[name]
    x = np.array([0.0, -0.0, 1e4, -1e4, 88.0, -88.0, 1e-30, -1e-30])
    with np.errstate(over="raise", invalid="raise"):  # no overflow on the way
        assert_torch_parity(ours(), theirs(torch), x, np.float64)
        assert_torch_parity(ours(), theirs(torch), x, np.float32)


@pytest.mark.parametrize("name", LAYERS)
def test_rectifier_keeps_float32(name):
    layer = LAYERS[name][0]()
    x = random_input((3, 4), dtype=np.float32)
    assert layer(x).dtype == np.float32
    assert layer.backward(np.ones((3, 4), np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", LAYERS)
def test_rectifier_shared_by_two_calls_gives_each_call_its_gradient(name):
    layer = LAYERS[name][0]()
    a, b = random_input((5,), seed=1), random_input((5,), seed=2)
    layer(a)
    layer(b)
    dy = random_input((5,), seed=3)
    grad_b, grad_a = layer.backward(dy), layer.backward(dy)
    np.testing.assert_array_equal(grad_a, _single_call_gradient(LAYERS[name][0], a, dy))
    np.testing.assert_array_equal(grad_b, _single_call_gradient(LAYERS[name][0], b, dy))


def _single_call_gradient(make, x, dy):
    layer = make()
    layer(x)
    return layer.backward(dy)


def test_rectifier_reprs_equal_torch():
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.ELU()) == "ELU(alpha=1.0)"
    assert repr(nn.SiLU()) == "SiLU()"


def test_rectifier_errors_name_the_layer():
    with pytest.raises(TypeError, match=r"LeakyReLU\(negative_slope=0.01\) expects float32 or "
                                        r"float64 input, got dtype int64"):
        nn.LeakyReLU()(np.arange(3))
    with pytest.raises(TypeError, match=r"SiLU\(\) expects a numpy ndarray, got list"):
        nn.SiLU()([1.0, 2.0])
    with pytest.raises(TypeError, match="ELU alpha must be a real number, got 'big'"):
        nn.ELU("big")
    with pytest.raises(TypeError, match="negative_slope must be a real number, got True"):
        nn.LeakyReLU(True)
    layer = nn.ELU()
    layer(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"ELU\(alpha=1.0\): backward expected a gradient of "
                                         r"shape \(2, 3\).*got \(3, 2\)"):
        layer.backward(np.zeros((3, 2)))
    with pytest.raises(RuntimeError, match="no forward of this module is left to match"):
        nn.SiLU().backward(np.zeros(3))
