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
RECTIFIERS = {
    "LeakyReLU": (lambda: nn.LeakyReLU(), lambda t: t.nn.LeakyReLU()),
    "LeakyReLU-0.2": (lambda: nn.LeakyReLU(0.2), lambda t: t.nn.LeakyReLU(0.2)),
    "LeakyReLU-steep": (lambda: nn.LeakyReLU(-1.5), lambda t: t.nn.LeakyReLU(-1.5)),
    "ELU": (lambda: nn.ELU(), lambda t: t.nn.ELU()),
    "ELU-0.5": (lambda: nn.ELU(alpha=0.5), lambda t: t.nn.ELU(alpha=0.5)),
    "SiLU": (lambda: nn.SiLU(), lambda t: t.nn.SiLU()),
}
EVERY = {**LAYERS, **RECTIFIERS}
SHAPES = [(4, 7), (2, 3, 5, 3)]
# (name, shape): the elementwise rectifiers take 0-d input too
CASES = [(name, shape) for name in LAYERS for shape in SHAPES] + \
    [(name, shape) for name in RECTIFIERS for shape in SHAPES + [()]]


@pytest.mark.parametrize("name,shape", CASES)
def test_activation_gradients_match_finite_differences(name, shape):
    # scale 2 keeps |x| well away from the kinks at 0 relative to the finite-difference step
    x = np.asarray(random_input(shape, scale=2.0))
    assert gradcheck(EVERY[name][0](), x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,shape", CASES)
def test_activation_matches_torch(name, shape, dtype):
    torch = pytest.importorskip("torch")
    ours, theirs = EVERY[name]
    assert_torch_parity(ours(), theirs(torch), np.asarray(random_input(shape, scale=3.0)), dtype)


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
    for name, (make, _) in EVERY.items():
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


@pytest.mark.parametrize("name,shape", [case for case in CASES if case[1]])
def test_activation_backward_is_right_after_the_caller_modifies_the_output_in_place(name,
                                                                                    shape):
    x, dy = np.asarray(random_input(shape, scale=2.0)), np.asarray(random_input(shape, seed=1))
    reference = EVERY[name][0]()
    reference(x)
    expected = reference.backward(dy)
    layer = EVERY[name][0]()
    layer(x)[...] = 5.0  # e.g. out += skip, done in place
    np.testing.assert_array_equal(layer.backward(dy), expected)


def test_relu_inplace_shows_in_repr_like_torch_and_leaves_the_input_alone():
    torch = pytest.importorskip("torch")
    assert repr(nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True)) == \
        "ReLU(inplace=True)"
    assert repr(nn.ReLU()) == repr(torch.nn.ReLU())
    x = np.array([-1.0, 2.0], np.float32)
    assert nn.ReLU(inplace=True)(x).tolist() == [0.0, 2.0] and x.tolist() == [-1.0, 2.0]
    with pytest.raises(TypeError, match="ReLU: inplace must be True or False, got 1"):
        nn.ReLU(1)


def test_softmax_refuses_a_dim_out_of_range():
    with pytest.raises(IndexError, match=r"Softmax\(dim=2\): dim=2 is out of range for a 2-D"):
        nn.Softmax(dim=2)(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="LogSoftmax: dim must be an int, got None"):
        nn.LogSoftmax(dim=None)


@pytest.mark.parametrize("name", RECTIFIERS)
def test_rectifier_matches_torch_at_zero_and_at_huge_inputs(name):
    torch = pytest.importorskip("torch")
    ours, theirs = RECTIFIERS[name]
    x = np.array([0.0, -0.0, 1e4, -1e4, 88.0, -88.0, 1e-30, -1e-30])
    with np.errstate(over="raise", invalid="raise"):  # no overflow on the way
        assert_torch_parity(ours(), theirs(torch), x, np.float64)
        assert_torch_parity(ours(), theirs(torch), x, np.float32)


@pytest.mark.parametrize("name", RECTIFIERS)
def test_rectifier_keeps_float32(name):
    layer = RECTIFIERS[name][0]()
    x = random_input((3, 4), dtype=np.float32)
    assert layer(x).dtype == np.float32
    assert layer.backward(np.ones((3, 4), np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", RECTIFIERS)
def test_rectifier_shared_by_two_calls_gives_each_call_its_gradient(name):
    layer = RECTIFIERS[name][0]()
    a, b = random_input((5,), seed=1), random_input((5,), seed=2)
    layer(a)
    layer(b)
    dy = random_input((5,), seed=3)
    grad_b, grad_a = layer.backward(dy), layer.backward(dy)
    np.testing.assert_array_equal(grad_a, _single_call_gradient(RECTIFIERS[name][0], a, dy))
    np.testing.assert_array_equal(grad_b, _single_call_gradient(RECTIFIERS[name][0], b, dy))


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
    with pytest.raises(TypeError, match="ELU: alpha must be a number, got 'big'"):
        nn.ELU("big")
    with pytest.raises(TypeError, match="negative_slope must be a number, got True"):
        nn.LeakyReLU(True)
    layer = nn.ELU()
    layer(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"ELU\(alpha=1.0\): backward expected a gradient of "
                                         r"shape \(2, 3\).*got \(3, 2\)"):
        layer.backward(np.zeros((3, 2)))
    with pytest.raises(RuntimeError, match="no forward of this module is left to match"):
        nn.SiLU().backward(np.zeros(3))
