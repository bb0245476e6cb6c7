"""Module and Parameter: the base every layer, container and model is built from.

A module's ``forward(x)`` computes its output and keeps what ``backward`` needs with
``self.save_for_backward(...)``; ``backward(dy)`` takes it back with ``self.pop_saved()``,
returns dL/dx and ADDS dL/dparam into each ``Parameter.grad``. There is no autograd: every
layer writes its own backward.

A module may be called several times in one forward (a shared ReLU, a weight-tied Linear):
every call keeps its own context and every backward pops the latest one, so backward calls
made in reverse order of the forwards each get their own call's values.

Parameters, buffers and submodules are registered by attribute assignment, under the
same names PyTorch uses, so ``state_dict()`` keys equal those of the torch twin.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

import numpy as np

from minigrad.nn import state
from minigrad.nn.grad_mode import current_call, in_call, is_grad_enabled, no_grad, outermost_call

__all__ = ["DEFAULT_DTYPE", "FLOAT_DTYPES", "Module", "Parameter", "as_float_dtype",
           "is_grad_enabled", "no_grad"]

DEFAULT_DTYPE = np.float32
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


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


def _indent(text: str) -> str:
    """Indents every line but the first by two spaces, as torch's module repr does."""
    first, *rest = text.split("\n")
    return "\n".join([first] + ["  " + line if line.strip() else "" for line in rest])


