"""CrossEntropyLoss, NLLLoss and BCEWithLogitsLoss (nn/loss.py) against torch and finite
differences."""

import numpy as np
import pytest

from minigrad import nn
from tests.nn.cases import loss_numerical_gradient, random_input
from tests.parity import assert_close, assert_loss_parity

REDUCTIONS = ["mean", "sum", "none"]
CLASS_WEIGHTS = np.array([0.5, 2.0, 1.0, 3.0])


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
    np.testing.assert_allclose(grad, loss_numerical_gradient(fn, logits, target), atol=1e-8)


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
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
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
    np.testing.assert_allclose(grad, loss_numerical_gradient(fn, logits, target), atol=1e-8)
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


def nll_case(shape, ignore=-100, seed=0):
    """Log-probabilities of shape (N, C, ...) and targets with some ``ignore`` entries."""
    g = np.random.default_rng(seed)
    logits = g.standard_normal(shape) * 2
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    target = g.integers(0, shape[1], (shape[0],) + shape[2:])
    target.reshape(-1)[::3] = ignore
    return log_probs, target


NLL_CASES = [
    ((8, 4), {}),
    ((8, 4), dict(weight=CLASS_WEIGHTS)),
    ((3, 4, 2, 5), dict(weight=CLASS_WEIGHTS)),
    ((5, 4, 3), dict(ignore_index=2)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape,kwargs", NLL_CASES, ids=[str(c) for c in range(len(NLL_CASES))])
def test_nll_loss_matches_torch(shape, kwargs, reduction, dtype):
    torch = pytest.importorskip("torch")
    log_probs, target = nll_case(shape, kwargs.get("ignore_index", -100))
    torch_kwargs = dict(kwargs)
    if "weight" in kwargs:
        torch_kwargs["weight"] = torch.from_numpy(kwargs["weight"])
    assert_loss_parity(nn.NLLLoss(**kwargs, reduction=reduction),
                       torch.nn.NLLLoss(**torch_kwargs, reduction=reduction), log_probs,
                       target, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_gradient_matches_finite_differences(reduction):
    log_probs, target = nll_case((3, 4, 2))
    fn = nn.NLLLoss(CLASS_WEIGHTS, reduction=reduction)
    dy = random_input(target.shape, seed=3) if reduction == "none" else None
    fn(log_probs, target)
    grad = fn.backward() if dy is None else fn.backward(dy)
    np.testing.assert_allclose(grad, loss_numerical_gradient(fn, log_probs, target, dy),
                               atol=1e-8)


def test_nll_loss_with_every_target_ignored_is_nan_with_zero_gradient_like_torch():
    torch = pytest.importorskip("torch")
    log_probs = random_input((3, 4))
    target = np.full(3, -100)
    fn = nn.NLLLoss()
    assert np.isnan(fn(log_probs, target))
    assert not fn.backward().any()
    assert torch.nn.NLLLoss()(torch.from_numpy(log_probs), torch.from_numpy(target)).isnan()


def test_nll_loss_of_log_softmax_is_cross_entropy():
    logits, target = random_input((6, 5), scale=3.0), np.array([0, 4, 2, 2, 1, 3])
    log_softmax, nll, cross_entropy = nn.LogSoftmax(dim=1), nn.NLLLoss(), nn.CrossEntropyLoss()
    assert nll(log_softmax(logits), target) == pytest.approx(cross_entropy(logits, target),
                                                             rel=1e-12)
    np.testing.assert_allclose(log_softmax.backward(nll.backward()), cross_entropy.backward(),
                               atol=1e-15)


def test_nll_loss_weight_is_a_buffer_with_torch_key_and_follows_the_dtype():
    torch = pytest.importorskip("torch")
    fn = nn.NLLLoss(weight=[1, 2, 3])
    assert list(fn.state_dict()) == list(torch.nn.NLLLoss(torch.ones(3)).state_dict())
    assert fn.weight.dtype == np.float32 and fn.double().weight.dtype == np.float64
    assert nn.NLLLoss().state_dict() == {}
    assert repr(fn) == "NLLLoss()"


def test_nll_loss_errors():
    fn = nn.NLLLoss()
    log_probs = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\) or equal "
                                         r"ignore_index=-100, got values from -1 to 2"):
        fn(log_probs, np.array([0, -1, 2, -100]))
    with pytest.raises(TypeError, match="expects integer class targets, got dtype float64"):
        fn(log_probs, np.zeros(4))
    with pytest.raises(ValueError, match=r"expected targets of shape \(4,\) for input of shape "
                                         r"\(4, 3\), got \(4, 1\)"):
        fn(log_probs, np.zeros((4, 1), np.int64))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C\) or \(N, C, d1, "
                                         r"...\), got input of shape \(3,\)"):
        fn(np.zeros(3, np.float32), np.zeros((), np.int64))
    with pytest.raises(ValueError, match=r"weight of shape \(2,\) does not match the 3 classes"):
        nn.NLLLoss([1.0, 2.0])(log_probs, np.zeros(4, np.int64))
    with pytest.raises(TypeError, match=r"weight must be a 1-D real-valued array, got float64 "
                                        r"of shape \(2, 2\)"):
        nn.NLLLoss(np.ones((2, 2)))
    with pytest.raises(TypeError, match="ignore_index must be an int, got 0.5"):
        nn.NLLLoss(ignore_index=0.5)


