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
    same input; the upstream gradient is random (seeded).
    """
    import torch

    module.to(dtype)
    copy_state_to_torch(module, torch_module, dtype)
    module.train(train)
    torch_module.train(train)
    x = np.asarray(x, dtype=dtype)
    xt = to_torch(x, requires_grad=True)
    y = module(x)
    yt = torch_module(xt)
    assert_close("forward output", y, yt, dtype)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    module.zero_grad()
    torch_module.zero_grad()
    dx = module.backward(dy)
    yt.backward(torch.from_numpy(dy))
    assert_close("dL/dx", dx, xt.grad, dtype)
    torch_params = dict(torch_module.named_parameters())
    for name, p in module.named_parameters():
        assert_close(f"grad of {name}", p.grad, torch_params[name].grad, dtype)
    torch_buffers = dict(torch_module.named_buffers())
    for name, b in module.named_buffers():
        np.testing.assert_allclose(b, torch_buffers[name].numpy(), err_msg=name,
                                   **TOLERANCES[dtype])
    return y, dx
