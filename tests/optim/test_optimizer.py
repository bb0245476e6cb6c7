"""The Optimizer base: parameter groups, zero_grad, the lr property and state dicts."""

import inspect

import numpy as np
import pytest

from minigrad import nn, optim
from tests.optim.trajectory import (
    assert_same_trajectory,
    initial_values,
    is_plain,
    make_parameters,
    noise,
    run_minigrad,
    two_groups,
)

OPTIMIZERS = {
    "SGD": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "SGD_maximize": lambda p: optim.SGD(p, lr=0.05, momentum=0.5, maximize=True),
    "Adam": lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1),
    "Adam_amsgrad": lambda p: optim.Adam(p, lr=0.01, amsgrad=True, maximize=True),
    "AdamW": lambda p: optim.AdamW(p, lr=0.01, betas=(0.8, 0.99)),
    "AdamW_amsgrad": lambda p: optim.AdamW(p, lr=0.01, amsgrad=True),
    "RMSprop": lambda p: optim.RMSprop(p, lr=0.01, momentum=0.9, centered=True),
    "RMSprop_plain": lambda p: optim.RMSprop(p, lr=0.01, weight_decay=0.1),
}


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(np.ones((2, 3)))
        self.bias = nn.Parameter(np.zeros(2))


# -- construction and parameter groups --------------------------------------------------
def test_optimizer_accepts_a_generator_of_module_parameters():
    model = TwoLayer()
    sgd = optim.SGD(model.parameters(), lr=0.1)
    assert len(sgd.param_groups) == 1
    assert sgd.param_groups[0]["params"] == [model.weight, model.bias]


def test_group_hyperparameters_default_to_the_constructor_arguments():
    params = make_parameters([np.ones(2), np.ones(3), np.ones(4)])
    sgd = optim.SGD(
        [{"params": params[:2], "weight_decay": 0.0, "name": "no_decay"}, {"params": params[2]}],
        lr=0.1, momentum=0.9, weight_decay=0.01,
    )
    first, second = sgd.param_groups
    assert first == {"params": params[:2], "lr": 0.1, "momentum": 0.9, "dampening": 0.0,
                     "weight_decay": 0.0, "nesterov": False, "maximize": False,
                     "name": "no_decay"}
    assert second["params"] == [params[2]] and second["weight_decay"] == 0.01


@pytest.mark.parametrize(
    "make_params, error, message",
    [
        (lambda p: p[0], TypeError, "got a single Parameter; wrap it in a list"),
        (lambda p: {"params": p}, TypeError, "got a single dict; wrap it in a list"),
        (lambda p: 3, TypeError, "expects an iterable of Parameters or of group dicts, got int"),
        (lambda p: [], ValueError, "got an empty parameter list"),
        (lambda p: [p[0], p[0].data], TypeError, "parameter 1 of group 0 must be a Parameter"),
        (lambda p: [p[0], p[1], p[0]], ValueError, "group 0 lists a parameter twice"),
        (lambda p: [{"params": p}, {"params": p[:1]}], ValueError, "more than one parameter group"),
        (lambda p: [{"lr": 0.1}], TypeError, "must be a dict with a 'params' entry"),
        (lambda p: [{"params": p, "weight_decy": 0.1}], ValueError,
         r"group 0 has unknown keys \['weight_decy'\]"),
        (lambda p: [{"params": p[:1]}, {"params": p[1:], "lr": -1}], ValueError,
         r"SGD \(group 1\): lr must be a number >= 0"),
    ],
)
def test_optimizer_rejects_bad_params_with_a_clear_message(make_params, error, message):
    params = make_parameters([np.ones(2), np.ones(3)])
    with pytest.raises(error, match=message):
        optim.SGD(make_params(params), lr=0.1)


def test_add_param_group_fills_defaults_and_rejects_known_parameters():
    params = make_parameters([np.ones(2), np.ones(3)])
    adam = optim.Adam(params[:1], lr=0.01)
    adam.add_param_group({"params": params[1:], "weight_decay": 0.5})
    assert adam.param_groups[1]["lr"] == 0.01 and adam.param_groups[1]["weight_decay"] == 0.5
    with pytest.raises(ValueError, match="more than one parameter group"):
        adam.add_param_group({"params": params[:1]})


def test_lr_property_reads_the_first_group_and_sets_every_group():
    params = make_parameters([np.ones(2), np.ones(3)])
    sgd = optim.SGD([{"params": params[:1], "lr": 0.5}, {"params": params[1:]}], lr=0.1)
    assert sgd.lr == 0.5
    sgd.lr = 0.01
    assert [g["lr"] for g in sgd.param_groups] == [0.01, 0.01]
    with pytest.raises(ValueError, match="lr must be a number >= 0"):
        sgd.lr = -1.0


