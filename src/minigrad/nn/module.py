"""Module, Parameter and Sequential: the containers every layer is built from.

A module's ``forward(x)`` computes its output and keeps what ``backward`` needs with
``self.save_for_backward(...)``; ``backward(dy)`` takes it back with ``self.pop_saved()``,
returns dL/dx and ADDS dL/dparam into each ``Parameter.grad``. There is no autograd: every
layer writes its own backward.

A module may be called several times in one forward (a shared ReLU, a weight-tied Linear):
in training mode every call pushes its own context and every backward pops the latest one,
so backward calls made in reverse order of the forwards each get their own call's values.

Parameters, buffers and submodules are registered by attribute assignment, under the
same names PyTorch uses, so ``state_dict()`` keys equal those of the torch twin.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

DEFAULT_DTYPE = np.float32
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_grad_mode = threading.local()


def is_grad_enabled() -> bool:
    """False inside ``no_grad()``: forwards then keep nothing for a backward."""
    return getattr(_grad_mode, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Forwards inside this block keep no context (inference; no backward possible).

    Like ``torch.no_grad()``: memory use is that of the forward alone. Per thread.
    """
    previous = is_grad_enabled()
    _grad_mode.enabled = False
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def as_float_dtype(dtype) -> np.dtype:
    """Returns ``np.dtype(dtype)`` if it is float32 or float64, else raises ``TypeError``."""
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


