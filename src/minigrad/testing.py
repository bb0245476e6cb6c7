"""Gradient checking for users writing their own layers."""

from __future__ import annotations

import numpy as np

from minigrad.nn.module import Module, no_grad


def _forward(module: Module, x: np.ndarray, seed: int) -> np.ndarray:
    # Random layers (Dropout) get a fresh generator with the same seed before every forward,
    # so that each evaluation of the loss sees the same mask.
    module.set_generator(np.random.default_rng(seed))
    return module(x)


def numerical_gradients(module: Module, x: np.ndarray, projection: np.ndarray,
                        eps: float = 1e-6, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Central differences of L = sum(module(x) * projection) w.r.t. x and each parameter.

    The forwards run under ``no_grad()``: they keep no context, so none of them can be
    matched by a later backward in place of the forward it belongs to.
    """

    def loss() -> float:
        with no_grad():
            return float(np.sum(_forward(module, x, seed) * projection))

    def differentiate(array: np.ndarray) -> np.ndarray:
        grad = np.zeros_like(array)
        flat, out = array.reshape(-1), grad.reshape(-1)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = loss()
            flat[i] = original - eps
            minus = loss()
            flat[i] = original
            out[i] = (plus - minus) / (2 * eps)
        return grad

    x = x.copy()
    dx = differentiate(x)
    params = {name: differentiate(p.data) for name, p in module.named_parameters()}
    return dx, params


def gradcheck(module: Module, x: np.ndarray, eps: float = 1e-6, atol: float = 1e-6,
              rtol: float = 1e-5, seed: int = 0) -> bool:
    """Compares ``module.backward`` with finite differences, in float64.

    The loss is a random projection L = sum(module(x) * r) (r from ``seed``), so every output
    element contributes. Checks dL/dx and the gradient of every parameter. Random layers are
    made deterministic by re-seeding their generator before each forward. Forgets the
    module's pending forward contexts first (``clear_saved``).

    Args:
        module: a float64 module (``module.double()``) in the mode to check (train or eval).
        x: float64 input array.

    Returns:
        True if all gradients agree; otherwise raises AssertionError naming the worst entry,
        or naming a submodule whose forward context the backward left unconsumed (a
        backward that skips a child's backward, or a forward that saves twice).
    """
    if x.dtype != np.float64 or any(p.data.dtype != np.float64 for p in module.parameters()):
        raise TypeError("gradcheck needs float64 input and parameters: call module.double() "
                        "and pass x.astype(np.float64)")
    module.clear_saved()
    y = _forward(module, x, seed)
    projection = np.random.default_rng(seed).standard_normal(y.shape)
    module.zero_grad()
    analytic_dx = module.backward(projection)
    _assert_no_stray_contexts(module)
    analytic = {name: p.grad.copy() for name, p in module.named_parameters()}
    numeric_dx, numeric = numerical_gradients(module, x, projection, eps, seed)
    _assert_close("input", analytic_dx, numeric_dx, atol, rtol)
    for name in analytic:
        _assert_close(name, analytic[name], numeric[name], atol, rtol)
    return True


def _assert_no_stray_contexts(module: Module) -> None:
    for name, sub in module.named_modules():
        if sub.pending_forwards():
            raise AssertionError(
                f"{type(sub).__name__} {name or '(the module checked)'} still holds "
                f"{sub.pending_forwards()} forward context(s) after one forward and its "
                "backward: a backward does not pop every context its forward saved")


def _assert_close(name: str, analytic: np.ndarray, numeric: np.ndarray, atol, rtol) -> None:
    error = np.abs(analytic - numeric)
    bound = atol + rtol * np.abs(numeric)
    if np.all(error <= bound):
        return
    worst = np.unravel_index(np.argmax(error - bound), error.shape)
    raise AssertionError(
        f"gradient of {name} disagrees with finite differences at index {worst}: "
        f"analytic {analytic[worst]!r}, numeric {numeric[worst]!r} "
        f"({int(np.sum(error > bound))} of {error.size} entries out of tolerance)"
    )
