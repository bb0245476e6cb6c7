"""The one torch-parity helper every layer test uses (torch is the oracle)."""

from __future__ import annotations

import numpy as np

TOLERANCES = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-5)}


def to_torch(array, requires_grad=False):
    import torch

    return torch.tensor(np.asarray(array), requires_grad=requires_grad)


def copy_state_to_torch(module, torch_module, dtype) -> None:
    import torch

    torch_module.to(dtype=torch.float64 if dtype == np.float64 else torch.float32)
    state = {k: torch.from_numpy(np.array(v)) for k, v in module.state_dict().items()}
    torch_module.load_state_dict(state)


def assert_close(name, ours, theirs, dtype, scale_atol=True):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} != torch {theirs.shape}"
    assert ours.dtype == np.dtype(dtype), f"{name}: dtype {ours.dtype}, expected {dtype}"
    tol = dict(TOLERANCES[dtype])
    if scale_atol:
        # float32 sums of many terms: measure absolute error against the magnitude of the data
        tol["atol"] *= max(1.0, float(np.abs(theirs).max(initial=0)))
    np.testing.assert_allclose(ours, theirs, err_msg=name, **tol)


def assert_torch_parity(module, torch_module, x, dtype=np.float64, train=True, seed=0):
    """Forward output, dL/dx, every parameter gradient and every buffer equal torch's.

    ``module`` and ``torch_module`` get the same state (minigrad's, copied into torch) and the
    same input; the upstream gradient is random (seeded). Integer input (indices, as for
    Embedding) keeps its dtype and has no gradient: ``module.backward`` must return None.
    """
    import torch

    module.to(dtype)
    copy_state_to_torch(module, torch_module, dtype)
    module.train(train)
    torch_module.train(train)
    integer_input = np.issubdtype(np.asarray(x).dtype, np.integer)
    x = np.asarray(x) if integer_input else np.asarray(x, dtype=dtype)
    xt = to_torch(x, requires_grad=not integer_input)
    y = module(x)
    yt = torch_module(xt)
    assert_close("forward output", y, yt, dtype)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    module.zero_grad()
    torch_module.zero_grad()
    dx = module.backward(dy)
    yt.backward(torch.from_numpy(dy))
    if integer_input:
        assert dx is None, f"backward of integer input returned {type(dx).__name__}, not None"
    else:
        assert_close("dL/dx", dx, xt.grad, dtype)
    torch_params = dict(torch_module.named_parameters())
    for name, p in module.named_parameters():
        assert_close(f"grad of {name}", p.grad, torch_params[name].grad, dtype)
    torch_buffers = dict(torch_module.named_buffers())
    for name, b in module.named_buffers():
        np.testing.assert_allclose(b, torch_buffers[name].numpy(), err_msg=name,
                                   **TOLERANCES[dtype])
    return y, dx


def assert_loss_parity(loss_fn, torch_loss_fn, output, target, dtype=np.float64, seed=0):
    """The loss value (or, for ``reduction="none"``, the per-element losses) and dL/doutput
    equal torch's; with "none" the upstream gradient is random (seeded).

    ``target`` keeps its dtype when it is integer (class indices), else it is cast to ``dtype``.
    Buffers of ``loss_fn`` (class weights, pos_weight) are copied into ``torch_loss_fn``.
    """
    import torch

    loss_fn.to(dtype)
    copy_state_to_torch(loss_fn, torch_loss_fn, dtype)
    output = np.asarray(output, dtype=dtype)
    target = np.asarray(target)
    if not np.issubdtype(target.dtype, np.integer):
        target = target.astype(dtype)
    output_t = to_torch(output, requires_grad=True)
    loss = loss_fn(output, target)
    loss_t = torch_loss_fn(output_t, torch.from_numpy(target))
    if isinstance(loss, np.ndarray):
        assert_close("losses", loss, loss_t, dtype)
        dy = np.random.default_rng(seed).standard_normal(loss.shape).astype(dtype)
        grad = loss_fn.backward(dy)
        loss_t.backward(torch.from_numpy(dy))
    else:
        assert isinstance(loss, float), f"loss is a {type(loss).__name__}, not a float"
        tol = TOLERANCES[dtype]
        np.testing.assert_allclose(loss, loss_t.item(), err_msg="loss", rtol=tol["rtol"],
                                   atol=tol["atol"] * max(1.0, abs(loss_t.item())))
        grad = loss_fn.backward()
        loss_t.backward()
    assert_close("dL/doutput", grad, output_t.grad, dtype)
    return loss, grad
