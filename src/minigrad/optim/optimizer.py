"""Optimizer: the base class that holds parameter groups and per-parameter state.

A parameter group is a dict like torch's: ``{"params": [Parameter, ...], "lr": 0.1, ...}``
holding every hyperparameter the update rule reads. Hyperparameters missing from a group
are filled from the optimizer's defaults, so a group only names what it overrides, e.g.
biases and norm weights in a group with ``weight_decay=0``.

Subclasses implement ``step()``; it updates every ``p.data`` IN PLACE (models hold
references to these arrays) and keeps its dtype.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

# Keys a group may hold besides the optimizer's hyperparameters: the parameters, a
# free-form label, and what torch's schedulers record in the groups (``initial_lr``;
# OneCycleLR's ``max_lr`` and ``min_lr``; the momentum bounds of the cyclic schedules).
_SCHEDULER_GROUP_KEYS = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")
_EXTRA_GROUP_KEYS = ("params", "name", *_SCHEDULER_GROUP_KEYS)


def plain(value: Any) -> Any:
    """Returns the Python scalar held by a numpy scalar or 0-d array, else ``value`` unchanged.

    State dicts that went through a file (``.npz``) may come back with numpy scalars;
    the update rules want Python numbers so that float32 arrays are never promoted.
    """
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return value.item()
    return value


def check_number(owner: str, name: str, value: Any, low: float = 0.0, high: float | None = None,
                 high_inclusive: bool = True) -> None:
    """Raises ``ValueError`` unless ``value`` is a real number in ``[low, high]``.

    With ``high_inclusive=False`` the interval is ``[low, high)``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}")
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if not value >= low or too_high:  # `not >=` also rejects NaN
        upper = "" if high is None else f" and {'<=' if high_inclusive else '<'} {high}"
        raise ValueError(f"{owner}: {name} must be >= {low}{upper}, got {value!r}")