# -- updates -------------------------------------------------------------------------
def test_zero_grad_zeroes_every_gradient_in_place():
    params = make_parameters([np.ones(2), np.ones(3)])
    grads = [p.grad for p in params]
    for p in params:
        p.grad += 3.0
    optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1).zero_grad()
    assert all(p.grad is g and not g.any() for p, g in zip(params, grads, strict=True))


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_step_updates_the_model_arrays_in_place(make):
    model = TwoLayer()
    weight = model.weight.data
    optimizer = make(model.parameters())
    model.weight.grad += 1.0
    optimizer.step()
    assert model.weight.data is weight
    maximize = optimizer.param_groups[0]["maximize"]
    moved = model.state_dict()["weight"] - 1.0
    assert ((moved > 0) if maximize else (moved < 0)).all()


# -- state dicts -----------------------------------------------------------------------
def as_if_read_from_a_file(value):
    """Numpy scalars for numbers, lists for tuples and str keys: what a .npz may give back."""
    if isinstance(value, dict):
        return {str(k): as_if_read_from_a_file(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_if_read_from_a_file(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, np.ndarray)):
        return value
    return np.int64(value) if isinstance(value, int) else np.float64(value)


@pytest.mark.parametrize("file_round_trip", [False, True], ids=["in_memory", "file_types"])
@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_resuming_from_a_state_dict_continues_the_exact_trajectory(make, file_round_trip):
    values, noises = initial_values(seed=6), noise(seed=6, steps=100)
    params = make_parameters(values)
    uninterrupted = run_minigrad(make(two_groups(params)), params, noises)

    params = make_parameters(values)
    first = make(two_groups(params))
    first_half = run_minigrad(first, params, noises[:40])
    saved = first.state_dict()
    if file_round_trip:
        saved = as_if_read_from_a_file(saved)
    fresh = make_parameters([p.data for p in params])
    second = make(two_groups(fresh))
    second.lr = 123.0  # overwritten by the loaded hyperparameters
    second.load_state_dict(saved)
    second_half = run_minigrad(second, fresh, noises[40:])
    assert_same_trajectory(first_half + second_half, uninterrupted, rtol=0, atol=0)
    assert [g["lr"] for g in second.param_groups] == [g["lr"] for g in first.param_groups]


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_state_dict_is_plain_data_with_copied_arrays(make):
    values, noises = initial_values(seed=7), noise(seed=7, steps=3)
    params = make_parameters(values)
    optimizer = make(two_groups(params))
    run_minigrad(optimizer, params, noises)
    saved = optimizer.state_dict()
    assert is_plain(saved)
    assert [g["params"] for g in saved["param_groups"]] == [[0, 1], [2, 3]]
    assert sorted(saved["state"]) == [0, 1, 2, 3]
    snapshot = {i: {k: np.copy(v) for k, v in s.items()} for i, s in saved["state"].items()}
    run_minigrad(optimizer, params, noises)
    for index, state in saved["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(value, snapshot[index][key])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_load_state_dict_casts_arrays_to_the_parameter_dtype_and_copies_them(dtype):
    params = make_parameters([np.ones(3, dtype=dtype)])
    adam = optim.Adam(params)
    saved = {"state": {0: {"step": 2, "exp_avg": np.ones(3), "exp_avg_sq": np.ones(3)}},
             "param_groups": [{**adam.state_dict()["param_groups"][0]}]}
    adam.load_state_dict(saved)
    state = adam.state[params[0]]
    assert state["exp_avg"].dtype == dtype and state["step"] == 2
    saved["state"][0]["exp_avg"][:] = 5.0
    np.testing.assert_array_equal(state["exp_avg"], np.ones(3))


def trained_adam(shapes):
    params = make_parameters([np.ones(s) for s in shapes])
    adam = optim.Adam([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    for p in params:
        p.grad += 1.0
    adam.step()
    return adam, params


@pytest.mark.parametrize(
    "shapes, message",
    [
        ([(2,), (3,), (4,)], "group 1 has 1 parameters in the state dict, 2 in this optimizer"),
        ([(2,), (4,)], r"state 'exp_avg' of parameter 1 has shape \(3,\), the parameter has "
                       r"shape \(4,\)"),
    ],
)
def test_load_state_dict_names_the_mismatch_and_changes_nothing(shapes, message):
    saved = trained_adam([(2,), (3,)])[0].state_dict()
    adam, params = trained_adam(shapes)
    before = adam.state_dict()
    adam.lr = 0.5
    with pytest.raises(ValueError, match=message):
        adam.load_state_dict(saved)
    assert adam.lr == 0.5
    for index, p in enumerate(params):
        np.testing.assert_array_equal(adam.state[p]["exp_avg"], before["state"][index]["exp_avg"])


def test_load_state_dict_rejects_another_group_count_and_another_optimizers_state():
    adam, params = trained_adam([(2,), (3,)])
    one_group = optim.Adam(make_parameters([np.ones(2), np.ones(3)]))
    with pytest.raises(ValueError, match="has 2 parameter groups, this optimizer has 1"):
        one_group.load_state_dict(adam.state_dict())
    sgd = optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError,
                       match=r"saved group 0 has unknown keys \['amsgrad', 'betas', 'eps'\]"):
        sgd.load_state_dict(adam.state_dict())
    adam_state = {"state": adam.state_dict()["state"],
                  "param_groups": sgd.state_dict()["param_groups"]}
    with pytest.raises(ValueError, match=r"state of parameter 0 has keys \['exp_avg', "
                                         r"'exp_avg_sq', 'step'\], expected \['momentum_buffer'\]"):
        sgd.load_state_dict(adam_state)
    with pytest.raises(ValueError, match=r"state dict lacks \['state'\]"):
        sgd.load_state_dict({"param_groups": []})


def test_state_dict_layout_matches_torch():
    torch = pytest.importorskip("torch")
    adam, _ = trained_adam([(2,), (3,)])
    tensors = [torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)]
    reference = torch.optim.Adam([{"params": tensors[:1]}, {"params": tensors[1:]}], lr=0.1)
    for t in tensors:
        t.grad = torch.ones_like(t)
    reference.step()
    ours, theirs = adam.state_dict(), reference.state_dict()
    assert [g["params"] for g in ours["param_groups"]] == [
        g["params"] for g in theirs["param_groups"]
    ]
    assert {k: set(v) for k, v in ours["state"].items()} == {
        k: set(v) for k, v in theirs["state"].items()
    }
    for key in ("lr", "betas", "eps", "weight_decay"):
        assert ours["param_groups"][1][key] == theirs["param_groups"][1][key]


def test_repr_lists_each_group():
    text = repr(optim.SGD(make_parameters([np.ones(2)]), lr=0.1))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "lr: 0.1" in text


# -- named parameters ----------------------------------------------------------------
def test_optimizer_accepts_named_parameters_and_keeps_the_names_as_torch_does():
    torch = pytest.importorskip("torch")
    model = TwoLayer()
    adam = optim.Adam(model.named_parameters(), lr=0.1)
    assert adam.param_groups[0]["params"] == [model.weight, model.bias]
    reference_model = torch.nn.Linear(3, 2)
    reference = torch.optim.Adam(reference_model.named_parameters(), lr=0.1)
    ours, theirs = adam.state_dict()["param_groups"][0], reference.state_dict()["param_groups"][0]
    assert ours["param_names"] == theirs["param_names"] == ["weight", "bias"]
    assert ours["params"] == theirs["params"] == [0, 1]


def test_named_parameter_groups_keep_their_names_through_a_state_dict():
    model = TwoLayer()
    named = dict(model.named_parameters())
    groups = [{"params": [("weight", named["weight"])]},
              {"params": [("bias", named["bias"])], "weight_decay": 0.0}]
    sgd = optim.SGD(groups, lr=0.1, momentum=0.9, weight_decay=0.01)
    saved = sgd.state_dict()
    assert [g["param_names"] for g in saved["param_groups"]] == [["weight"], ["bias"]]
    other = TwoLayer()
    fresh = optim.SGD([{"params": [("w", other.weight)]}, {"params": [("b", other.bias)]}],
                      lr=0.5)
    fresh.load_state_dict(saved)  # saved names replace the current ones, as in torch
    assert [g["param_names"] for g in fresh.param_groups] == [["weight"], ["bias"]]
    unnamed = {**saved, "param_groups": [{k: v for k, v in g.items() if k != "param_names"}
                                         for g in saved["param_groups"]]}
    kept = optim.SGD([{"params": [("w", other.weight)]}, {"params": [("b", other.bias)]}],
                     lr=0.5)
    kept.load_state_dict(unnamed)  # a saved group without names keeps the current ones
    assert [g["param_names"] for g in kept.param_groups] == [["w"], ["b"]]


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_named_parameters_give_the_same_trajectory_as_plain_ones(make):
    values, noises = initial_values(seed=11), noise(seed=11, steps=10)
    params = make_parameters(values)
    plain = run_minigrad(make(params), params, noises)
    params = make_parameters(values)
    named = run_minigrad(make([(f"p{i}", p) for i, p in enumerate(params)]), params, noises)
    assert_same_trajectory(named, plain, rtol=0, atol=0)


@pytest.mark.parametrize(
    "make_params, error, message",
    [
        (lambda p: [("a", p[0]), p[1]], ValueError,
         "group 0 mixes named and unnamed parameters; name all of them or none"),
        (lambda p: [("a", p[0], 1)], TypeError,
         r"parameter 0 of group 0 must be a Parameter \(with .data and .grad arrays\) or a "
         r"\(name, Parameter\) pair, got \('a', Parameter"),
        (lambda p: [(0, p[0])], TypeError, "or a \\(name, Parameter\\) pair, got \\(0, "),
        (lambda p: [{"params": [("a", p[0])]}, {"params": [p[1]]}], ValueError,
         "group 1 has unnamed parameters, the groups before it named ones"),
        (lambda p: [{"params": [p[0]]}, {"params": [("b", p[1])]}], ValueError,
         "group 1 has named parameters, the groups before it unnamed ones"),
        (lambda p: set(p), TypeError, "ordered iterable of Parameters \\(a list\\), got a set"),
        (lambda p: [{"params": set(p)}], TypeError, "parameters of group 0 must be ordered"),
        (lambda p: [{"params": p, "param_names": ["a"]}], ValueError,
         r"param_names must be a list of 2 names \(str\), one per parameter, got \['a'\]"),
    ],
)
def test_optimizer_rejects_bad_names_and_unordered_params(make_params, error, message):
    params = make_parameters([np.ones(2), np.ones(3)])
    with pytest.raises(error, match=message):
        optim.SGD(make_params(params), lr=0.1)


# -- load_state_dict argument checks (issue 13) ------------------------------------------
@pytest.mark.parametrize(
    "state, error, message",
    [
        (None, ValueError,
         r"expected a dict with 'state' and 'param_groups' \(from state_dict\(\)\), "
         r"got NoneType"),
        ([], ValueError, "expected a dict with 'state' and 'param_groups'.*got list"),
        ({"state": {}, "param_groups": None}, ValueError, "param_groups must be a list of dicts"),
        ({"state": {}, "param_groups": [{"lr": 0.1}]}, ValueError, "each with a 'params' list"),
        ({"state": [], "param_groups": [{"params": [0, 1]}]}, ValueError,
         "state must be a dict from parameter index to a dict, got list"),
        ({"state": {}, "param_groups": [{"params": ["x", 1]}]}, TypeError,
         r"group 0: parameter index must be an int >= 0, got 'x'"),
        ({"state": {0: {"momentum_buffer": np.zeros(2)}, "first": {}},
          "param_groups": [{"params": [0, 1]}]}, TypeError,
         "state: parameter index must be an int"),
        ({"state": {0: {"momentum_buffer": np.zeros(2)}}, "param_groups": [{"params": [0, 1],
                                                                             "lr": "fast"}]},
         TypeError,
         r"SGD \(saved group 0\): lr must be a number >= 0, got 'fast'"),
    ],
)
def test_load_state_dict_refuses_what_is_not_an_optimizer_state_and_changes_nothing(
        state, error, message):
    params = make_parameters([np.ones(2), np.ones(3)])
    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    for p in params:
        p.grad += 1.0
    sgd.step()
    before = sgd.state_dict()
    with pytest.raises(error, match=message):
        sgd.load_state_dict(state)
    after = sgd.state_dict()
    assert after["param_groups"] == before["param_groups"]
    np.testing.assert_array_equal(after["state"][0]["momentum_buffer"],
                                  before["state"][0]["momentum_buffer"])


def test_load_state_dict_checks_the_non_array_state_entries():
    adam, _ = trained_adam([(2,), (3,)])
    saved = adam.state_dict()
    saved["state"][0]["step"] = "three"
    with pytest.raises(TypeError, match="step must be a number >= 0, got 'three'"):
        adam.load_state_dict(saved)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_optimizer_arguments_are_torchs_with_the_same_defaults_and_positions(name):
    torch = pytest.importorskip("torch")
    ours = inspect.signature(getattr(optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    assert all(ours[k].default == theirs[k].default for k in ours)
    positional = [k for k, p in ours.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == list(theirs)[:len(positional)]
