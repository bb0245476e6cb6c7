import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck
from tests.nn.cases import random_input
from tests.parity import assert_torch_parity


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
    with pytest.raises(ValueError, match="Dropout: p must be a number >= 0 and <= 1, got 1.5"):
        nn.Dropout(1.5)


def test_dropout_rejects_a_probability_that_is_not_a_number():
    with pytest.raises(TypeError, match="Dropout: p must be a number >= 0 and <= 1, got 'a'"):
        nn.Dropout("a")
    with pytest.raises(TypeError, match="Dropout: p must be a number >= 0 and <= 1, got True"):
        nn.Dropout(True)
    with pytest.raises(TypeError, match="Dropout: inplace must be True or False"):
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


def test_dropout2d_mask_is_the_documented_draw_per_channel():
    x = random_input((6, 5, 3, 4), dtype=np.float32) + 10.0  # no zeros of its own
    y = nn.Dropout2d(0.3, generator=np.random.default_rng(7))(x)
    kept = np.random.default_rng(7).random((6, 5), dtype=np.float32) >= 0.3
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y != 0, np.broadcast_to(kept[:, :, None, None], x.shape))
    np.testing.assert_allclose(y[kept], x[kept] * np.float32(1 / 0.7), rtol=1e-6)


def test_dropout2d_keeps_about_one_minus_p_of_the_channels_and_the_mean():
    x = np.ones((400, 50, 2, 2))
    y = nn.Dropout2d(0.25, generator=np.random.default_rng(0))(x)
    assert abs((y[:, :, 0, 0] != 0).mean() - 0.75) < 0.01
    assert abs(y.mean() - 1.0) < 0.02


def test_dropout2d_reads_3d_input_as_channel_rows_like_torch():
    x = np.ones((8, 6, 5), np.float32)
    y = nn.Dropout2d(0.5, generator=np.random.default_rng(1))(x)
    rows = y[:, :, 0]
    assert ((rows == 0) | (rows == 2)).all() and 0 < (rows == 0).sum() < 48
    np.testing.assert_array_equal(y, np.repeat(rows[:, :, None], 5, axis=2))


def test_dropout2d_backward_uses_each_forward_mask():
    layer = nn.Dropout2d(0.5, generator=np.random.default_rng(0))
    ones = np.ones((4, 6, 2, 2))
    first, second = layer(ones), layer(ones)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(layer.backward(ones), second)
    np.testing.assert_array_equal(layer.backward(ones), first)
    assert gradcheck(nn.Dropout2d(0.4), random_input((3, 5, 2, 3)))


def test_dropout2d_is_identity_in_eval_and_for_p_zero_and_zero_for_p_one():
    x = random_input((2, 3, 4, 4))
    assert nn.Dropout2d(0.5).eval()(x) is x
    assert nn.Dropout2d(0.0)(x) is x
    layer = nn.Dropout2d(1.0)
    assert not layer(x).any()
    assert not layer.backward(np.ones_like(x)).any()


@pytest.mark.parametrize("p,train", [(0.5, False), (0.0, True), (1.0, True)])
def test_dropout2d_matches_torch_where_torch_is_deterministic(p, train):
    torch = pytest.importorskip("torch")
    for dtype in (np.float64, np.float32):
        assert_torch_parity(nn.Dropout2d(p), torch.nn.Dropout2d(p), random_input((2, 3, 4, 5)),
                            dtype, train=train)


def test_dropout2d_statistics_match_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x = np.ones((300, 40, 2, 2), np.float32)
    ours = nn.Dropout2d(0.4, generator=np.random.default_rng(0))(x)
    theirs = torch.nn.Dropout2d(0.4)(torch.from_numpy(x)).numpy()
    assert set(np.unique(ours)) == set(np.unique(theirs)) == {0.0, np.float32(1 / 0.6)}
    assert abs((ours == 0).mean() - (theirs == 0).mean()) < 0.02


def test_set_generator_reaches_dropout2d():
    model = nn.Sequential(nn.Dropout2d(0.5))
    g = np.random.default_rng(3)
    model.set_generator(g)
    assert model[0].generator is g


def test_dropout2d_repr_equals_torch():
    assert repr(nn.Dropout2d()) == "Dropout2d(p=0.5, inplace=False)"


def test_dropout2d_errors_name_layer_expected_and_got():
    with pytest.raises(ValueError, match="Dropout2d: p must be a number >= 0 and <= 1, got -0.1"):
        nn.Dropout2d(-0.1)
    with pytest.raises(ValueError, match=r"Dropout2d\(p=0.5, inplace=False\) expected input of "
                                         r"shape \(N, C, H, W\) or \(N, C, L\), got input of "
                                         r"shape \(3, 4\)"):
        nn.Dropout2d()(np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="expects float32 or float64 input, got dtype int64"):
        nn.Dropout2d()(np.zeros((1, 2, 3, 3), np.int64))
    layer = nn.Dropout2d()
    layer(np.zeros((1, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"backward expected a gradient of shape \(1, 2, 3, 3\)"):
        layer.backward(np.zeros((1, 2, 3)))


@pytest.mark.parametrize("layer,shape", [(nn.Dropout, (2, 3)), (nn.Dropout2d, (1, 3, 1, 1))])
def test_dropout_of_p_one_is_the_input_times_zero_as_torch(layer, shape):
    torch = pytest.importorskip("torch")
    x = np.zeros(shape)
    x.flat[:3] = [np.inf, -1.0, np.nan]
    with np.errstate(invalid="ignore"):
        ours = layer(1.0)(x)
    theirs = getattr(torch.nn, layer.__name__)(1.0)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(ours, theirs)  # NaN where x is inf or NaN, else 0
