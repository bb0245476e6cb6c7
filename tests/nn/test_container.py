"""Sequential, ModuleList and ModuleDict: torch's registration, editing and key naming."""

from collections import OrderedDict

import numpy as np
import pytest

from minigrad import nn
from minigrad.testing import gradcheck
from tests.nn.cases import generator, random_input
from tests.parity import assert_torch_parity


def tnn():
    return pytest.importorskip("torch").nn


def keys(module):
    return list(module.state_dict())


def structure(module):
    """What must agree with torch after an edit: child names, kinds, keys and repr."""
    return ([(name, type(child).__name__) for name, child in module._modules.items()],
            keys(module), repr(module))


def edit_list(lib):
    """The same edits applied to a ModuleList of either library."""
    layers = lib.ModuleList([lib.Linear(2, 3), lib.ReLU()])
    layers.append(lib.Linear(3, 4))
    layers.extend([lib.Tanh(), lib.Linear(4, 1)])
    layers.insert(1, lib.Sigmoid())
    layers.insert(len(layers) - 1, lib.ReLU())  # torch's insert takes no negative index
    layers[0] = lib.Linear(2, 5)
    del layers[2]
    layers += [lib.Identity()]
    popped = layers.pop(-2)
    return layers, layers[1:4], layers[-1], popped


class Owner(nn.Module):
    """An MLP whose layers live in a ModuleList, its activations in a ModuleDict."""

    def __init__(self):
        super().__init__()
        g = generator(7)
        self.layers = nn.ModuleList([nn.Linear(3, 4, generator=g), nn.Linear(4, 2, generator=g)])
        self.acts = nn.ModuleDict({"hidden": nn.Tanh(), "out": nn.Sigmoid()})

    def forward(self, x):
        return self.acts["out"](self.layers[1](self.acts["hidden"](self.layers[0](x))))

    def backward(self, dy):
        dy = self.layers[1].backward(self.acts["out"].backward(dy))
        return self.layers[0].backward(self.acts["hidden"].backward(dy))


def torch_owner():
    t = tnn()

    class TorchOwner(t.Module):
        def __init__(self):
            super().__init__()
            self.layers = t.ModuleList([t.Linear(3, 4), t.Linear(4, 2)])
            self.acts = t.ModuleDict({"hidden": t.Tanh(), "out": t.Sigmoid()})

        def forward(self, x):
            return self.acts["out"](self.layers[1](self.acts["hidden"](self.layers[0](x))))

    return TorchOwner()


def test_module_list_edits_match_torch():
    ours, theirs = edit_list(nn), edit_list(tnn())
    for a, b in zip(ours[:2], theirs[:2]):
        assert structure(a) == structure(b)
    assert type(ours[2]).__name__ == type(theirs[2]).__name__ == "Identity"
    assert type(ours[3]).__name__ == type(theirs[3]).__name__
    assert len(ours[0]) == len(theirs[0]) == 6
    assert keys(ours[0])[0] == "0.weight"


def test_module_list_insert_and_pop_take_negative_indices_like_a_list():
    a, b, c = nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    layers = nn.ModuleList([a, b])
    layers.insert(-1, c)
    assert list(layers) == [a, c, b] and list(layers._modules) == ["0", "1", "2"]
    assert layers.pop(-1) is b and list(layers) == [a, c]
    del layers[-2:]
    assert len(layers) == 0


def test_module_list_repr_compresses_repeats_like_torch():
    for build in (lambda lib: lib.ModuleList([lib.ReLU(), lib.ReLU(), lib.Tanh()]),
                  lambda lib: lib.ModuleList()):
        assert repr(build(nn)) == repr(build(tnn()))


