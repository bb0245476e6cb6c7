"""Containers with torch's registration and key naming: Sequential, ModuleList, ModuleDict.

Children of ``Sequential`` and ``ModuleList`` are named "0", "1", ... (renumbered after a
deletion or insertion, as torch does), so a ModuleList assigned as ``self.layers`` gives the
keys ``"layers.0.weight"``, and a ModuleDict ``self.blocks`` the keys
``"blocks.<key>.weight"``. Only ``Sequential`` has a forward and a backward; the other two
hold modules for a forward (and its backward) written by their owner.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from minigrad.nn.module import Module, _indent


def _check_module(owner: str, what: str, module) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"{owner} {what} must be a Module, got {type(module).__name__}")
    return module


class _IndexedModules(Module):
    """Children in order: integer indexing, slicing, len, iteration and editing."""

    def _position(self, index) -> int:
        """The position of an integer index (negative counts from the end), checked."""
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, "
                            f"got {type(index).__name__}") from None
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__} index {index} is out of range for "
                             f"{len(self)} modules")
        return index % len(self)

    def _renumber(self, modules: Iterable[Module]) -> None:
        object.__setattr__(self, "_modules", OrderedDict(
            (str(i), module) for i, module in enumerate(modules)))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):  # a container of the same kind (each names its own)
            return self._from_slice(index)
        return list(self._modules.values())[self._position(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        name = list(self._modules)[self._position(index)]
        setattr(self, name, _check_module(type(self).__name__, "item", module))

    def __delitem__(self, index) -> None:
        """Removes one position or a slice; the rest are renumbered "0".. (as torch)."""
        modules = list(self._modules.values())
        del modules[index if isinstance(index, slice) else self._position(index)]
        self._renumber(modules)

    def append(self, module: Module):
        """Adds ``module`` at the end, named ``str(len(self))``."""
        self.add_module(str(len(self)), _check_module(type(self).__name__, "item", module))
        return self

    def extend(self, modules: Iterable[Module]):
        """Appends every module of ``modules`` in order."""
        if not isinstance(modules, Iterable):
            raise TypeError(f"{type(self).__name__}.extend expects an iterable of Modules, "
                            f"got {type(modules).__name__}")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module):
        """Inserts ``module`` before position ``index`` (``len(self)`` appends); the
        children are renumbered "0".."""
        _check_module(type(self).__name__, "item", module)
        index = operator.index(index)
        if not -len(self) <= index <= len(self):
            raise IndexError(f"{type(self).__name__}.insert index {index} is out of range "
                             f"for {len(self)} modules")
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)
        return self

    def pop(self, index: int) -> Module:
        """Removes and returns the module at ``index``; the others are renumbered."""
        module = self[index]
        del self[index]
        return module


class Sequential(_IndexedModules):
    """Chains modules: forward in order, backward in reverse.

    ``Sequential(m0, m1, ...)`` names the children "0", "1", ...; ``Sequential(OrderedDict(
    [("conv", m0), ("relu", m1)]))`` uses the given names (as torch). A module may appear
    more than once: each use keeps its own forward context.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, _check_module("Sequential", f"entry {name!r}", module))
            return
        for index, module in enumerate(modules):
            self.add_module(str(index), _check_module("Sequential", f"argument {index}", module))

    def _from_slice(self, index: slice) -> Sequential:
        return Sequential(OrderedDict(list(self._modules.items())[index]))  # names kept

    def forward(self, x: np.ndarray) -> np.ndarray:
        for module in self._modules.values():
            x = module(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        for module in reversed(self._modules.values()):
            dy = module.backward(dy)
        return dy


class ModuleList(_IndexedModules):
    """A list of modules, registered as children "0", "1", ... (torch's ``nn.ModuleList``).

    Holds modules for its owner's forward and backward; it has neither itself.
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _from_slice(self, index: slice) -> ModuleList:
        return ModuleList(list(self._modules.values())[index])

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(list(self) + list(other))

    def __repr__(self) -> str:
        """torch's compressed form: consecutive equal entries as ``(0-2): 3 x ReLU()``."""
        if not len(self):
            return "ModuleList()"
        runs: list[list] = []  # [first index, last index, repr]
        for index, module in enumerate(self):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = index
            else:
                runs.append([index, index, text])
        lines = [_indent(f"({a}): {text}" if a == b else f"({a}-{b}): {b - a + 1} x {text}")
                 for a, b, text in runs]
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """An ordered dict of modules, registered under their keys (torch's ``nn.ModuleDict``).

    Holds modules for its owner's forward and backward; it has neither itself.
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no module {key!r}; keys: {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        self[key]  # the KeyError naming the keys
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules: Mapping[str, Module] | Iterable) -> None:
        """Adds (or replaces) entries from a mapping or from (key, module) pairs, in order."""
        if isinstance(modules, (Mapping, ModuleDict)):
            pairs = list(modules.items())
        elif isinstance(modules, Iterable):
            pairs = list(modules)
            for index, pair in enumerate(pairs):
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise ValueError(f"ModuleDict.update element {index} must be a (key, "
                                     f"module) pair, got {pair!r}")
        else:
            raise TypeError(f"ModuleDict.update expects a mapping or (key, module) pairs, "
                            f"got {type(modules).__name__}")
        for key, module in pairs:
            self[key] = module
