"""Modules used more than once in one forward: a shared ReLU, a weight-tied Linear, a block
in a loop, a module twice in a Sequential. Torch is the oracle; finite differences hold
the same gradients where torch is absent."""

import numpy as np
import pytest

from minigrad import nn, no_grad
from minigrad.testing import gradcheck
from tests.nn.cases import generator, random_input
from tests.parity import assert_torch_parity


class BasicBlock(nn.Module):
    """torchvision's BasicBlock, reusing ``self.relu`` as torchvision does."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        g = generator(1)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False, generator=g)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False, generator=g)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)  # the skip path
        return self.relu(out)

    def backward(self, dy):
        dy = self.relu.backward(dy)  # the second use of relu first
        d_skip = dy if self.downsample is None else self.downsample.backward(dy)
        d_main = self.conv2.backward(self.bn2.backward(dy))
        return self.conv1.backward(self.bn1.backward(self.relu.backward(d_main))) + d_skip


def downsampled_block():
    g = generator(2)
    return BasicBlock(2, 3, stride=2, downsample=nn.Sequential(
        nn.Conv2d(2, 3, 1, 2, bias=False, generator=g), nn.BatchNorm2d(3)))


def torch_block(torch, downsample):
    from torchvision.models.resnet import BasicBlock as TorchBasicBlock

    if not downsample:
        return TorchBasicBlock(3, 3)
    return TorchBasicBlock(2, 3, stride=2, downsample=torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 1, 2, bias=False), torch.nn.BatchNorm2d(3)))


class TiedLinear(nn.Module):
    """One Linear applied twice: y = lin(tanh(lin(x)))."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4, generator=generator(3))
        self.act = nn.Tanh()

    def forward(self, x):
        return self.lin(self.act(self.lin(x)))

    def backward(self, dy):
        return self.lin.backward(self.act.backward(self.lin.backward(dy)))


class Looped(nn.Module):
    """One block applied three times in a loop."""

    def __init__(self, block, times=3):
        super().__init__()
        self.block = block
        self.times = times

    def forward(self, x):
        for _ in range(self.times):
            x = self.block(x)
        return x

    def backward(self, dy):
        for _ in range(self.times):
            dy = self.block.backward(dy)
        return dy


def looped_block():
    return Looped(nn.Sequential(nn.Linear(5, 5, generator=generator(4)), nn.Tanh()))


def shared_in_sequential():
    lin, act = nn.Linear(4, 4, generator=generator(5)), nn.Sigmoid()
    return nn.Sequential(lin, act, lin, act)


def torch_twin(name, torch):
    t = torch.nn
    if name == "tied":
        class TorchTied(t.Module):
            def __init__(self):
                super().__init__()
                self.lin, self.act = t.Linear(4, 4), t.Tanh()

            def forward(self, x):
                return self.lin(self.act(self.lin(x)))

        return TorchTied()
    if name == "loop":
        class TorchLooped(t.Module):
            def __init__(self):
                super().__init__()
                self.block = t.Sequential(t.Linear(5, 5), t.Tanh())

            def forward(self, x):
                for _ in range(3):
                    x = self.block(x)
                return x

        return TorchLooped()
    lin, act = t.Linear(4, 4), t.Sigmoid()
    return t.Sequential(lin, act, lin, act)


# name: (builder, input shape)
SHARED = {"tied": (TiedLinear, (3, 4)), "loop": (looped_block, (2, 5)),
          "sequential": (shared_in_sequential, (3, 4))}


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("downsample", [False, True])
def test_basic_block_reusing_its_relu_matches_torchvision(downsample, train):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    ours = downsampled_block() if downsample else BasicBlock(3, 3)
    theirs = torch_block(torch, downsample)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if not train:  # non-trivial running statistics for eval mode
        ours.train()(random_input((4, 2 if downsample else 3, 6, 6), seed=3, dtype=np.float32))
    assert_torch_parity(ours, theirs, random_input((2, 2 if downsample else 3, 6, 6)),
                        np.float64, train=train)
    assert ours.relu.pending_forwards() == 0


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name", SHARED)
def test_module_used_several_times_in_one_forward_matches_torch(name, train):
    torch = pytest.importorskip("torch")
    build, shape = SHARED[name]
    assert_torch_parity(build(), torch_twin(name, torch), random_input(shape), np.float64,
                        train=train)


def test_shared_module_is_one_set_of_parameters_under_each_of_its_names_as_in_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = shared_in_sequential(), torch_twin("sequential", torch)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "0.weight", "0.bias", "2.weight", "2.bias"]
    assert [name for name, _ in ours.named_parameters()] == \
        [name for name, _ in theirs.named_parameters()] == ["0.weight", "0.bias"]
    assert [name for name, _ in ours.named_modules()] == \
        [name for name, _ in theirs.named_modules()] == ["", "0", "1"]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters()) == 20
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name", SHARED)
def test_module_used_several_times_matches_finite_differences(name, train):
    build, shape = SHARED[name]
    assert gradcheck(build().double().train(train), random_input(shape))