def test_module_dict_operations_match_torch():
    results = []
    for lib in (nn, tnn()):
        blocks = lib.ModuleDict({"conv": lib.Conv2d(1, 2, 3), "act": lib.ReLU()})
        blocks.update([("norm", lib.Linear(2, 2)), ("act", lib.Tanh())])
        blocks["head"] = lib.Linear(2, 3)
        popped = blocks.pop("act")
        del blocks["head"]
        results.append((structure(blocks), list(blocks.keys()), type(popped).__name__,
                         [type(m).__name__ for m in blocks.values()],
                         [k for k, _ in blocks.items()], "conv" in blocks, len(blocks)))
    assert results[0] == results[1]
    assert results[0][1] == ["conv", "norm"]


def test_containers_as_attributes_give_torch_keys_and_gradients():
    pytest.importorskip("torch")
    ours, theirs = Owner(), torch_owner()
    assert keys(ours) == keys(theirs) == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    assert repr(ours).replace("Owner", "TorchOwner") == repr(theirs)
    for train in (True, False):
        assert_torch_parity(ours, theirs, random_input((5, 3)), np.float64, train=train)
    assert gradcheck(Owner().double(), random_input((5, 3)))


def test_module_dict_keys_name_state_dict_entries():
    blocks = nn.ModuleDict({"conv": nn.Conv2d(1, 2, 3), "norm": nn.BatchNorm1d(2)})
    owner = nn.Module()
    owner.blocks = blocks
    assert keys(owner) == ["blocks.conv.weight", "blocks.conv.bias", "blocks.norm.weight",
                           "blocks.norm.bias", "blocks.norm.running_mean",
                           "blocks.norm.running_var", "blocks.norm.num_batches_tracked"]


def test_sequential_from_ordered_dict_keeps_names_forward_and_backward():
    torch = pytest.importorskip("torch")
    names = [("conv", nn.Conv2d(2, 3, 3, generator=generator())), ("act", nn.ReLU()),
             ("flat", nn.Flatten()), ("fc", nn.Linear(12, 2, generator=generator(1)))]
    ours = nn.Sequential(OrderedDict(names))
    theirs = torch.nn.Sequential(OrderedDict([
        ("conv", torch.nn.Conv2d(2, 3, 3)), ("act", torch.nn.ReLU()),
        ("flat", torch.nn.Flatten()), ("fc", torch.nn.Linear(12, 2))]))
    assert keys(ours) == keys(theirs) == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]
    assert repr(ours) == repr(theirs)
    assert ours.fc is ours[-1] and structure(ours[1:3]) == structure(theirs[1:3])
    assert_torch_parity(ours, theirs, random_input((2, 2, 4, 4)))


def test_sequential_edits_match_torch():
    results = []
    for lib in (nn, tnn()):
        seq = lib.Sequential(lib.Linear(2, 3), lib.ReLU(), lib.Linear(3, 1))
        seq[1] = lib.Tanh()
        seq.append(lib.Sigmoid())
        del seq[0]
        results.append(structure(seq))
    assert results[0] == results[1]


def test_container_errors_name_what_was_wrong():
    with pytest.raises(TypeError, match="ModuleList item must be a Module, got int"):
        nn.ModuleList([nn.ReLU(), 3])
    with pytest.raises(IndexError, match="ModuleList index 2 is out of range for 2 modules"):
        nn.ModuleList([nn.ReLU(), nn.ReLU()])[2]
    with pytest.raises(TypeError, match="indices must be integers or slices, got str"):
        nn.Sequential(nn.ReLU())["0"]
    with pytest.raises(KeyError, match=r"no module 'b'; keys: \['a'\]"):
        nn.ModuleDict({"a": nn.ReLU()})["b"]
    with pytest.raises(KeyError, match="attribute 'keys' already exists"):
        nn.ModuleDict({"keys": nn.ReLU()})
    with pytest.raises(KeyError, match="without '.'"):
        nn.ModuleDict({"a.b": nn.ReLU()})
    with pytest.raises(ValueError, match="element 0 must be a"):
        nn.ModuleDict([("a", nn.ReLU(), 1)])
    with pytest.raises(NotImplementedError, match="ModuleList does not implement forward"):
        nn.ModuleList([nn.ReLU()])(np.ones(2, np.float32))
