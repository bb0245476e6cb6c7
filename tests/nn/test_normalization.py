import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck
from tests.nn.cases import random_input
from tests.parity import assert_torch_parity

CASES = [
    ("BatchNorm2d", dict(num_features=3), (4, 3, 5, 5)),
    ("BatchNorm2d", dict(num_features=2, momentum=None), (2, 2, 3, 3)),
    ("BatchNorm2d", dict(num_features=2, affine=False), (3, 2, 4, 3)),
    ("BatchNorm1d", dict(num_features=4), (6, 4)),
    ("BatchNorm1d", dict(num_features=3, eps=1e-3, momentum=0.3), (5, 3, 7)),
    ("BatchNorm2d", dict(num_features=2, track_running_stats=False), (3, 2, 3, 3)),
    ("BatchNorm2d", dict(num_features=3, bias=False), (2, 3, 3, 4)),   # scale, no shift
    ("BatchNorm1d", dict(num_features=3, bias=False), (5, 3)),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


def randomise(layer, seed=1):
    """Non-trivial affine parameters and running statistics."""
    g = np.random.default_rng(seed)
    for _, p in layer.named_parameters():
        p.data[...] = g.uniform(0.5, 1.5, p.data.shape)
    if layer.track_running_stats:
        layer.running_mean[...] = g.standard_normal(layer.num_features)
        layer.running_var[...] = g.uniform(0.5, 2.0, layer.num_features)
    return layer


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name,kwargs,shape", CASES, ids=IDS)
def test_batchnorm_gradients_match_finite_differences(name, kwargs, shape, train):
    layer = randomise(getattr(nn, name)(**kwargs)).double().train(train)
    assert gradcheck(layer, random_input(shape, scale=2.0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name,kwargs,shape", CASES, ids=IDS)
def test_batchnorm_matches_torch_including_running_stats(name, kwargs, shape, train, dtype):
    torch = pytest.importorskip("torch")
    layer = randomise(getattr(nn, name)(**kwargs))
    assert_torch_parity(layer, getattr(torch.nn, name)(**kwargs),
                        random_input(shape, scale=2.0) + 1.0, dtype, train=train)


def test_batchnorm_running_stats_follow_torch_over_several_batches():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.BatchNorm2d(3).double(), torch.nn.BatchNorm2d(3).double()
    for seed in range(5):
        x = random_input((4, 3, 2, 2), seed=seed) * (seed + 1)
        ours(x)
        theirs(torch.from_numpy(x))
    for name, b in ours.named_buffers():
        np.testing.assert_allclose(b, dict(theirs.named_buffers())[name].numpy(), rtol=1e-12)
    assert int(ours.num_batches_tracked) == 5


def test_batchnorm_state_dict_has_torch_keys():
    assert list(nn.BatchNorm2d(4).state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3.*\(N, 3, H, W\).*\(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(np.zeros((1, 3), np.float32))


def test_batchnorm_rejects_bad_arguments_naming_them():
    with pytest.raises(ValueError, match="BatchNorm1d eps must be a number >= 0.0, got -1.0"):
        nn.BatchNorm1d(3, eps=-1)
    with pytest.raises(ValueError, match=r"BatchNorm2d momentum must be a number in \[0.0, "
                                         r"1.0\], got 1.5"):
        nn.BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="BatchNorm2d num_features must be an int >= 1, got 0"):
        nn.BatchNorm2d(0)
    with pytest.raises(TypeError, match="BatchNorm1d affine must be True or False, got 'no'"):
        nn.BatchNorm1d(3, affine="no")
    with pytest.raises(TypeError, match="BatchNorm1d eps must be a number, got '1e-5'"):
        nn.BatchNorm1d(3, eps="1e-5")


@pytest.mark.parametrize("kwargs", [dict(), dict(momentum=None, affine=False),
                                    dict(bias=False, track_running_stats=False)])
def test_batchnorm_repr_and_keys_match_torch(kwargs):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.BatchNorm2d(4, **kwargs), torch.nn.BatchNorm2d(4, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_backward_is_right_after_the_caller_modifies_the_output_in_place(shape,
                                                                                   affine):
    x, dy = random_input(shape), random_input(shape, seed=1)
    reference = nn.BatchNorm2d(3, affine=affine).double() if len(shape) == 4 else \
        nn.BatchNorm1d(3, affine=affine).double()
    reference(x)
    expected = reference.backward(dy)
    layer = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(3, affine=affine).double()
    layer(x)[...] = 0.0  # e.g. out += skip, done in place
    np.testing.assert_array_equal(layer.backward(dy), expected)