@pytest.mark.parametrize("train", [True, False])
def test_basic_block_matches_finite_differences(train):
    block = downsampled_block().double().train(train)
    assert gradcheck(block, random_input((2, 2, 5, 5)))


def test_tied_linear_gradient_is_the_sum_over_its_uses():
    model = TiedLinear().double()
    x, dy = random_input((3, 4)), random_input((3, 4), seed=1)
    lin = model.lin
    h = lin(x)
    a = model.act(h)
    lin(a)
    model.zero_grad()
    model.backward(dy)
    d_a = dy @ lin.weight.data
    d_h = d_a * (1 - np.tanh(h) ** 2)
    np.testing.assert_allclose(lin.weight.grad, dy.T @ a + d_h.T @ x, rtol=1e-12)
    np.testing.assert_allclose(lin.bias.grad, dy.sum(0) + d_h.sum(0), rtol=1e-12)


def test_two_outermost_forwards_are_matched_by_backwards_in_reverse_order():
    lin = nn.Linear(3, 2, generator=generator()).double()
    x1, x2 = random_input((4, 3)), random_input((4, 3), seed=1)
    dy1, dy2 = random_input((4, 2), seed=2), random_input((4, 2), seed=3)
    lin(x1)
    lin(x2)
    lin.zero_grad()
    dx2 = lin.backward(dy2)
    dx1 = lin.backward(dy1)
    np.testing.assert_allclose(lin.weight.grad, dy1.T @ x1 + dy2.T @ x2, rtol=1e-12)
    np.testing.assert_allclose(dx1, dy1 @ lin.weight.data, rtol=1e-12)
    np.testing.assert_allclose(dx2, dy2 @ lin.weight.data, rtol=1e-12)


def test_backward_with_no_forward_left_names_the_module():
    relu = nn.ReLU()
    relu(np.ones(3, np.float32))
    relu.backward(np.ones(3, np.float32))
    with pytest.raises(RuntimeError, match=r"ReLU\(\): backward called before forward"):
        relu.backward(np.ones(3, np.float32))
    block = BasicBlock(1, 1)
    block(np.ones((2, 1, 3, 3), np.float32))
    block.relu.backward(np.ones((2, 1, 3, 3), np.float32))  # a stray backward of one use
    with pytest.raises(RuntimeError, match=r"ReLU\(\): backward called before forward"):
        block.backward(np.ones((2, 1, 3, 3), np.float32))


def test_eval_forwards_keep_only_the_latest_call_and_no_grad_keeps_nothing():
    model = nn.Sequential(BasicBlock(2, 2), nn.Flatten(), nn.Linear(18, 3)).eval()
    x = random_input((2, 2, 3, 3), dtype=np.float32)
    for _ in range(1000):
        model(x)
    pending = {name: m.pending_forwards() for name, m in model.named_modules()}
    assert pending["0.relu"] == 2  # the two uses of the latest forward, for its backward
    assert max(count for name, count in pending.items() if name != "0.relu") == 1
    model.backward(np.ones((2, 3), np.float32))
    assert not any(m.pending_forwards() for m in model.modules())
    model.train()
    with no_grad():
        for _ in range(10):
            model(x)
    assert not any(m.pending_forwards() for m in model.modules())


def test_pending_cap_discards_the_oldest_and_its_backward_raises():
    lin = nn.Linear(2, 2, generator=generator()).double()
    lin.max_pending_forwards = 3
    xs = [random_input((1, 2), seed=s) for s in range(4)]
    for x in xs:
        lin(x)
    assert lin.pending_forwards() == 3
    for x in reversed(xs[1:]):
        lin.zero_grad()
        lin.backward(np.ones((1, 2)))
        np.testing.assert_allclose(lin.weight.grad, np.ones((2, 1)) @ x, rtol=1e-12)
    with pytest.raises(RuntimeError, match="discarded unmatched by more than "
                                           "max_pending_forwards=3"):
        lin.backward(np.ones((1, 2)))


def test_a_failed_forward_leaves_no_context_behind():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="in_features=4"):
        model(np.ones((2, 3), np.float32))
    assert not any(m.pending_forwards() for m in model.modules())


def test_train_eval_and_clear_saved_forget_pending_contexts():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    x = np.ones((2, 3), np.float32)
    for reset in (model.train, model.eval, model.clear_saved):
        model(x)
        reset()
        assert not any(m.pending_forwards() for m in model.modules())


def test_a_refused_gradient_leaves_the_context_for_a_corrected_backward():
    lin = nn.Linear(3, 2)
    lin(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected a gradient of shape \(4, 2\)"):
        lin.backward(np.ones((4, 3), np.float32))
    assert lin.pending_forwards() == 1
    assert lin.backward(np.ones((4, 2), np.float32)).shape == (4, 3)
