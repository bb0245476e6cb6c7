"""Gradient clipping against torch.nn.utils: the same total norm and the same gradients."""

import warnings

import numpy as np
import pytest

from minigrad import nn
from minigrad.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from tests.parity import assert_close

SHAPES = [(4, 3), (3,), (2, 3, 2), (1,)]
NORM_TYPES = [2.0, 1, 3.5, 0.5, float("inf"), "inf", float("-inf"), 0, -1.0]
# float32 norms are sums of squares: torch and numpy round them differently, by an ulp.
FLOAT32_NORM = dict(rtol=2e-6, atol=0)


def parameters_with_gradients(dtype=np.float64, seed=0, scale=1.0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    params = [nn.Parameter(np.zeros(shape, dtype=dtype)) for shape in shapes]
    for p in params:
        p.grad[...] = scale * rng.standard_normal(p.shape)
    return params


def torch_twins(params):
    import torch

    tensors = [torch.zeros(p.shape, dtype=getattr(torch, p.dtype.name), requires_grad=True)
               for p in params]
    for t, p in zip(tensors, params, strict=True):
        t.grad = torch.from_numpy(p.grad.copy())
    return tensors


def assert_same(ours, theirs, dtype):
    """tests/parity.py's comparison (dtype checked, NaN equal to NaN), gradients' scale."""
    assert_close("clipping", ours, theirs, dtype, scale_atol=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("max_norm", [0.5, 1e6], ids=["clips", "no_clip"])
@pytest.mark.parametrize("norm_type", NORM_TYPES, ids=str)
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype):
    torch = pytest.importorskip("torch")
    params = parameters_with_gradients(dtype)
    tensors = torch_twins(params)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    reference = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type=norm_type)
    assert isinstance(total, np.ndarray) and total.shape == ()
    assert_same(total, reference, dtype)
    for p, t in zip(params, tensors, strict=True):
        assert_same(p.grad, t.grad, dtype)


def test_clipped_gradients_have_the_requested_norm_and_keep_their_direction():
    params = parameters_with_gradients(scale=10.0)
    before = np.concatenate([p.grad.ravel() for p in params])
    total = clip_grad_norm_(params, max_norm=2.0)
    after = np.concatenate([p.grad.ravel() for p in params])
    np.testing.assert_allclose(float(total), np.linalg.norm(before), rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(after), 2.0, rtol=1e-5)
    np.testing.assert_allclose(after / np.linalg.norm(after), before / np.linalg.norm(before))


