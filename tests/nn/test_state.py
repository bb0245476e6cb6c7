"""state_dict / load_state_dict (nn/state.py): copies under torch's keys; loads all or nothing."""

import numpy as np
import pytest

from minigrad import nn
from minigrad_bench.models import seed_net


def test_state_dict_is_a_copy_and_round_trips():
    a, b = seed_net(generator=np.random.default_rng(0)), seed_net(
        generator=np.random.default_rng(1))
    state = a.state_dict()
    state["0.weight"][...] = 0
    assert a[0].weight.data.any()
    b.load_state_dict(a.state_dict())
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_load_state_dict_lists_every_problem_and_changes_nothing():
    model = seed_net(generator=np.random.default_rng(0))
    before = model.state_dict()
    bad = model.state_dict()
    del bad["0.bias"]
    bad["7.weight"] = np.zeros(3)
    bad["3.weight"] = np.zeros((10, 10))
    bad["6.bias"] = np.ones(10) * 5  # valid: must not be applied either
    with pytest.raises(KeyError) as info:
        model.load_state_dict(bad)
    message = str(info.value)
    assert "missing keys: 0.bias" in message
    assert "unexpected keys: 7.weight" in message
    assert "3.weight: expected (256, 1152), got (10, 10)" in message
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_load_state_dict_keeps_parameter_arrays_and_dtype():
    model = nn.Linear(3, 2)
    weight = model.weight.data
    model.load_state_dict({"weight": np.ones((2, 3)), "bias": np.zeros(2)})
    assert model.weight.data is weight and weight.dtype == np.float32
    assert (weight == 1).all()


@pytest.mark.parametrize(
    "unconvertible", [np.array(["a", "b"]), np.array([{}, 1], dtype=object), np.ones(2) * 1j]
)
def test_load_state_dict_with_an_unconvertible_later_entry_changes_nothing(unconvertible):
    model = seed_net(generator=np.random.default_rng(0))
    before = model.state_dict()
    state = seed_net(generator=np.random.default_rng(1)).state_dict()
    last = list(state)[-1]  # every earlier entry is valid and would be assigned first
    state[last] = np.resize(unconvertible, state[last].shape)
    with pytest.raises(TypeError, match=f"nothing was changed. entry '{last}' has dtype"):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_snapshot_buffers_puts_back_values_arrays_and_names_changed_since():
    from minigrad.nn.state import snapshot_buffers

    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    norm = model[1]
    arrays = {name: array for name, array in norm._buffers.items()}
    before = model.state_dict()
    restore = snapshot_buffers(model)
    model(np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32))  # in place + replaced
    norm.register_buffer("added", np.zeros(2))
    assert not np.array_equal(norm.running_mean, before["1.running_mean"])
    restore()
    assert list(norm._buffers) == ["running_mean", "running_var", "num_batches_tracked"]
    assert all(norm._buffers[name] is array for name, array in arrays.items())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
