"""ReducedLoss (nn/loss_reduction.py): one context per call, the backward's upstream gradient
checked, and every loss a module call like any layer's."""

import numpy as np
import pytest

from minigrad import nn
from tests.nn.cases import random_input


def test_loss_gradient_is_the_callers_and_each_call_has_its_backward():
    fn = nn.CrossEntropyLoss()
    a, b = random_input((3, 4)), random_input((3, 4), seed=1)
    target = np.random.default_rng(0).integers(0, 4, 3)
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


def _scored(loss):
    """``loss`` and an (output, target) pair it accepts: float64 (3, 4), targets to match."""
    output = random_input((3, 4))
    if isinstance(loss, (nn.CrossEntropyLoss, nn.NLLLoss)):
        return output, np.array([0, 3, 1])
    return output, random_input((3, 4), seed=1).clip(0, 1)


LOSSES = [nn.CrossEntropyLoss, nn.NLLLoss, nn.BCEWithLogitsLoss, nn.MSELoss, nn.L1Loss,
          nn.SmoothL1Loss, nn.HuberLoss]


@pytest.mark.parametrize("loss_class", LOSSES, ids=lambda c: c.__name__)
def test_every_loss_keeps_its_context_when_backward_refuses_dy(loss_class):
    fn = loss_class()
    output, target = _scored(fn)
    fn(output, target)
    expected = fn.backward()
    fn(output, target)
    with pytest.raises(TypeError, match="backward of a reduced loss takes a number"):
        fn.backward(np.ones(3))
    np.testing.assert_array_equal(fn.backward(), expected)


@pytest.mark.parametrize("loss_class", LOSSES, ids=lambda c: c.__name__)
def test_a_failed_loss_call_forgets_its_pending_contexts_as_any_module_call(loss_class):
    # A loss call is an outermost module call (Module.__call__): when it raises, the
    # contexts pushed before it are forgotten, so no later backward matches a stale one.
    fn = loss_class()
    output, target = _scored(fn)
    fn(output, target)
    with pytest.raises(TypeError):
        fn(output.astype(np.int64), target)
    assert fn.pending_forwards() == 0
    with pytest.raises(RuntimeError, match="backward called before forward"):
        fn.backward()
