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
    with pytest.raises(ValueError, match="BatchNorm1d: eps must be a number >= 0, got -1"):
        nn.BatchNorm1d(3, eps=-1)
    with pytest.raises(ValueError, match=r"BatchNorm2d: momentum must be a number >= 0 and <= 1, "
                                         r"got 1.5"):
        nn.BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="BatchNorm2d: num_features must be an int >= 1, got 0"):
        nn.BatchNorm2d(0)
    with pytest.raises(TypeError, match="BatchNorm1d: affine must be True or False, got 'no'"):
        nn.BatchNorm1d(3, affine="no")
    with pytest.raises(TypeError, match="BatchNorm1d: eps must be a number >= 0, got '1e-5'"):
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


# -- LayerNorm and GroupNorm: per-sample statistics -------------------------------------------
PER_SAMPLE_CASES = [
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
PER_SAMPLE_IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(PER_SAMPLE_CASES)]


def build(name, args, kwargs, seed=1):
    """The layer, with non-trivial affine parameters."""
    layer = getattr(nn, name)(*args, **kwargs)
    g = np.random.default_rng(seed)
    for p in layer.parameters():
        p.data[...] = g.uniform(0.5, 1.5, p.shape)
    return layer


def torch_twin(torch, name, args, kwargs):
    return getattr(torch.nn, name)(*args, **kwargs)


@pytest.mark.parametrize("name,args,kwargs,shape", PER_SAMPLE_CASES, ids=PER_SAMPLE_IDS)
def test_norm_gradients_match_finite_differences(name, args, kwargs, shape):
    layer = build(name, args, kwargs).double()
    assert gradcheck(layer, random_input(shape, scale=2.0) + 0.5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name,args,kwargs,shape", PER_SAMPLE_CASES, ids=PER_SAMPLE_IDS)
def test_norm_matches_torch(name, args, kwargs, shape, train, dtype):
    torch = pytest.importorskip("torch")
    assert_torch_parity(build(name, args, kwargs), torch_twin(torch, name, args, kwargs),
                        random_input(shape, scale=3.0) + 2.0, dtype, train=train)


@pytest.mark.parametrize("name,args,kwargs,shape", PER_SAMPLE_CASES, ids=PER_SAMPLE_IDS)
def test_norm_state_dict_and_repr_equal_torch(name, args, kwargs, shape):
    torch = pytest.importorskip("torch")
    ours, theirs = build(name, args, kwargs), torch_twin(torch, name, args, kwargs)
    assert repr(ours) == repr(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())


@pytest.mark.parametrize("name,args,kwargs,shape", PER_SAMPLE_CASES, ids=PER_SAMPLE_IDS)
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
    with pytest.raises(ValueError, match="LayerNorm: eps must be a number >= 0, got -1"):
        nn.LayerNorm(3, eps=-1)
    layer(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"backward expected a gradient of shape \(2, 3, 4\)"):
        layer.backward(np.zeros((3, 4), np.float32))


def test_group_norm_errors_name_layer_expected_and_got():
    with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by "
                                         r"num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="GroupNorm: num_groups must be an int >= 1, got 0"):
        nn.GroupNorm(0, 6)
    layer = nn.GroupNorm(2, 6)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 6, .*expected input of shape "
                                         r"\(N, 6, \*\), got input of shape \(2, 4, 3\)"):
        layer(np.zeros((2, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 6, \*\), got input of shape \(6,\)"):
        layer(np.zeros(6, np.float32))
    with pytest.raises(RuntimeError, match="no forward of this module is left to match"):
        layer.backward(np.zeros((2, 6), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm2d_on_nchw_data_gives_the_same_bits_on_one_thread_and_two(dtype,
                                                                            monkeypatch):
    """The (N, C, L) kernels split channels (sums) and samples (elementwise passes) over the
    threads: no sum changes order, so the results do not depend on the thread count."""
    import minigrad
    from minigrad import parallel

    monkeypatch.setattr(parallel, "SERIAL_BELOW", 0)  # split this small batch too

    x = random_input((6, 5, 7, 9), dtype=dtype)
    dy = random_input((6, 5, 7, 9), seed=1, dtype=dtype)
    results = []
    before = minigrad.get_num_threads()
    try:
        for threads in (1, 2):
            minigrad.set_num_threads(threads)
            bn = nn.BatchNorm2d(5).to(dtype).train()
            y = bn(x)
            results.append((y, bn.backward(dy), bn.weight.grad.copy(), bn.running_var.copy()))
    finally:
        minigrad.set_num_threads(before)
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one, two)