def bce_case(shape, seed=0, scale=3.0):
    g = np.random.default_rng(seed)
    return g.standard_normal(shape) * scale, g.uniform(0, 1, shape).round(1)


BCE_CASES = [
    ((6, 4), {}),
    ((6, 4), dict(pos_weight=np.array([1.0, 3.0, 0.5, 2.0]))),
    ((6, 4), dict(weight=np.array([0.5, 1.0, 2.0, 1.5]), pos_weight=np.array([2.0]))),
    ((3, 4, 2, 2), dict(weight=np.linspace(0.1, 1, 8).reshape(4, 2, 1))),
    ((7,), dict(pos_weight=np.array(2.5))),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape,kwargs", BCE_CASES, ids=[str(c) for c in range(len(BCE_CASES))])
def test_bce_with_logits_matches_torch(shape, kwargs, reduction, dtype):
    torch = pytest.importorskip("torch")
    logits, target = bce_case(shape)
    torch_kwargs = {k: torch.from_numpy(np.asarray(v)) for k, v in kwargs.items()}
    assert_loss_parity(nn.BCEWithLogitsLoss(**kwargs, reduction=reduction),
                       torch.nn.BCEWithLogitsLoss(**torch_kwargs, reduction=reduction),
                       logits, target, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_gradient_matches_finite_differences(reduction):
    logits, target = bce_case((4, 3))
    fn = nn.BCEWithLogitsLoss(np.array([1.0, 0.5, 2.0]), pos_weight=np.array([3.0, 1.0, 0.2]),
                              reduction=reduction)
    dy = random_input((4, 3), seed=3) if reduction == "none" else None
    fn(logits, target)
    grad = fn.backward() if dy is None else fn.backward(dy)
    np.testing.assert_allclose(grad, loss_numerical_gradient(fn, logits, target, dy), atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_is_exact_and_finite_for_logits_of_1e4(dtype):
    torch = pytest.importorskip("torch")
    logits = np.array([1e4, -1e4, 1e4, -1e4, 0.0])
    target = np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    fn = nn.BCEWithLogitsLoss(pos_weight=np.array(2.0), reduction="none")
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        losses, grad = assert_loss_parity(
            fn, torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(2.0), reduction="none"),
            logits, target, dtype)
    np.testing.assert_allclose(losses[:4], [0, 0, 1e4, 2e4], rtol=1e-6)
    assert np.isfinite(grad).all()


def test_bce_with_logits_buffers_have_torch_keys():
    torch = pytest.importorskip("torch")
    ours = nn.BCEWithLogitsLoss(np.ones(3), pos_weight=np.ones(3))
    theirs = torch.nn.BCEWithLogitsLoss(torch.ones(3), pos_weight=torch.ones(3))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(nn.BCEWithLogitsLoss().state_dict()) == []
    assert repr(ours) == repr(theirs)


def test_bce_with_logits_errors():
    fn = nn.BCEWithLogitsLoss(pos_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) does not broadcast to the "
                                         r"input shape \(2, 4\)"):
        fn(np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"target shape \(2,\) differs from output shape "
                                         r"\(2, 1\)"):
        nn.BCEWithLogitsLoss()(np.zeros((2, 1)), np.zeros(2))
    with pytest.raises(TypeError, match="pos_weight must be a real-valued array, got <U1"):
        nn.BCEWithLogitsLoss(pos_weight="a")
    fn = nn.BCEWithLogitsLoss(reduction="none")
    fn(np.zeros(2, np.float32), np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r"backward needs dy of the losses' shape \(2,\), got "
                                         r"\(3,\)"):
        fn.backward(np.ones(3, np.float32))
