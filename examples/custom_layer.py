"""Write your own layer: forward saves what backward needs, backward pops it, returns dL/dx
and adds into p.grad.

    python examples/custom_layer.py

The layer below is a learnable per-feature SiLU, y = x * sigmoid(beta * x), with one
parameter per feature. minigrad.testing.gradcheck compares its backward with finite
differences; then the layer trains inside a model like any built-in one.
"""

from __future__ import annotations

import numpy as np

from minigrad import nn, optim
from minigrad.testing import gradcheck


class LearnableSiLU(nn.Module):
    """y = x * sigmoid(beta * x), beta of shape (features,), initialised to 1."""

    def __init__(self, features: int, dtype=np.float32):
        super().__init__()
        self.beta = nn.Parameter(np.ones(features, dtype=dtype))  # registered as "beta"

    def forward(self, x: np.ndarray) -> np.ndarray:
        s = 1 / (1 + np.exp(-self.beta.data * x))  # (N, features)
        self.save_for_backward(x, s)  # what backward needs, one context per call
        return x * s

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, s = self.pop_saved()  # the context of the forward this backward matches
        ds = s * (1 - s)  # d sigmoid(z) / dz at z = beta * x
        self.beta.grad += (dy * x * ds * x).sum(axis=0)  # accumulate, never overwrite
        return dy * (s + x * ds * self.beta.data)  # dL/dx

    def extra_repr(self) -> str:
        return f"features={self.beta.data.shape[0]}"


def main() -> None:
    g = np.random.default_rng(0)

    # 1. The gradient check: float64, a random input, every parameter and the input.
    layer = LearnableSiLU(5).double()
    layer.beta.data[...] = g.uniform(0.5, 2.0, 5)
    gradcheck(layer, g.standard_normal((4, 5)))
    print("gradcheck passed:", layer)

    # 2. The layer in a model, trained on a toy regression with the built-in machinery.
    model = nn.Sequential(nn.Linear(3, 16, generator=g), LearnableSiLU(16),
                          nn.Linear(16, 1, generator=g))
    x = g.standard_normal((256, 3)).astype(np.float32)
    target = np.sin(x.sum(axis=1, keepdims=True)).astype(np.float32)
    loss_fn, opt = nn.MSELoss(), optim.Adam(model.parameters(), lr=0.01)
    for step in range(301):
        opt.zero_grad()
        loss = loss_fn(model(x), target)
        model.backward(loss_fn.backward())
        opt.step()
        if step % 100 == 0:
            print(f"step {step:3d}  mse {loss:.4f}")
    print(model)
    print("state_dict keys:", list(model.state_dict()))


if __name__ == "__main__":
    main()
