import numpy as np
import pytest

from minigrad import nn
from tests.nn.cases import random_input
from tests.parity import assert_close


def labels(n, classes, seed=0):
    return np.random.default_rng(seed).integers(0, classes, n)


def torch_loss(torch, fn, logits, target):
    xt = torch.tensor(logits, requires_grad=True)
    loss = fn(xt, torch.from_numpy(target))
    loss.backward()
    return loss.item(), xt.grad


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_matches_torch(smoothing, reduction, dtype):
    torch = pytest.importorskip("torch")
    logits = random_input((16, 10), scale=3.0, dtype=dtype)
    target = labels(16, 10)
    ours = nn.CrossEntropyLoss(label_smoothing=smoothing, reduction=reduction)
    loss = ours(logits, target)
    expected, grad = torch_loss(torch, torch.nn.CrossEntropyLoss(
        label_smoothing=smoothing, reduction=reduction), logits, target)
    assert isinstance(loss, float)
    assert loss == pytest.approx(expected, rel=1e-10 if dtype == np.float64 else 1e-5)
    assert_close("dL/dlogits", ours.backward(), grad, dtype)


def test_cross_entropy_stays_finite_for_huge_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype=np.float32)
    fn = nn.CrossEntropyLoss()
    assert fn(logits, np.array([1, 1])) == pytest.approx(1e4, rel=1e-6)
    assert np.isfinite(fn.backward()).all()
    assert fn(logits, np.array([0, 1])) == 0.0


def test_cross_entropy_gradient_matches_finite_differences():
    logits, target = random_input((5, 4)), labels(5, 4)
    fn = nn.CrossEntropyLoss(label_smoothing=0.2)
    fn(logits, target)
    grad = fn.backward()
    eps, numeric = 1e-6, np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (fn(plus, target) - fn(minus, target)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=1e-8)


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


def test_cross_entropy_errors():
    fn = nn.CrossEntropyLoss()
    logits = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\), got values from 0 to 3"):
        fn(logits, np.array([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="integer class targets, got float"):
        fn(logits, np.zeros(4))
    with pytest.raises(ValueError, match=r"targets of shape \(4,\)"):
        fn(logits, np.zeros(5, np.int64))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.CrossEntropyLoss().backward()
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.CrossEntropyLoss(reduction="none")
