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
        nn.CrossEntropyLoss(reduction="average")
    with pytest.raises(ValueError, match=r"weight has shape \(4,\), but the logits have 3"):
        nn.CrossEntropyLoss(weight=np.ones(4))(logits, np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="weight must be a 1-D real-valued array"):
        nn.CrossEntropyLoss(weight=np.ones((3, 1)))
    with pytest.raises(TypeError, match="ignore_index must be an int, got 1.0"):
        nn.CrossEntropyLoss(ignore_index=1.0)
    with pytest.raises(TypeError, match="label_smoothing must be a number"):
        nn.CrossEntropyLoss(label_smoothing="0.1")


def class_weights(classes, seed=5):
    return np.random.default_rng(seed).uniform(0.2, 2.0, classes)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignored", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_weight_ignore_index_and_smoothing_match_torch(reduction, smoothing,
                                                                     ignored, weighted, dtype):
    torch = pytest.importorskip("torch")
    logits = random_input((12, 5), scale=3.0, dtype=dtype)
    target = labels(12, 5)
    if ignored:
        target[[1, 4, 5]] = 3  # ignore_index=3 also checks that a valid class can be ignored
    kwargs = dict(ignore_index=3 if ignored else -100, reduction=reduction,
                  label_smoothing=smoothing)
    weight = class_weights(5).astype(dtype) if weighted else None
    ours = nn.CrossEntropyLoss(weight, **kwargs)
    theirs = torch.nn.CrossEntropyLoss(
        None if weight is None else torch.from_numpy(weight), **kwargs)
    xt = torch.tensor(logits, requires_grad=True)
    loss_t = theirs(xt, torch.from_numpy(target))
    loss = ours(logits, target)
    if reduction == "none":
        assert_close("losses", loss, loss_t, dtype)
        dy = random_input((12,), seed=9, dtype=dtype)
        grad = ours.backward(dy)
        loss_t.backward(torch.from_numpy(dy))
    else:
        assert isinstance(loss, float)
        assert loss == pytest.approx(loss_t.item(), rel=1e-10 if dtype == np.float64 else 1e-5)
        grad = ours.backward()
        loss_t.backward()
    assert_close("dL/dlogits", grad, xt.grad, dtype)


def test_weighted_ignoring_smoothed_cross_entropy_matches_finite_differences():
    logits, target = random_input((6, 4)), labels(6, 4, seed=2)
    target[2] = -1
    fn = nn.CrossEntropyLoss(class_weights(4), ignore_index=-1, label_smoothing=0.3).double()
    fn(logits, target)
    grad = fn.backward()
    eps, numeric = 1e-6, np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (fn(plus, target) - fn(minus, target)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=1e-8)
    assert not grad[2].any()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_of_an_empty_or_fully_ignored_batch_is_what_torch_gives(reduction):
    torch = pytest.importorskip("torch")
    for logits, target in [(np.zeros((0, 3)), np.zeros(0, np.int64)),
                           (random_input((2, 3)), np.array([-100, -100]))]:
        fn = nn.CrossEntropyLoss(reduction=reduction)
        loss = fn(logits, target)
        xt = torch.tensor(logits, requires_grad=True)
        loss_t = torch.nn.functional.cross_entropy(xt, torch.from_numpy(target),
                                                   reduction=reduction)
        loss_t.sum().backward()
        np.testing.assert_array_equal(loss, loss_t.detach().numpy())  # NaN == NaN here
        np.testing.assert_array_equal(fn.backward(np.ones(len(target)) if reduction == "none"
                                                  else 1.0), xt.grad.numpy())


def test_cross_entropy_weight_is_a_buffer_with_torchs_key_and_follows_the_dtype():
    torch = pytest.importorskip("torch")
    weight = class_weights(3)
    ours = nn.CrossEntropyLoss(weight)
    assert list(ours.state_dict()) == list(torch.nn.CrossEntropyLoss(
        torch.from_numpy(weight)).state_dict()) == ["weight"]
    assert ours.weight.dtype == np.float64 and list(nn.CrossEntropyLoss().state_dict()) == []
    assert nn.CrossEntropyLoss([1, 2, 3]).weight.dtype == np.float32
    logits = random_input((4, 3), dtype=np.float32)
    ours(logits, labels(4, 3))
    assert ours.backward().dtype == np.float32  # float64 weights do not upcast


def test_loss_gradient_is_the_callers_and_each_call_has_its_backward():
    fn = nn.CrossEntropyLoss()
    a, b = random_input((3, 4)), random_input((3, 4), seed=1)
    target = labels(3, 4)
    fn(a, target)
    expected_a = fn.backward()
    fn(a, target)
    fn(b, target)
    grad_b = fn.backward()
    grad_b[...] = 99.0  # the caller's to modify
    np.testing.assert_array_equal(fn.backward(), expected_a)
    with pytest.raises(RuntimeError, match=r"CrossEntropyLoss\(\): backward called before"):
        fn.backward()


def test_loss_backward_checks_its_upstream_gradient_and_keeps_the_context():
    fn = nn.MSELoss(reduction="none")
    fn(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"needs dy of the losses' shape \(2, 3\), got \(2,\)"):
        fn.backward(np.ones(2))
    np.testing.assert_array_equal(fn.backward(np.full((2, 3), 0.5)), np.full((2, 3), -1.0))
    reduced = nn.MSELoss()
    reduced(np.zeros(2), np.ones(2))
    with pytest.raises(TypeError, match="backward of a reduced loss takes a number"):
        reduced.backward(np.ones(2))
    np.testing.assert_array_equal(reduced.backward(2.0), [-2.0, -2.0])


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
