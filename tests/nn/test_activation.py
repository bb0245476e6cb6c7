import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck
from tests.nn.cases import random_input
from tests.parity import assert_torch_parity

LAYERS = {
    "ReLU": (lambda: nn.ReLU(), lambda t: t.nn.ReLU()),
    "GELU": (lambda: nn.GELU(), lambda t: t.nn.GELU()),
    "GELU-tanh": (lambda: nn.GELU("tanh"), lambda t: t.nn.GELU(approximate="tanh")),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda t: t.nn.Sigmoid()),
    "Tanh": (lambda: nn.Tanh(), lambda t: t.nn.Tanh()),
    "Softmax": (lambda: nn.Softmax(dim=1), lambda t: t.nn.Softmax(dim=1)),
    "Softmax-last": (lambda: nn.Softmax(), lambda t: t.nn.Softmax(dim=-1)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=1), lambda t: t.nn.LogSoftmax(dim=1)),
}
SHAPES = [(4, 7), (2, 3, 5, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", LAYERS)
def test_activation_gradients_match_finite_differences(name, shape):
    x = random_input(shape, scale=2.0)
    assert gradcheck(LAYERS[name][0](), x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", LAYERS)
def test_activation_matches_torch(name, shape, dtype):
    torch = pytest.importorskip("torch")
    ours, theirs = LAYERS[name]
    assert_torch_parity(ours(), theirs(torch), random_input(shape, scale=3.0), dtype)


def test_gelu_float32_fast_path_is_accurate_over_a_wide_range():
    torch = pytest.importorskip("torch")
    x = np.linspace(-12, 12, 100_001, dtype=np.float32)
    layer = nn.GELU()
    y = layer(x)
    dx = layer.backward(np.ones_like(x))
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    yt = torch.nn.functional.gelu(xt)
    yt.backward(torch.ones_like(xt))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=2e-6)


def test_float32_exp_of_the_gelu_derivative_is_within_two_ulp_of_exp():
    from numba import njit

    from minigrad.kernels.activation import _exp_neg_f32

    @njit
    def exp_neg(t, out):
        for k in range(t.size):
            out[k] = _exp_neg_f32(t[k])

    t = np.concatenate([np.linspace(0, 87, 1_000_001, dtype=np.float32),
                        np.array([87.5, 100.0, 1e4, np.inf], dtype=np.float32)])
    out = np.empty_like(t)
    exp_neg(t, out)
    assert out.dtype == np.float32
    exact = np.exp(-t[:-4].astype(np.float64))
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert (np.abs(out[:-4] - exact) <= 2 * ulp).all()
    assert (out[-4:] == 0).all()


def test_activations_keep_float32_and_stay_finite_for_huge_inputs():
    x = np.array([[-1e4, 0.0, 1e4]], dtype=np.float32)
    for name, (make, _) in LAYERS.items():
        layer = make()
        y = layer(x)
        dx = layer.backward(np.ones_like(y))
        assert y.dtype == dx.dtype == np.float32, name
        assert np.isfinite(y).all() and np.isfinite(dx).all(), name


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        nn.GELU("fast")


def test_activation_rejects_integer_input():
    with pytest.raises(TypeError, match=r"ReLU\(\) expects float32 or float64"):
        nn.ReLU()(np.arange(3))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", LAYERS)
def test_activation_backward_is_right_after_the_caller_modifies_the_output_in_place(name,
                                                                                    shape):
    x, dy = random_input(shape, scale=2.0), random_input(shape, seed=1)
    reference = LAYERS[name][0]()
    reference(x)
    expected = reference.backward(dy)
    layer = LAYERS[name][0]()
    layer(x)[...] = 5.0  # e.g. out += skip, done in place
    np.testing.assert_array_equal(layer.backward(dy), expected)


def test_relu_inplace_shows_in_repr_like_torch_and_leaves_the_input_alone():
    torch = pytest.importorskip("torch")
    assert repr(nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True)) == \
        "ReLU(inplace=True)"
    assert repr(nn.ReLU()) == repr(torch.nn.ReLU())
    x = np.array([-1.0, 2.0], np.float32)
    assert nn.ReLU(inplace=True)(x).tolist() == [0.0, 2.0] and x.tolist() == [-1.0, 2.0]
    with pytest.raises(TypeError, match="ReLU inplace must be True or False, got 1"):
        nn.ReLU(1)


def test_softmax_refuses_a_dim_out_of_range():
    with pytest.raises(IndexError, match=r"Softmax\(dim=2\): dim=2 is out of range for a 2-D"):
        nn.Softmax(dim=2)(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="LogSoftmax dim must be an int, got None"):
        nn.LogSoftmax(dim=None)
