import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck
from tests.nn.cases import random_input
from tests.parity import assert_torch_parity

CASES = [
    ("LayerNorm", (6,), {}, (4, 6)),
    ("LayerNorm", ((3, 4),), {}, (2, 5, 3, 4)),
    ("LayerNorm", ([5],), dict(eps=1e-3), (5,)),
    ("LayerNorm", (4,), dict(bias=False), (2, 3, 4)),
    ("LayerNorm", ((2, 3),), dict(elementwise_affine=False), (3, 2, 3)),
    ("GroupNorm", (2, 6), {}, (3, 6, 4, 5)),
    ("GroupNorm", (1, 4), dict(eps=1e-3), (2, 4, 3, 3)),
    ("GroupNorm", (3, 3), {}, (2, 3, 7)),
    ("GroupNorm", (2, 4), dict(affine=False), (2, 4, 3, 2)),
    ("GroupNorm", (2, 4), dict(bias=False), (3, 4)),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


def build(name, args, kwargs, seed=1):
    """The layer, with non-trivial affine parameters."""
    layer = getattr(nn, name)(*args, **kwargs)
    g = np.random.default_rng(seed)
    for p in layer.parameters():
        p.data[...] = g.uniform(0.5, 1.5, p.shape)
    return layer


def torch_twin(torch, name, args, kwargs):
    return getattr(torch.nn, name)(*args, **kwargs)


@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=IDS)
def test_norm_gradients_match_finite_differences(name, args, kwargs, shape):
    layer = build(name, args, kwargs).double()
    assert gradcheck(layer, random_input(shape, scale=2.0) + 0.5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=IDS)
def test_norm_matches_torch(name, args, kwargs, shape, train, dtype):
    torch = pytest.importorskip("torch")
    assert_torch_parity(build(name, args, kwargs), torch_twin(torch, name, args, kwargs),
                        random_input(shape, scale=3.0) + 2.0, dtype, train=train)


@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=IDS)
def test_norm_state_dict_and_repr_equal_torch(name, args, kwargs, shape):
    torch = pytest.importorskip("torch")
    ours, theirs = build(name, args, kwargs), torch_twin(torch, name, args, kwargs)
    assert repr(ours) == repr(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())


@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=IDS)
def test_norm_keeps_float32_and_float64(name, args, kwargs, shape):
    for dtype in (np.float32, np.float64):
        layer = getattr(nn, name)(*args, **kwargs, dtype=dtype)
        y = layer(random_input(shape, dtype=dtype))
        assert y.dtype == dtype
        assert layer.backward(np.ones_like(y)).dtype == dtype
        assert all(p.grad.dtype == dtype for p in layer.parameters())


def test_layer_norm_output_is_standardised_per_sample():
    layer = nn.LayerNorm((3, 4), dtype=np.float64)
    y = layer(random_input((5, 3, 4), scale=7.0) + 3.0)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1, rtol=1e-5)


def test_group_norm_handles_an_empty_batch():
    layer = nn.GroupNorm(2, 4)
    y = layer(np.zeros((0, 4, 3, 3), np.float32))
    assert y.shape == (0, 4, 3, 3)
    assert layer.backward(y).shape == (0, 4, 3, 3)


def test_norm_shared_by_two_calls_sums_parameter_gradients():
    torch = pytest.importorskip("torch")
    ours = build("GroupNorm", (2, 4), {}).double()
    theirs = torch.nn.GroupNorm(2, 4).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    a, b = random_input((2, 4, 3), seed=1), random_input((2, 4, 3), seed=2)
    da, db = random_input((2, 4, 3), seed=3), random_input((2, 4, 3), seed=4)
    ours(a)
    ours(b)
    grad_b, grad_a = ours.backward(db), ours.backward(da)
    at, bt = (torch.tensor(v, requires_grad=True) for v in (a, b))
    (theirs(at) * torch.from_numpy(da) + theirs(bt) * torch.from_numpy(db)).sum().backward()
    np.testing.assert_allclose(grad_a, at.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_b, bt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-10)


def test_layer_norm_errors_name_layer_expected_and_got():
    layer = nn.LayerNorm((3, 4))
    with pytest.raises(ValueError, match=r"LayerNorm\(\(3, 4\).*expected input of shape "
                                         r"\(\*, 3, 4\), got input of shape \(2, 4, 3\)"):
        layer(np.zeros((2, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(\*, 3, 4\), got input of "
                                         r"shape \(4,\)"):
        layer(np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="has float32 parameters but got float64 input"):
        layer(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="expects float32 or float64 input, got dtype int64"):
        layer(np.zeros((3, 4), np.int64))
    for bad in (0, (), (3, 0), "3", 2.5):
        with pytest.raises(ValueError, match="normalized_shape must be a positive int"):
            nn.LayerNorm(bad)
    with pytest.raises(ValueError, match="LayerNorm eps must be a non-negative number, got -1"):
        nn.LayerNorm(3, eps=-1)
    layer(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"backward expected a gradient of shape \(2, 3, 4\)"):
        layer.backward(np.zeros((3, 4), np.float32))


def test_group_norm_errors_name_layer_expected_and_got():
    with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by "
                                         r"num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="num_groups must be a positive int, got 0"):
        nn.GroupNorm(0, 6)
    layer = nn.GroupNorm(2, 6)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 6, .*expected input of shape "
                                         r"\(N, 6, \*\), got input of shape \(2, 4, 3\)"):
        layer(np.zeros((2, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 6, \*\), got input of shape \(6,\)"):
        layer(np.zeros(6, np.float32))
    with pytest.raises(RuntimeError, match="no forward of this module is left to match"):
        layer.backward(np.zeros((2, 6), np.float32))
