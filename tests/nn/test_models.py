"""Whole-model parity: the seed net and the VGG baseline built in minigrad and in torch."""

import numpy as np
import pytest

from minigrad import nn
from minigrad_bench.models import seed_net, torch_seed_net, torch_vgg, vgg
from tests.nn.cases import random_input
from tests.parity import assert_close, assert_torch_parity

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_seed_net_matches_torch(dtype, train):
    ours = seed_net(dropout=0.0, generator=np.random.default_rng(0))
    assert set(ours.state_dict()) == set(torch_seed_net().state_dict())
    assert_torch_parity(ours, torch_seed_net(dropout=0.0), random_input((8, 1, 28, 28)), dtype,
                        train=train)


@pytest.mark.parametrize("train", [True, False])
def test_vgg_matches_torch(train):
    ours = vgg(1, generator=np.random.default_rng(0))
    theirs = torch_vgg(1)
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters()) == 4_656_074
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    if not train:  # non-trivial running statistics for eval mode
        ours.train()(random_input((4, 1, 16, 16), seed=3, dtype=np.float32))
    assert_torch_parity(ours, theirs, random_input((3, 1, 16, 16)), np.float64, train=train)


def test_seed_net_training_step_loss_and_gradients_match_torch():
    ours = seed_net(dropout=0.0, generator=np.random.default_rng(1)).double()
    theirs = torch_seed_net(dropout=0.0).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x, y = random_input((16, 1, 28, 28)), np.random.default_rng(0).integers(0, 10, 16)
    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(ours(x), y)
    ours.zero_grad()
    ours.backward(loss_fn.backward())
    t_loss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(name, p.grad, t_params[name].grad, np.float64)
