"""A module tree's state: its parameters and buffers under torch's keys (``"0.weight"``).

``Module.state_dict`` and ``Module.load_state_dict`` are these functions. Loading is all or
nothing: every entry is checked (present, shaped, numeric) and converted before any is
assigned.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from minigrad.nn.module import Module


def targets(module: Module) -> OrderedDict[str, tuple[Module, str, np.ndarray]]:
    """key -> (owner, name, array) of every parameter and buffer, in torch's key order:
    a module registered under two names has its entries under both (as torch)."""
    entries = OrderedDict()
    for module_name, owner in module.named_modules(remove_duplicate=False):
        dot = f"{module_name}." if module_name else ""
        for name, p in owner._parameters.items():
            entries[dot + name] = (owner, name, p.data)
        for name, b in owner._buffers.items():
            entries[dot + name] = (owner, name, b)
    return entries


def state_dict(module: Module) -> OrderedDict[str, np.ndarray]:
    """Copies of every parameter and buffer of ``module``'s tree, keyed as in torch."""
    return OrderedDict((key, np.array(array, copy=True))
                       for key, (_, _, array) in targets(module).items())


def load_state_dict(module: Module, values: dict[str, np.ndarray]) -> None:
    """Copies ``values`` into ``module``'s parameters and buffers, or changes nothing.

    Raises:
        KeyError: listing every missing, unexpected and mis-shaped entry at once.
        TypeError: an entry that is not numeric (a string or object array, complex).
    """
    entries = targets(module)
    _check_keys_and_shapes(module, entries, values)
    # Convert every entry before assigning any, so an entry that cannot be converted
    # (a string or object array, a complex value) leaves the module unchanged.
    converted = {}
    for key, (_, _, current) in entries.items():
        value = np.asarray(values[key])
        if value.dtype.kind not in "biuf":
            raise TypeError(
                f"load_state_dict into {type(module).__name__} failed; nothing was changed. "
                f"entry {key!r} has dtype {value.dtype}, expected numbers for {current.dtype}"
            )
        converted[key] = value.astype(current.dtype, copy=True)
    for key, (owner, name, current) in entries.items():
        if name in owner._parameters:
            owner._parameters[name].data[...] = converted[key]
        else:
            owner._buffers[name] = converted[key].reshape(current.shape)


def snapshot_buffers(module: Module) -> Callable[[], None]:
    """Remembers every buffer of ``module``'s tree; returns the function that puts them back.

    Putting back restores each module's buffers exactly: the same array objects, holding
    the remembered values, under the remembered names (a buffer replaced or added since is
    undone too). Cheap: buffers are small (BatchNorm's are a few values per channel), so a
    training step can take one before its forward and undo what a refused batch changed.
    """
    remembered = [(owner, dict(owner._buffers), [np.array(b, copy=True) for b in
                                                 owner._buffers.values()])
                  for owner in module.modules() if owner._buffers]

    def restore() -> None:
        for owner, arrays, values in remembered:
            owner._buffers.clear()
            owner._buffers.update(arrays)
            for array, value in zip(arrays.values(), values, strict=True):
                # A read-only buffer (or a value that is no array) cannot have changed in place
                if isinstance(array, np.ndarray) and array.flags.writeable:
                    np.copyto(array, value)

    return restore


def _check_keys_and_shapes(module: Module, entries: OrderedDict, values: dict) -> None:
    missing = [k for k in entries if k not in values]
    unexpected = [k for k in values if k not in entries]
    misshaped = [
        f"{k}: expected {entries[k][2].shape}, got {np.shape(values[k])}"
        for k in entries
        if k in values and np.shape(values[k]) != entries[k][2].shape
    ]
    if missing or unexpected or misshaped:
        lines = [f"load_state_dict into {type(module).__name__} failed; nothing was changed."]
        if missing:
            lines.append("missing keys: " + ", ".join(missing))
        if unexpected:
            lines.append("unexpected keys: " + ", ".join(unexpected))
        if misshaped:
            lines.append("mis-shaped entries: " + "; ".join(misshaped))
        raise KeyError("\n".join(lines))
