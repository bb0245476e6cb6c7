import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck
from tests.nn.cases import random_input


def test_dropout_is_inverted_and_seeded():
    x = np.ones((200, 500), np.float32)
    a = nn.Dropout(0.3, generator=np.random.default_rng(7))(x)
    b = nn.Dropout(0.3, generator=np.random.default_rng(7))(x)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
    kept = a != 0
    np.testing.assert_allclose(a[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.01


def test_dropout_backward_uses_the_forward_mask():
    layer = nn.Dropout(0.5, generator=np.random.default_rng(0))
    y = layer(np.ones((10, 10)))
    np.testing.assert_array_equal(layer.backward(np.ones((10, 10))), y)
    assert gradcheck(nn.Dropout(0.4), random_input((5, 6)))


def test_dropout_is_identity_in_eval_and_for_p_zero():
    x = random_input((3, 4))
    assert nn.Dropout(0.5).eval()(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x).any()


def test_set_generator_reaches_nested_dropout():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    g = np.random.default_rng(3)
    model.set_generator(g)
    assert model[1][0].generator is g
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        model.set_generator(3)


def test_dropout_rejects_bad_probability():
    with pytest.raises(ValueError, match="between 0 and 1, got 1.5"):
        nn.Dropout(1.5)


def test_dropout_rejects_a_probability_that_is_not_a_number():
    with pytest.raises(TypeError, match="Dropout p must be a number, got 'a'"):
        nn.Dropout("a")
    with pytest.raises(TypeError, match="Dropout p must be a number, got True"):
        nn.Dropout(True)
    with pytest.raises(TypeError, match="Dropout inplace must be True or False"):
        nn.Dropout(0.5, "yes")


def test_dropout_inplace_shows_in_repr_like_torch_and_leaves_the_input_alone():
    torch = pytest.importorskip("torch")
    assert repr(nn.Dropout(0.2, inplace=True)) == repr(torch.nn.Dropout(0.2, inplace=True))
    x = np.ones((4, 5), np.float32)
    y = nn.Dropout(0.5, inplace=True, generator=np.random.default_rng(0))(x)
    assert (x == 1).all() and y is not x


def test_dropout_backward_is_right_after_the_caller_modifies_the_output_in_place():
    layer = nn.Dropout(0.5, generator=np.random.default_rng(0))
    x = np.ones((6, 6))
    y = layer(x)
    mask = y.copy()
    y[...] = 7.0
    np.testing.assert_array_equal(layer.backward(np.ones((6, 6))), mask)