def test_clip_grad_norm_never_scales_gradients_up():
    params = parameters_with_gradients(scale=1e-3)
    before = [p.grad.copy() for p in params]
    clip_grad_norm_(params, max_norm=1.0)
    for p, grad in zip(params, before, strict=True):
        np.testing.assert_array_equal(p.grad, grad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("norm_type", [2.0, float("inf")], ids=str)
def test_non_finite_gradients_are_scaled_as_torch_does_or_refused(bad, norm_type):
    torch = pytest.importorskip("torch")
    params = parameters_with_gradients()
    params[1].grad[0] = bad
    tensors = torch_twins(params)
    total = clip_grad_norm_(params, 1.0, norm_type=norm_type)
    reference = torch.nn.utils.clip_grad_norm_(tensors, 1.0, norm_type=norm_type)
    assert_same(total, reference, np.float64)
    for p, t in zip(params, tensors, strict=True):
        assert_same(p.grad, t.grad, np.float64)

    params = parameters_with_gradients()
    params[1].grad[0] = bad
    before = [p.grad.copy() for p in params]
    with pytest.raises(RuntimeError, match=r"^The total norm of order .* for gradients from "
                                           r"`parameters` is non-finite, so it cannot be "
                                           r"clipped"):
        clip_grad_norm_(params, 1.0, norm_type=norm_type, error_if_nonfinite=True)
    for p, grad in zip(params, before, strict=True):
        np.testing.assert_array_equal(p.grad, grad)  # refused before touching anything


def test_clip_grad_norm_takes_a_single_parameter_a_generator_or_a_model():
    model = nn.Linear(3, 2, dtype=np.float64)
    for p in model.parameters():
        p.grad[...] = 3.0
    total = clip_grad_norm_(model.parameters(), 1.0)
    np.testing.assert_allclose(float(total), 3.0 * np.sqrt(8))
    single = nn.Parameter(np.zeros(2))
    single.grad[:] = [3.0, 4.0]
    assert float(clip_grad_norm_(single, 1.0)) == 5.0
    np.testing.assert_allclose(single.grad, [0.6, 0.8], rtol=1e-6)


def test_clip_grad_norm_of_nothing_is_zero_and_an_empty_generator_warns_as_torch():
    total = clip_grad_norm_([], 1.0)
    assert total.dtype == np.float32 and float(total) == 0.0
    with pytest.warns(UserWarning, match=r"`parameters` is an empty generator, no gradient "
                                         r"clipping will occur"):
        clip_grad_norm_((p for p in []), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip_grad_norm_([], 1.0)  # an empty list is not a generator: no warning, as torch


def test_mixed_dtypes_give_the_promoted_norm_and_keep_each_gradients_dtype():
    torch = pytest.importorskip("torch")
    params = parameters_with_gradients(np.float32, shapes=[(3,), (2,)])
    params += parameters_with_gradients(np.float64, seed=1, shapes=[(4,)])
    tensors = torch_twins(params)
    total = clip_grad_norm_(params, 0.1)
    reference = torch.nn.utils.clip_grad_norm_(tensors, 0.1)
    assert total.dtype == np.float64  # float32 norms of the float32 gradients, promoted
    np.testing.assert_allclose(total, reference.numpy(), **FLOAT32_NORM)
    for p, t in zip(params, tensors, strict=True):
        assert p.grad.dtype == p.dtype  # each gradient keeps its own dtype
        np.testing.assert_allclose(p.grad, t.grad.numpy(), **FLOAT32_NORM)


def test_get_total_norm_and_clip_grads_with_norm_match_torch():
    torch = pytest.importorskip("torch")
    params = parameters_with_gradients(scale=5.0)
    tensors = torch_twins(params)
    total = get_total_norm([p.grad for p in params], norm_type=3.0)
    reference = torch.nn.utils.get_total_norm([t.grad for t in tensors], norm_type=3.0)
    assert_same(total, reference, np.float64)
    clip_grads_with_norm_(params, 2.0, total)
    torch.nn.utils.clip_grads_with_norm_(tensors, 2.0, reference)
    for p, t in zip(params, tensors, strict=True):
        assert_same(p.grad, t.grad, np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("clip_value", [0.0, 0.3, 1e3])
def test_clip_grad_value_matches_torch(clip_value, dtype):
    torch = pytest.importorskip("torch")
    params = parameters_with_gradients(dtype)
    params[0].grad[0, 0] = np.nan
    tensors = torch_twins(params)
    arrays = [p.grad for p in params]
    clip_grad_value_(params, clip_value)
    torch.nn.utils.clip_grad_value_(tensors, clip_value)
    for p, t, array in zip(params, tensors, arrays, strict=True):
        assert p.grad is array  # in place
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
        assert p.grad.dtype == dtype


def test_clip_grad_value_takes_a_single_parameter():
    p = nn.Parameter(np.zeros(3))
    p.grad[:] = [-5.0, 0.5, 5.0]
    clip_grad_value_(p, 1.0)
    np.testing.assert_array_equal(p.grad, [-1.0, 0.5, 1.0])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda ps: clip_grad_norm_(ps, -1.0), ValueError,
         "clip_grad_norm_: max_norm must be a number >= 0, got -1.0"),
        (lambda ps: clip_grad_norm_(ps, float("nan")), ValueError, "max_norm must be a number"),
        (lambda ps: clip_grad_norm_(ps, "1"), TypeError, "max_norm must be a number >= 0"),
        (lambda ps: clip_grad_norm_(ps, 1.0, norm_type="two"), ValueError,
         "norm_type must be a number or 'inf', got 'two'"),
        (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=float("nan")), ValueError,
         "norm_type must be a number, got nan"),
        (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=True), TypeError, "norm_type must be"),
        (lambda ps: clip_grad_norm_([ps[0], ps[0].grad], 1.0), TypeError,
         r"parameters\[1\] must be a Parameter \(with a .grad array\), got ndarray"),
        (lambda ps: clip_grad_norm_(3, 1.0), TypeError,
         "parameters must be a Parameter or an iterable of Parameters, got int"),
        (lambda ps: clip_grad_value_(ps, -0.5), ValueError,
         "clip_grad_value_: clip_value must be a number >= 0, got -0.5"),
        (lambda ps: clip_grad_norm_([nn.Parameter(np.zeros(0))], 1.0, norm_type="inf"),
         ValueError, "array 0 is empty: its inf norm is undefined"),
    ],
)
def test_clipping_rejects_bad_arguments_before_touching_any_gradient(call, error, message):
    params = parameters_with_gradients()
    before = [p.grad.copy() for p in params]
    with pytest.raises(error, match=message):
        call(params)
    for p, grad in zip(params, before, strict=True):
        np.testing.assert_array_equal(p.grad, grad)


def test_clipping_is_reachable_as_minigrad_nn_utils():
    import minigrad

    assert minigrad.nn.utils.clip_grad_norm_ is clip_grad_norm_
