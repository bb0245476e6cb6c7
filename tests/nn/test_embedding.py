import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import numerical_gradients
from tests.nn.cases import generator
from tests.parity import assert_torch_parity

CASES = [
    ((10, 4), {}, np.array([[1, 2, 4, 5], [4, 3, 2, 9]])),
    ((10, 3), dict(padding_idx=0), np.array([[0, 2, 0, 5], [4, 3, 2, 9]])),
    ((6, 2), dict(padding_idx=-1), np.array([5, 5, 1, 0, 5])),
    ((5, 3), {}, np.array(3)),
    ((7, 5), {}, np.array([[[1, 1], [1, 6]], [[0, 1], [2, 2]]], dtype=np.int32)),
    ((4, 2), {}, np.zeros((0, 3), np.int64)),
]
IDS = [f"case{i}" for i in range(len(CASES))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("args,kwargs,indices", CASES, ids=IDS)
def test_embedding_matches_torch_including_repeated_and_padding_indices(args, kwargs, indices,
                                                                        dtype):
    torch = pytest.importorskip("torch")
    ours = nn.Embedding(*args, **kwargs, generator=generator(1))
    theirs = torch.nn.Embedding(*args, **kwargs)
    y, _ = assert_torch_parity(ours, theirs, indices, dtype)
    assert y.shape == indices.shape + (args[1],)


@pytest.mark.parametrize("args,kwargs,indices", CASES, ids=IDS)
def test_embedding_weight_gradient_matches_finite_differences(args, kwargs, indices):
    layer = nn.Embedding(*args, **kwargs, dtype=np.float64, generator=generator(2))
    projection = np.random.default_rng(3).standard_normal(indices.shape + (args[1],))
    layer(indices)
    assert layer.backward(projection) is None
    _, numeric = numerical_gradients(layer, indices, projection)
    # by definition (torch's) the padding row gets no gradient, though the output reads it
    rows = np.arange(args[0]) != layer.padding_idx
    np.testing.assert_allclose(layer.weight.grad[rows], numeric["weight"][rows], atol=1e-8)
    assert not layer.weight.grad[~rows].any()


def test_embedding_accumulates_repeated_indices_and_skips_the_padding_row():
    layer = nn.Embedding(4, 2, padding_idx=1, dtype=np.float64)
    layer(np.array([2, 2, 1, 2, 0]))
    layer.backward(np.ones((5, 2)))
    np.testing.assert_array_equal(layer.weight.grad, [[1, 1], [0, 0], [3, 3], [0, 0]])
    np.testing.assert_array_equal(layer.weight.data[1], [0, 0])


def test_embedding_output_is_a_copy_even_for_a_single_index():
    layer = nn.Embedding(3, 2)
    y = layer(np.array(1))
    y[...] = 7
    assert not (layer.weight.data == 7).any()


def test_embedding_used_twice_sums_both_uses():
    layer = nn.Embedding(5, 3, generator=generator(0))
    layer(np.array([0, 1]))
    layer(np.array([1, 4]))
    assert layer.pending_forwards() == 2
    layer.backward(np.full((2, 3), 2.0, np.float32))
    layer.backward(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(layer.weight.grad[:, 0], [1, 3, 0, 0, 2])


def test_embedding_init_is_standard_normal_and_seeded():
    a = nn.Embedding(200, 50, generator=generator(4))
    b = nn.Embedding(200, 50, generator=generator(4))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert a.weight.dtype == np.float32
    assert abs(a.weight.data.mean()) < 0.02 and abs(a.weight.data.std() - 1) < 0.02


def test_embedding_repr_and_state_dict_equal_torch():
    torch = pytest.importorskip("torch")
    for kwargs in ({}, dict(padding_idx=-2)):
        ours, theirs = nn.Embedding(10, 3, **kwargs), torch.nn.Embedding(10, 3, **kwargs)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]


def test_embedding_errors_name_layer_expected_and_got():
    layer = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match=r"Embedding\(5, 2\): indices must lie in \[0, 5\), "
                                         r"got values from 0 to 5"):
        layer(np.array([0, 5]))
    with pytest.raises(IndexError, match="got values from -1 to 2"):
        layer(np.array([-1, 2]))
    with pytest.raises(TypeError, match="expects an ndarray of integer indices, got dtype "
                                        "float32"):
        layer(np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="integer indices, got list"):
        layer([1, 2])
    with pytest.raises(ValueError, match=r"Embedding: padding_idx must be an int >= -5 and <= 4, "
                                         r"got 5"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(ValueError, match="Embedding: embedding_dim must be an int >= 1, got 0"):
        nn.Embedding(5, 0)
    layer(np.array([[1, 2]]))
    with pytest.raises(ValueError, match=r"backward expected a gradient of shape \(1, 2, 2\)"):
        layer.backward(np.zeros((2, 2), np.float32))
    with pytest.raises(RuntimeError, match="no forward of this module is left to match"):
        layer.backward(np.zeros((1, 2, 2), np.float32))
