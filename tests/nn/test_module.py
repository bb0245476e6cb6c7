import numpy as np
import pytest

from minigrad import nn
from minigrad_bench.models import seed_net

SEED_NET_REPR = """Sequential(
  (0): Conv2d(1, 2, kernel_size=(5, 5), stride=(1, 1))
  (1): GELU(approximate='none')
  (2): Flatten(start_dim=1, end_dim=-1)
  (3): Linear(in_features=1152, out_features=256, bias=True)
  (4): GELU(approximate='none')
  (5): Dropout(p=0.3, inplace=False)
  (6): Linear(in_features=256, out_features=10, bias=True)
)"""


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.norm = nn.BatchNorm2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2, 3))


def test_seed_net_repr_is_torch_like():
    torch = pytest.importorskip("torch")
    from minigrad_bench.models import torch_seed_net

    assert repr(seed_net()) == SEED_NET_REPR == repr(torch_seed_net())
    assert torch is not None


def test_attribute_submodules_are_registered_under_their_names():
    block = Block()
    assert [name for name, _ in block.named_children()] == ["conv", "norm", "head"]
    assert list(block.state_dict()) == [
        "conv.weight", "conv.bias", "norm.weight", "norm.bias", "norm.running_mean",
        "norm.running_var", "norm.num_batches_tracked", "head.1.weight", "head.1.bias"]
    assert len(list(block.parameters())) == 6
    assert [type(m).__name__ for m in block.modules()] == [
        "Block", "Conv2d", "BatchNorm2d", "Sequential", "Flatten", "Linear"]


def test_train_and_eval_reach_every_module():
    block = Block().eval()
    assert not any(m.training for m in block.modules())
    block.train()
    assert all(m.training for m in block.modules())


def test_to_float64_converts_parameters_grads_and_buffers():
    block = Block().double()
    for _, p in block.named_parameters():
        assert p.data.dtype == p.grad.dtype == np.float64
    assert block.norm.running_var.dtype == np.float64
    assert block.norm.num_batches_tracked.dtype == np.int64
    y = block.head(block.norm(block.conv(np.zeros((2, 1, 3, 3)))))
    assert y.dtype == np.float64


def test_reset_parameters_is_reproducible_from_a_generator():
    a = seed_net().reset_parameters(np.random.default_rng(5))
    b = seed_net().reset_parameters(np.random.default_rng(5))
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_sequential_rejects_non_modules_and_module_needs_init():
    with pytest.raises(TypeError, match="Sequential argument 1 must be a Module, got int"):
        nn.Sequential(nn.ReLU(), 3)

    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.ReLU()

    with pytest.raises(AttributeError, match="must call super"):
        Broken()


def test_parameter_grad_matches_data():
    p = nn.Parameter(np.ones((2, 3), np.float32))
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float32 and not p.grad.any()
    with pytest.raises(TypeError, match="float32 or float64"):
        nn.Parameter(np.ones(3, np.int32))


def test_reassigning_a_child_keeps_its_place_in_state_dict_as_in_torch():
    block = Block()
    block.conv = nn.Conv2d(1, 2, 5)
    assert list(block.state_dict())[:2] == ["conv.weight", "conv.bias"]
    assert block.conv.kernel_size == (5, 5)
    block.norm = None  # a non-module value unregisters the name
    assert [name for name, _ in block.named_children()] == ["conv", "head"]


def test_apply_visits_children_first_then_the_module_as_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = [], []
    Block().apply(lambda m: ours.append(type(m).__name__))
    twin = torch.nn.Module()
    twin.conv, twin.norm = torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2)
    twin.head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 3))
    twin.apply(lambda m: theirs.append(type(m).__name__))
    assert ours[:-1] == theirs[:-1] and ours[-1] == "Block" and theirs[-1] == "Module"


def test_add_module_checks_the_name_and_the_module():
    owner = nn.Module()
    owner.add_module("0", nn.ReLU())
    assert list(owner.state_dict()) == [] and [n for n, _ in owner.named_children()] == ["0"]
    with pytest.raises(TypeError, match="expects a Module, got int"):
        owner.add_module("x", 3)
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        owner.add_module("training", nn.ReLU())
    with pytest.raises(KeyError, match="non-empty string without '.'"):
        owner.add_module("", nn.ReLU())


def test_repr_puts_extra_repr_on_its_own_line_when_there_are_children_as_torch():
    torch = pytest.importorskip("torch")

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Sequential(nn.Linear(2, 2), nn.ReLU())

        def extra_repr(self):
            return "scale=2"

    class TorchScaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())

        def extra_repr(self):
            return "scale=2"

    assert repr(Scaled()) == repr(TorchScaled()).replace("TorchScaled", "Scaled")
