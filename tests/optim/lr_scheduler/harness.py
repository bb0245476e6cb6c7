"""Drives a minigrad scheduler and its torch twin through the same steps and compares them.

A case is ``make(S, optimizer)``, where ``S`` is either ``minigrad.optim.lr_scheduler``
or ``torch.optim.lr_scheduler``: the two share names and signatures, so one lambda
builds both twins (composite schedulers included).
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad
from minigrad import optim
from minigrad.optim import lr_scheduler
from tests.optim.trajectory import is_plain, make_parameters

GROUP_LRS = (0.1, 0.03)


def minigrad_optimizer(lrs=GROUP_LRS, kind="sgd"):
    """Two groups (own lrs); SGD with momentum, or Adam (whose beta1 cyclic schedules move)."""
    params = make_parameters([np.ones(2) for _ in lrs])
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)]
    if kind == "adam":
        return optim.Adam(groups, lr=1.0)
    return optim.SGD(groups, lr=1.0, momentum=0.9)


def torch_optimizer(torch, lrs=GROUP_LRS, kind="sgd"):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    if kind == "adam":
        return torch.optim.Adam(groups, lr=1.0)
    return torch.optim.SGD(groups, lr=1.0, momentum=0.9)


def group_lrs(optimizer):
    return [group["lr"] for group in optimizer.param_groups]


def group_values(optimizer):
    """Each group's lr and momentum (beta1 for Adam): what the cyclic schedules write."""
    return [
        (group["lr"], group["betas"][0] if "betas" in group else group["momentum"])
        for group in optimizer.param_groups
    ]


def lr_history(scheduler, epochs, metrics=None):
    """The lrs after construction and after each epoch's step (stepping the optimizer first,
    so that torch does not warn about the call order)."""
    history = [group_lrs(scheduler.optimizer)]
    for epoch in range(epochs):
        scheduler.optimizer.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[epoch])
        assert scheduler.get_last_lr() == group_lrs(scheduler.optimizer)
        history.append(group_lrs(scheduler.optimizer))
    return history


def value_history(scheduler, steps):
    """``group_values`` after construction and after each of ``steps`` steps."""
    history = [group_values(scheduler.optimizer)]
    for _ in range(steps):
        scheduler.optimizer.step()
        scheduler.step()
        assert scheduler.get_last_lr() == group_lrs(scheduler.optimizer)
        history.append(group_values(scheduler.optimizer))
    return history


def torch_history(make, steps, kind="sgd"):
    torch = pytest.importorskip("torch")
    return value_history(make(torch.optim.lr_scheduler, torch_optimizer(torch, kind=kind)), steps)


def assert_same_values(ours, theirs):
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-12, atol=1e-15)


def assert_matches_torch(make, steps, kind="sgd"):
    """lr (and momentum) after construction and after every step equal torch's."""
    ours = value_history(make(lr_scheduler, minigrad_optimizer(kind=kind)), steps)
    assert_same_values(ours, torch_history(make, steps, kind))


def assert_resumes_like_torch(make, steps, split, tmp_path, kind="sgd"):
    """Stopped after ``split`` steps, saved to a checkpoint and resumed in fresh objects,
    the run continues exactly as torch's uninterrupted one."""
    first = make(lr_scheduler, minigrad_optimizer(kind=kind))
    head = value_history(first, split)
    assert is_plain(first.state_dict())
    path = tmp_path / "resume.npz"
    minigrad.save(path, optimizer=first.optimizer, scheduler=first)
    second = make(lr_scheduler, minigrad_optimizer(kind=kind))
    minigrad.load(path, optimizer=second.optimizer, scheduler=second)
    assert second.get_last_lr() == first.get_last_lr()
    assert second.state_dict() == first.state_dict()
    tail = value_history(second, steps - split)
    assert_same_values(head + tail[1:], torch_history(make, steps, kind))