class Parameter:
    """A trainable array (``data``) and the gradient accumulated into it (``grad``).

    ``grad`` always has the shape and dtype of ``data`` and starts at zero.
    """

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray):
        self.data = np.ascontiguousarray(data)
        as_float_dtype(self.data.dtype)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def zero_grad(self) -> None:
        self.grad.fill(0)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every layer and model.

    Subclasses implement ``forward(x)`` and ``backward(dy)``; containers inherit a
    ``backward`` that is only defined for ``Sequential``.
    """

    #: Most training-mode forwards one module keeps waiting for their backward; beyond it
    #: the oldest context is discarded (and a backward that needs it raises). Bounds the
    #: memory of forward-only loops in training mode (e.g. recomputing BatchNorm statistics).
    max_pending_forwards = 256

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_saved", [])
        object.__setattr__(self, "_discarded", 0)

    # -- registration -----------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() "
                f"before assigning attribute {name!r}"
            )
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: parameters, buffers and submodules.
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """Registers a non-trainable array (e.g. ``running_mean``) that ``state_dict`` saves."""
        self.__dict__.pop(name, None)
        self._buffers[name] = np.asarray(value)

    def set_buffer(self, name: str, value: np.ndarray) -> None:
        """Replaces the array of an existing buffer."""
        if name not in self._buffers:
            raise KeyError(f"{type(self).__name__} has no buffer named {name!r}")
        self._buffers[name] = value

    # -- forward / backward -----------------------------------------------------
    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    # -- what a forward keeps for its backward ----------------------------------
    def save_for_backward(self, *values) -> None:
        """Keeps ``values`` for the backward of the current forward call.

        Training mode: pushed on this module's stack, one entry per call, so a module
        called k times in one forward holds k contexts. Eval mode: replaces the single
        kept entry (eval-mode gradients work; inference loops hold one call's worth).
        Inside ``no_grad()``: nothing is kept.
        """
        if not is_grad_enabled():
            return
        saved = self._saved
        if not self.training:
            saved.clear()
            object.__setattr__(self, "_discarded", 0)
        elif len(saved) >= self.max_pending_forwards:
            del saved[0]
            object.__setattr__(self, "_discarded", self._discarded + 1)
        saved.append(values)

    def pop_saved(self) -> tuple:
        """Returns and forgets the values saved by the latest forward not yet matched.

        Raises:
            RuntimeError: no forward is left to match this backward (naming the module).
        """
        saved = self._saved
        if saved:
            return saved.pop()
        if self._discarded:
            raise RuntimeError(
                f"{type(self).__name__}({self.extra_repr()}).backward: the forward it "
                f"matches was discarded: more than max_pending_forwards="
                f"{self.max_pending_forwards} forwards were waiting for a backward")
        raise RuntimeError(
            f"{type(self).__name__}({self.extra_repr()}).backward called with no forward "
            "left to match (each backward consumes one forward; was the forward run under "
            "no_grad(), or is this a second backward of the same forward?)")

    def pending_forwards(self) -> int:
        """How many forwards of this module (not its children) wait for a backward."""
        return len(self._saved)

    def clear_saved(self) -> Module:
        """Forgets every kept forward context, in this module and all its submodules."""
        for module in self.modules():
            module._saved.clear()
            object.__setattr__(module, "_discarded", 0)
        return self

    # -- traversal --------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for module_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for module_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                yield (f"{module_name}.{name}" if module_name else name), b

    def num_parameters(self) -> int:
        """Total number of trainable scalars."""
        return sum(p.data.size for p in self.parameters())

    # -- modes and gradients ----------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Sets training mode on every submodule; forgets kept forward contexts."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self.clear_saved()

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def set_generator(self, generator: np.random.Generator) -> Module:
        """Hands ``generator`` to every submodule that draws random numbers (Dropout)."""
        if not isinstance(generator, np.random.Generator):
            raise TypeError(
                f"set_generator expects a numpy.random.Generator, got {type(generator).__name__}"
            )
        for module in self.modules():
            if "generator" in module.__dict__:
                module.generator = generator
        return self

    def reset_parameters(self, generator: np.random.Generator | None = None) -> Module:
        """Re-initialises every layer with torch's default scheme, drawing from ``generator``.

        Layers override this for their own parameters; containers recurse in module order,
        so the same generator seed always gives the same weights.
        """
        for child in self.children():
            child.reset_parameters(generator)
        return self

    # -- dtype ------------------------------------------------------------------
    def to(self, dtype) -> Module:
        """Casts every parameter, gradient and floating buffer to ``dtype`` in place."""
        dt = as_float_dtype(dtype)
        for module in self.modules():
            for p in module._parameters.values():
                p.data = p.data.astype(dt, copy=False)
                p.grad = p.grad.astype(dt, copy=False)
            for name, b in module._buffers.items():
                if np.issubdtype(b.dtype, np.floating):
                    module._buffers[name] = b.astype(dt, copy=False)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # -- state ------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed as in torch (``"0.weight"``, ...)."""
        state: OrderedDict[str, np.ndarray] = OrderedDict()
        for module_name, module in self.named_modules():
            dot = f"{module_name}." if module_name else ""
            for name, p in module._parameters.items():
                state[dot + name] = p.data.copy()
            for name, b in module._buffers.items():
                state[dot + name] = np.array(b, copy=True)
        return state

    def load_state_dict(self, state_dict: dict[str, np.ndarray]) -> None:
        """Copies ``state_dict`` into this module's parameters and buffers.

        Every key must be present with the right shape. Otherwise nothing is changed and a
        ``KeyError`` lists all missing, unexpected and mis-shaped entries at once. Values
        are cast to each parameter's dtype (as torch's ``copy_``); a non-numeric entry
        raises ``TypeError``, again before anything is changed.
        """
        targets = {}
        for module_name, module in self.named_modules():
            dot = f"{module_name}." if module_name else ""
            for name, p in module._parameters.items():
                targets[dot + name] = (module, name, p.data)
            for name, b in module._buffers.items():
                targets[dot + name] = (module, name, b)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        misshaped = [
            f"{k}: expected {targets[k][2].shape}, got {np.shape(state_dict[k])}"
            for k in targets
            if k in state_dict and np.shape(state_dict[k]) != targets[k][2].shape
        ]
        if missing or unexpected or misshaped:
            lines = [f"load_state_dict into {type(self).__name__} failed; nothing was changed."]
            if missing:
                lines.append("missing keys: " + ", ".join(missing))
            if unexpected:
                lines.append("unexpected keys: " + ", ".join(unexpected))
            if misshaped:
                lines.append("mis-shaped entries: " + "; ".join(misshaped))
            raise KeyError("\n".join(lines))
        # Convert every entry before assigning any, so an entry that cannot be converted
        # (a string or object array, a complex value) leaves the module unchanged.
        values = {}
        for key, (_, _, current) in targets.items():
            value = np.asarray(state_dict[key])
            if value.dtype.kind not in "biuf":
                raise TypeError(
                    f"load_state_dict into {type(self).__name__} failed; nothing was changed. "
                    f"entry {key!r} has dtype {value.dtype}, expected numbers for {current.dtype}"
                )
            values[key] = value.astype(current.dtype, copy=True)
        for key, (module, name, current) in targets.items():
            if name in module._parameters:
                module._parameters[name].data[...] = values[key]
            else:
                module._buffers[name] = values[key].reshape(current.shape)

    # -- repr -------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = [f"({name}): " + repr(child).replace("\n", "\n  ")
                    for name, child in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        return head + "\n  " + "\n  ".join(children) + "\n)"


class Sequential(Module):
    """Chains modules; children are named "0", "1", ... as in torch."""

    def __init__(self, *modules: Module):
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential argument {index} must be a Module, got {type(module).__name__}"
                )
            setattr(self, str(index), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        setattr(self, str(len(self)), module)
        return self

    def forward(self, x: np.ndarray) -> np.ndarray:
        for module in self._modules.values():
            x = module(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        for module in reversed(self._modules.values()):
            dy = module.backward(dy)
        return dy
