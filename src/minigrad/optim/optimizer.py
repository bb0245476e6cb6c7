"""Optimizer: the base class that holds parameter groups and per-parameter state.

A parameter group is a dict like torch's: ``{"params": [Parameter, ...], "lr": 0.1, ...}``
holding every hyperparameter the update rule reads. Hyperparameters missing from a group
are filled from the optimizer's defaults, so a group only names what it overrides, e.g.
biases and norm weights in a group with ``weight_decay=0``.

Subclasses implement ``step()``; it updates every ``p.data`` IN PLACE (models hold
references to these arrays) and keeps its dtype.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.checks import check_number
from minigrad.optim.state_dict import OptimizerStateDict, plain

# Keys a group may hold besides the optimizer's hyperparameters: the parameters, a
# free-form label, and what torch's schedulers record in the groups (``initial_lr``;
# OneCycleLR's ``max_lr`` and ``min_lr``; the momentum bounds of the cyclic schedules).
_SCHEDULER_GROUP_KEYS = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")
_EXTRA_GROUP_KEYS = ("params", "param_names", "name", *_SCHEDULER_GROUP_KEYS)


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start += weight * (end - start)`` in place, rounding as torch's ``lerp_`` does.

    torch switches formula at ``|weight| = 0.5`` so that both ends are reached exactly.
    """
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        np.subtract(end, (end - start) * (1 - weight), out=start)


def _is_parameter(p: Any) -> bool:
    return isinstance(getattr(p, "data", None), np.ndarray) and isinstance(
        getattr(p, "grad", None), np.ndarray
    )


class Optimizer(OptimizerStateDict):
    """Base class: parameter groups, per-parameter state, ``zero_grad`` and state dicts.

    Args:
        params: an iterable of ``Parameter`` (objects with ``.data`` and ``.grad`` arrays),
            or of ``(name, Parameter)`` pairs such as ``model.named_parameters()``, or an
            iterable of dicts ``{"params": [...], "lr": ..., ...}``, one per group. Named
            groups keep the names under ``"param_names"``, as torch 2.x does; either every
            group is named or none is.
        defaults: every hyperparameter of the update rule with its default value.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list of Parameters) and all
            hyperparameters. Schedulers write ``group["lr"]``.
        state: dict from Parameter to its state dict (moments, step count), filled lazily
            by ``step()``.
    """

    def __init__(self, params: Iterable, defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Any, dict[str, Any]] = {}
        name = type(self).__name__
        if isinstance(params, dict) or _is_parameter(params):
            raise TypeError(
                f"{name} expects an iterable of Parameters or a list of group dicts, "
                f"got a single {type(params).__name__}; wrap it in a list"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name} expects an ordered iterable of Parameters (a list), got a "
                            "set, whose order changes between runs")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(
                f"{name} expects an iterable of Parameters or of group dicts, "
                f"got {type(params).__name__}"
            ) from None
        if not params:
            raise ValueError(f"{name} got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    # -- parameter groups ---------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group; hyperparameters it does not name are taken from the defaults.

        ``param_group["params"]`` may hold Parameters or ``(name, Parameter)`` pairs; the
        names then go to ``param_group["param_names"]``.
        """
        name = type(self).__name__
        where = f"group {len(self.param_groups)}"
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' entry, "
                            f"got {param_group!r}")
        params, names = self._split_names(param_group["params"], where)
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: {where} lists a parameter twice")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group = {**self.defaults, **param_group, "params": params}
        if names is not None:
            group["param_names"] = names
        group = self._normalized(group)
        self._check_group(group, where)
        named = "param_names" in group
        if self.param_groups and named != ("param_names" in self.param_groups[0]):
            kind, other = ("named", "unnamed") if named else ("unnamed", "named")
            raise ValueError(f"{name}: {where} has {kind} parameters, the groups before it "
                             f"{other} ones; name the parameters of every group or of none")
        self.param_groups.append(group)

    def _split_names(self, params: Any, where: str) -> tuple[list, list[str] | None]:
        """The Parameters of a group, and their names if given as ``(name, Parameter)``."""
        owner = type(self).__name__
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{owner}: the parameters of {where} must be ordered (a list), "
                            "got a set")
        items = [params] if _is_parameter(params) else list(params)
        named = [isinstance(item, tuple) for item in items]
        for index, item in enumerate(items):
            pair = isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
            if not (_is_parameter(item) or (pair and _is_parameter(item[1]))):
                got = repr(item) if isinstance(item, tuple) else type(item).__name__
                raise TypeError(f"{owner}: parameter {index} of {where} must be a Parameter "
                                f"(with .data and .grad arrays) or a (name, Parameter) pair, "
                                f"got {got}")
        if any(named) and not all(named):
            raise ValueError(f"{owner}: {where} mixes named and unnamed parameters; "
                             "name all of them or none")
        if items and all(named):
            return [item[1] for item in items], [item[0] for item in items]
        return items, None

    def _normalized(self, group: dict[str, Any]) -> dict[str, Any]:
        """``group`` with Python scalars, and tuples where the default is a tuple (``betas``)."""
        normalized = {}
        for key, value in group.items():
            is_sequence = isinstance(value, (list, tuple, np.ndarray))
            if key != "params" and isinstance(self.defaults.get(key), tuple) and is_sequence:
                value = tuple(plain(v) for v in value)
            normalized[key] = value if key == "params" else plain(value)
        return normalized

    def _check_group(self, group: dict[str, Any], where: str) -> None:
        """Raises ``ValueError`` for unknown keys or out-of-range hyperparameters, ``TypeError``
        for hyperparameters of the wrong type."""
        unknown = sorted(k for k in group if k not in self.defaults and k not in _EXTRA_GROUP_KEYS)
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: {where} has unknown keys {unknown}; "
                f"allowed: {sorted(self.defaults)} and {list(_EXTRA_GROUP_KEYS)}"
            )
        owner = f"{type(self).__name__} ({where})"
        names = group.get("param_names")
        if "param_names" in group and (
            not isinstance(names, (list, tuple)) or len(names) != len(group["params"])
            or not all(isinstance(n, str) for n in names)
        ):
            raise ValueError(f"{owner}: param_names must be a list of {len(group['params'])} "
                             f"names (str), one per parameter, got {names!r}")
        for key in _SCHEDULER_GROUP_KEYS:
            if key in group:
                check_number(group[key], f"{owner}: {key}", minimum=0)
        self._check_hyperparameters(group, owner)

    def _check_hyperparameters(self, group: dict[str, Any], owner: str) -> None:
        """Subclasses check their hyperparameters here (``lr`` and ``weight_decay`` >= 0)."""
        check_number(group["lr"], f"{owner}: lr", minimum=0)
        check_number(group["weight_decay"], f"{owner}: weight_decay", minimum=0)

    @property
    def lr(self) -> float:
        """The first group's learning rate; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        check_number(value, f"{type(self).__name__}: lr", minimum=0)
        for group in self.param_groups:
            group["lr"] = value

    # -- updates ------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Sets every parameter's gradient to zero in place (the arrays stay the same objects)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad.fill(0)

    def step(self) -> None:
        """Updates every parameter in place from its ``.grad``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step")

    # -- state --------------------------------------------------------------------
    def _all_params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for g, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {g}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])