class Module:
    """Base class of every layer and model.

    Subclasses implement ``forward`` and ``backward``. A container's ``backward`` is its
    own (``Sequential`` runs its children's in reverse); a model with a custom forward
    writes the matching backward, calling each child's ``backward`` in reverse order.
    """

    #: Most forwards one module keeps waiting for their backward; beyond it the oldest
    #: context is discarded (and a backward that needs it raises). Bounds the memory of
    #: forward-only loops in training mode (e.g. recomputing BatchNorm statistics).
    max_pending_forwards = 256

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_saved", [])
        # Why the latest contexts were dropped unmatched (for the error of a later backward)
        object.__setattr__(self, "_discarded", None)
        object.__setattr__(self, "_eval_call", None)

    # -- registration -----------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() "
                f"before assigning attribute {name!r}"
            )
        # A re-assigned parameter or module keeps its place in the registry (and so its
        # place in state_dict), as in torch; any other kind of value unregisters the name.
        target = (self._parameters if isinstance(value, Parameter)
                  else self._modules if isinstance(value, Module) else None)
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not target:
                registry.pop(name, None)
        if target is None:
            object.__setattr__(self, name, value)
            return
        target[name] = value
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

    def add_module(self, name: str, module: Module) -> None:
        """Registers ``module`` as the child ``name`` (what ``self.name = module`` does), for
        names that are not identifiers (``"0"``); torch's checks on the name."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module({name!r}, ...) expects a Module, "
                            f"got {type(module).__name__}")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"module name must be a non-empty string without '.', got {name!r}")
        if name not in self._modules and (name in self.__dict__ or hasattr(type(self), name)):
            raise KeyError(f"attribute {name!r} already exists in {type(self).__name__}")
        setattr(self, name, module)

    register_module = add_module

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
    def __call__(self, *args, **kwargs):
        if in_call():
            return self.forward(*args, **kwargs)
        # The outermost call (user code's model(x)): numbered, so that eval mode can keep
        # the contexts of the latest one only. If it fails, every pending context of the
        # module's tree is dropped: those pushed before the error must not be matched by a
        # later backward, and no record says which ones they were.
        with outermost_call():
            try:
                return self.forward(*args, **kwargs)
            except BaseException:
                self.clear_saved()
                raise

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    # -- what a forward keeps for its backward ----------------------------------
    def save_for_backward(self, *values) -> None:
        """Keeps ``values`` for the backward of the current forward call.

        Pushed on this module's stack, one entry per call, so a module called k times in
        one forward holds k contexts. Training mode keeps them until their backward (at
        most ``max_pending_forwards``, the oldest dropped first). Eval mode keeps only the
        contexts of the latest outermost call (``model(x)``): eval-mode gradients work,
        and an inference loop holds one forward's worth. Inside ``no_grad()``: nothing.
        """
        if not is_grad_enabled():
            return
        saved = self._saved
        if not self.training:
            # A forward called directly (m.forward(x), outside any call) is its own call
            call = current_call()
            if call is None or self._eval_call != call:
                if saved:
                    saved.clear()
                    object.__setattr__(self, "_discarded", "a later eval-mode forward")
                object.__setattr__(self, "_eval_call", call)
        if len(saved) >= self.max_pending_forwards:
            del saved[0]
            object.__setattr__(self, "_discarded", f"more than max_pending_forwards="
                                                   f"{self.max_pending_forwards} forwards")
        saved.append(values)

    def pop_saved(self) -> tuple:
        """Returns and forgets the values saved by the latest forward not yet matched.

        Raises:
            RuntimeError: no forward is left to match this backward (naming the module).
        """
        saved = self._saved
        if saved:
            return saved.pop()
        name = f"{type(self).__name__}({self.extra_repr()})"
        if self._discarded:
            raise RuntimeError(
                f"{name}: backward called before forward: the forward it matches was "
                f"discarded unmatched by {self._discarded} (see docs/design.md, Composition)")
        raise RuntimeError(
            f"{name}: backward called before forward (no forward of this module is left to "
            "match: each backward consumes one forward; was the forward run under "
            "no_grad(), or is this a second backward of the same forward?)")

    def pending_forwards(self) -> int:
        """How many forwards of this module (not its children) wait for a backward."""
        return len(self._saved)

    def clear_saved(self) -> Module:
        """Forgets every kept forward context, in this module and all its submodules."""
        for module in self.modules():
            module._saved.clear()
            object.__setattr__(module, "_discarded", None)
        return self

    # -- traversal (each module and parameter once, as in torch) ------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, module in self._modules.items():
            if id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """Every module of the tree with its dotted name, parents first; a module registered
        under several names comes once (its first name) unless ``remove_duplicate=False``."""
        seen = set()

        def walk(module, name):
            if id(module) in seen:
                return
            if remove_duplicate:
                seen.add(id(module))
            yield name, module
            for child_name, child in module._modules.items():
                yield from walk(child, f"{name}.{child_name}" if name else child_name)

        return walk(self, prefix)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter once: a tied one (the same Parameter in two modules) under its
        first name, so that an optimizer steps it once."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if id(b) not in seen:
                    seen.add(id(b))
                    yield (f"{module_name}.{name}" if module_name else name), b

    def num_parameters(self) -> int:
        """Total number of trainable scalars (a tied parameter counts once)."""
        return sum(p.data.size for p in self.parameters())

    def apply(self, fn: Callable[[Module], object]) -> Module:
        """Calls ``fn`` on every child (recursively, children first), then on ``self``."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

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

    # -- state (nn/state.py) -----------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed as in torch (``"0.weight"``, ...)."""
        return state.state_dict(self)

    def load_state_dict(self, state_dict: dict[str, np.ndarray]) -> None:
        """Copies ``state_dict`` into this module's parameters and buffers.

        Every key must be present with the right shape. Otherwise nothing is changed and a
        ``KeyError`` lists all missing, unexpected and mis-shaped entries at once. Values
        are cast to each parameter's dtype (as torch's ``copy_``); a non-numeric entry
        raises ``TypeError``, again before anything is changed.
        """
        state.load_state_dict(self, state_dict)

    # -- repr -------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        """torch's layout: a one-line extra_repr inline, else one entry per line."""
        extra = self.extra_repr().split("\n") if self.extra_repr() else []
        children = [f"({name}): " + _indent(repr(child))
                    for name, child in self._modules.items()]
        head = f"{type(self).__name__}("
        if len(extra) == 1 and not children:
            return head + extra[0] + ")"
        if not extra and not children:
            return head + ")"
        return head + "\n  " + "\n  ".join(extra + children) + "\n)"
