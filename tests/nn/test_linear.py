import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck
from tests.nn.cases import generator, random_input
from tests.parity import assert_torch_parity

CASES = [(5, 3, True, (4, 5)), (7, 2, False, (1, 7)), (3, 6, True, (2, 4, 3))]


@pytest.mark.parametrize("case", CASES)
def test_linear_gradients_match_finite_differences(case):
    n_in, n_out, bias, shape = case
    layer = nn.Linear(n_in, n_out, bias=bias, generator=generator()).double()
    assert gradcheck(layer, random_input(shape))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES)
def test_linear_matches_torch(case, dtype):
    torch = pytest.importorskip("torch")
    n_in, n_out, bias, shape = case
    assert_torch_parity(nn.Linear(n_in, n_out, bias=bias, generator=generator()),
                        torch.nn.Linear(n_in, n_out, bias=bias), random_input(shape), dtype)


def test_linear_default_init_matches_torch_distribution():
    layer = nn.Linear(400, 300, generator=generator())
    bound = 1 / np.sqrt(400)
    w = layer.weight.data
    assert np.abs(w).max() <= bound and np.abs(layer.bias.data).max() <= bound
    # U(-b, b) has standard deviation b / sqrt(3)
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01 * bound


def test_linear_error_names_expected_and_actual_shape():
    layer = nn.Linear(1152, 256)
    with pytest.raises(ValueError, match=r"Linear\(in_features=1152\) got input of shape "
                                         r"\(512, 1000\)"):
        layer(np.zeros((512, 1000), np.float32))
    with pytest.raises(TypeError, match="expects float32 or float64 input, got dtype int64"):
        layer(np.zeros((2, 1152), np.int64))
    with pytest.raises(TypeError, match="expects a numpy ndarray, got list"):
        layer([[0.0] * 1152])


def test_linear_backward_checks_gradient_shape():
    layer = nn.Linear(3, 2)
    layer(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected a gradient of shape \(4, 2\)"):
        layer.backward(np.zeros((4, 3), np.float32))


def test_backward_accumulates_into_grad():
    layer = nn.Linear(3, 2, generator=generator()).double()
    x = random_input((4, 3))
    layer(x)
    layer.backward(np.ones((4, 2)))
    once = layer.weight.grad.copy()
    layer(x)  # each backward consumes one forward
    layer.backward(np.ones((4, 2)))
    np.testing.assert_allclose(layer.weight.grad, 2 * once)
    layer.zero_grad()
    assert not layer.weight.grad.any()


def test_flatten_and_identity_pass_gradients_through():
    x = random_input((2, 3, 4, 5))
    flat = nn.Flatten()
    assert flat(x).shape == (2, 60)
    np.testing.assert_array_equal(flat.backward(np.ones((2, 60))), np.ones(x.shape))
    assert gradcheck(nn.Flatten(0, 1), x)
    assert nn.Identity()(x) is x and nn.Identity().backward(x) is x


def test_linear_rejects_bad_sizes_and_bias_naming_the_argument():
    with pytest.raises(ValueError, match="Linear: in_features must be an int >= 1, got -1"):
        nn.Linear(-1, 3)
    with pytest.raises(ValueError, match="Linear: out_features must be an int >= 1, got 0"):
        nn.Linear(3, 0)
    with pytest.raises(TypeError, match="Linear: in_features must be an int >= 1, got 2.5"):
        nn.Linear(2.5, 3)
    with pytest.raises(TypeError, match="Linear: bias must be True or False, got 'no'"):
        nn.Linear(2, 3, bias="no")


def test_flatten_refuses_dims_out_of_range_instead_of_wrapping_around():
    x = np.zeros((2, 3, 4, 5), np.float32)
    with pytest.raises(IndexError, match=r"Flatten\(start_dim=5, end_dim=-1\): start_dim=5 is "
                                         r"out of range for a 4-D input \(expected a dim in "
                                         r"\[-4, 3\]\)"):
        nn.Flatten(start_dim=5)(x)
    with pytest.raises(IndexError, match="end_dim=-5 is out of range"):
        nn.Flatten(0, -5)(x)
    with pytest.raises(ValueError, match="start_dim must not come after end_dim"):
        nn.Flatten(2, 1)(x)
    with pytest.raises(TypeError, match="Flatten: start_dim must be an int, got '1'"):
        nn.Flatten("1")
    assert nn.Flatten(-3, -2)(x).shape == (2, 12, 5)


def test_flatten_backward_checks_gradient_shape():
    flat = nn.Flatten()
    flat(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected a gradient of shape \(2, 12\)"):
        flat.backward(np.zeros((2, 3, 4), np.float32))
