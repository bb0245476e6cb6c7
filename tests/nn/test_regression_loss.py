import numpy as np
import pytest

from minigrad import nn
from tests.nn.cases import loss_numerical_gradient, random_input
from tests.parity import assert_close, assert_loss_parity

LOSSES = {
    "L1Loss": ({}, {}),
    "SmoothL1Loss": ({}, {}),
    "SmoothL1Loss-beta0.5": (dict(beta=0.5), dict(beta=0.5)),
    "SmoothL1Loss-beta0": (dict(beta=0.0), dict(beta=0.0)),
    "SmoothL1Loss-beta2": (dict(beta=2.0), dict(beta=2.0)),
    "HuberLoss": ({}, {}),
    "HuberLoss-delta0.3": (dict(delta=0.3), dict(delta=0.3)),
    "HuberLoss-delta2.5": (dict(delta=2.5), dict(delta=2.5)),
}
REDUCTIONS = ["mean", "sum", "none"]
SHAPES = [(6, 3), (2, 3, 4, 2), ()]


def build(name, reduction="mean", torch=None):
    ours_kwargs, torch_kwargs = LOSSES[name]
    cls = name.split("-")[0]
    ours = getattr(nn, cls)(reduction=reduction, **ours_kwargs)
    return ours if torch is None else (ours, getattr(torch.nn, cls)(reduction=reduction,
                                                                     **torch_kwargs))


def pair_of_arrays(shape, dtype=np.float64):
    # differences of up to a few units: both sides of every beta and delta above
    return (np.asarray(random_input(shape, seed=1, scale=2.0, dtype=dtype)),
            np.asarray(random_input(shape, seed=2, dtype=dtype)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_regression_loss_matches_torch(name, reduction, shape, dtype):
    torch = pytest.importorskip("torch")
    ours, theirs = build(name, reduction, torch)
    assert_loss_parity(ours, theirs, *pair_of_arrays(shape), dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_regression_loss_gradient_matches_finite_differences(name, reduction):
    fn = build(name, reduction)
    output, target = pair_of_arrays((4, 5))
    dy = random_input((4, 5), seed=3) if reduction == "none" else None
    fn(output, target)
    grad = fn.backward() if dy is None else fn.backward(dy)
    np.testing.assert_allclose(grad, loss_numerical_gradient(fn, output, target, dy),
                               atol=1e-8)


@pytest.mark.parametrize("name", LOSSES)
def test_regression_loss_matches_torch_at_zero_and_at_the_threshold(name):
    torch = pytest.importorskip("torch")
    ours, theirs = build(name, "none", torch)
    threshold = ours.__dict__.get("beta", ours.__dict__.get("delta", 1.0))
    output = np.array([0.0, threshold, -threshold, 1e4, -1e4])
    assert_loss_parity(ours, theirs, output, np.zeros_like(output))


@pytest.mark.parametrize("name", LOSSES)
def test_regression_loss_keeps_float32(name):
    fn = build(name, "none")
    output, target = pair_of_arrays((3, 2), np.float32)
    assert fn(output, target).dtype == np.float32
    assert fn.backward(np.ones((3, 2), np.float32)).dtype == np.float32
    fn = build(name)
    assert isinstance(fn(output, target), float)
    assert fn.backward().dtype == np.float32


def test_loss_used_on_two_outputs_gives_each_its_gradient():
    fn = nn.L1Loss(reduction="sum")
    target = np.zeros(3)
    fn(np.array([1.0, -2.0, 3.0]), target)
    fn(np.array([-1.0, -1.0, 1.0]), target)
    np.testing.assert_array_equal(fn.backward(2.0), [-2.0, -2.0, 2.0])
    np.testing.assert_array_equal(fn.backward(), [1.0, -1.0, 1.0])


def test_regression_loss_reprs_equal_torch():
    torch = pytest.importorskip("torch")
    for name in LOSSES:
        ours, theirs = build(name, "sum", torch)
        assert repr(ours) == repr(theirs)


def test_regression_loss_errors():
    with pytest.raises(ValueError, match=r"L1Loss\(\): target shape \(3,\) differs from output "
                                         r"shape \(3, 1\)"):
        nn.L1Loss()(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(TypeError, match="expects a real-valued ndarray target, got list"):
        nn.HuberLoss()(np.zeros(2), [0.0, 1.0])
    with pytest.raises(TypeError, match="expects float32 or float64 input, got dtype int64"):
        nn.SmoothL1Loss()(np.zeros(2, np.int64), np.zeros(2))
    with pytest.raises(ValueError, match="L1Loss: reduction must be 'mean', 'sum' or 'none', "
                                         "got 'avg'"):
        nn.L1Loss(reduction="avg")
    with pytest.raises(ValueError, match="SmoothL1Loss: beta must be a number >= 0, "
                                         "got -1"):
        nn.SmoothL1Loss(beta=-1)
    with pytest.raises(ValueError, match="HuberLoss: delta must be a number > 0, got 0"):
        nn.HuberLoss(delta=0)
    fn = nn.HuberLoss(reduction="none")
    fn(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"reduction='none': backward needs dy of the losses' "
                                         r"shape \(2, 2\), got float"):
        fn.backward()
    with pytest.raises(RuntimeError, match="no forward of this module is left to match"):
        nn.L1Loss().backward()
    fn = nn.L1Loss()
    fn(np.zeros(2), np.zeros(2))
    with pytest.raises(TypeError, match=r"L1Loss\(\): backward of a reduced loss takes a number, "
                                        r"got ndarray"):
        fn.backward(np.ones(2))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mse_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    out, target = random_input((6, 3), dtype=dtype), random_input((6, 3), seed=1, dtype=dtype)
    ours = nn.MSELoss()
    loss = ours(out, target)
    xt = torch.tensor(out, requires_grad=True)
    expected = torch.nn.MSELoss()(xt, torch.from_numpy(target))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-10 if dtype == np.float64 else 1e-5)
    assert_close("dL/doutput", ours.backward(), xt.grad, dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_reductions_match_torch(reduction):
    torch = pytest.importorskip("torch")
    out, target = random_input((4, 3)), random_input((4, 3), seed=1)
    ours = nn.MSELoss(reduction=reduction)
    loss = ours(out, target)
    xt = torch.tensor(out, requires_grad=True)
    loss_t = torch.nn.MSELoss(reduction=reduction)(xt, torch.from_numpy(target))
    dy = random_input((4, 3), seed=2)
    if reduction == "none":
        assert_close("losses", loss, loss_t, np.float64)
        grad = ours.backward(dy)
        loss_t.backward(torch.from_numpy(dy))
    else:
        assert loss == pytest.approx(loss_t.item(), rel=1e-12)
        grad = ours.backward()
        loss_t.backward()
    assert_close("dL/doutput", grad, xt.grad, np.float64)
    if reduction == "mean":  # an empty batch: NaN, as torch
        assert np.isnan(ours(np.zeros(0), np.zeros(0)))