def _is_parameter(p: Any) -> bool:
    return isinstance(getattr(p, "data", None), np.ndarray) and isinstance(
        getattr(p, "grad", None), np.ndarray
    )


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad`` and state dicts.

    Args:
        params: an iterable of ``Parameter`` (objects with ``.data`` and ``.grad`` arrays),
            or an iterable of dicts ``{"params": [...], "lr": ..., ...}``, one per group.
        defaults: every hyperparameter of the update rule with its default value.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list of Parameters) and all
            hyperparameters. Schedulers write ``group["lr"]``.
        state: dict from Parameter to its state dict (moments, step count), filled lazily
            by ``step()``.
    """

    # Names of the state entries that are arrays shaped like the parameter (validated on load).
    _state_array_keys: tuple[str, ...] = ()
    # Every key a non-empty state entry must have.
    _state_keys: tuple[str, ...] = ()

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
        """Adds a group; hyperparameters it does not name are taken from the defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' entry, "
                            f"got {param_group!r}")
        params = param_group["params"]
        params = [params] if _is_parameter(params) else list(params)
        for index, p in enumerate(params):
            if not _is_parameter(p):
                raise TypeError(
                    f"{name}: parameter {index} of group {len(self.param_groups)} must be a "
                    f"Parameter (with .data and .grad arrays), got {type(p).__name__}"
                )
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: group {len(self.param_groups)} lists a parameter twice")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group = self._normalized({**self.defaults, **param_group, "params": params})
        self._check_group(group, f"group {len(self.param_groups)}")
        self.param_groups.append(group)

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
        """Raises ``ValueError`` for unknown keys or out-of-range hyperparameters."""
        unknown = sorted(k for k in group if k not in self.defaults and k not in _EXTRA_GROUP_KEYS)
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: {where} has unknown keys {unknown}; "
                f"allowed: {sorted(self.defaults)} and {list(_EXTRA_GROUP_KEYS)}"
            )
        owner = f"{type(self).__name__} ({where})"
        for key in _SCHEDULER_GROUP_KEYS:
            if key in group:
                check_number(owner, key, group[key])
        self._check_hyperparameters(group, owner)

    def _check_hyperparameters(self, group: dict[str, Any], owner: str) -> None:
        """Subclasses check their hyperparameters here (``lr`` and ``weight_decay`` >= 0)."""
        check_number(owner, "lr", group["lr"])
        check_number(owner, "weight_decay", group["weight_decay"])

    @property
    def lr(self) -> float:
        """The first group's learning rate; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        check_number(type(self).__name__, "lr", value)
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

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain data (dicts, lists, tuples, numbers, str, arrays).

        Returns:
            ``{"state": {index: {"step": int, "exp_avg": ndarray, ...}},
            "param_groups": [{...hyperparameters..., "params": [index, ...]}]}``, where
            ``index`` numbers the parameters across groups in order, as torch does.
            Arrays are copies: later steps do not change a saved state dict.
        """
        index = {id(p): i for i, p in enumerate(self._all_params())}
        groups = [
            {**{k: v for k, v in group.items() if k != "params"},
             "params": [index[id(p)] for p in group["params"]]}
            for group in self.param_groups
        ]
        state = {
            index[id(p)]: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
            for p, s in self.state.items()
        }
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores hyperparameters and state saved by ``state_dict``, copying the arrays.

        Parameters are matched by position, group by group. Raises ``ValueError`` naming
        the mismatch (number of groups, of parameters, unknown state entries, shapes);
        on error nothing is changed.
        """
        name = type(self).__name__
        missing = [k for k in ("state", "param_groups") if k not in state_dict]
        if missing:
            raise ValueError(f"{name}.load_state_dict: state dict lacks {missing}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter "
                f"groups, this optimizer has {len(self.param_groups)}"
            )
        by_index, new_groups = {}, []
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            saved_params = [int(plain(i)) for i in saved["params"]]
            if len(saved_params) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: group {g} has {len(saved_params)} parameters in "
                    f"the state dict, {len(group['params'])} in this optimizer"
                )
            by_index.update(zip(saved_params, group["params"], strict=True))
            new_groups.append(self._restore_group(saved, group, g))
        if len(by_index) != sum(len(group["params"]) for group in self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved groups list a parameter twice")
        new_state = {}
        for key, saved in state_dict["state"].items():
            index = int(plain(key))
            if index not in by_index:
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter {index}, which no group lists"
                )
            p = by_index[index]
            new_state[p] = self._restore_state(saved, p, index)
        for group, new_group in zip(self.param_groups, new_groups, strict=True):
            group.clear()
            group.update(new_group)
        self.state = new_state

    def _restore_group(self, saved: dict[str, Any], group: dict[str, Any], g: int) -> dict:
        """A new group dict: this group's params with the saved hyperparameters."""
        restored = {**group, **{k: v for k, v in saved.items() if k != "params"}}
        restored = self._normalized(restored)
        self._check_group(restored, f"saved group {g}")
        return restored

    def _restore_state(self, saved: dict[str, Any], p, index: int) -> dict[str, Any]:
        """Validates one parameter's saved state and returns a copy in the parameter's dtype."""
        name = type(self).__name__
        keys = set(saved)
        if keys and keys != set(self._state_keys):
            raise ValueError(
                f"{name}.load_state_dict: state of parameter {index} has keys {sorted(keys)}, "
                f"expected {sorted(self._state_keys)}"
            )
        restored = {}
        for key, value in saved.items():
            if key not in self._state_array_keys:
                restored[key] = plain(value)
                continue
            if np.shape(value) != p.data.shape:
                raise ValueError(
                    f"{name}.load_state_dict: state {key!r} of parameter {index} has shape "
                    f"{np.shape(value)}, the parameter has shape {p.data.shape}"
                )
            restored[key] = np.array(value, dtype=p.data.dtype, copy=True)
        return restored

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for g, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {g}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])
