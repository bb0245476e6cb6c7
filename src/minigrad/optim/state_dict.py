"""Optimizer state dicts: torch's layout as plain data, and all-or-nothing loading."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.checks import check_int, check_number


def plain(value: Any) -> Any:
    """Returns the Python scalar held by a numpy scalar or 0-d array, else ``value`` unchanged.

    State dicts that went through a file (``.npz``) may come back with numpy scalars;
    the update rules want Python numbers so that float32 arrays are never promoted.
    """
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return value.item()
    return value


def _index(value: Any, where: str) -> int:
    """A saved parameter index as an int (a file may give a str or a numpy integer)."""
    value = plain(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return check_int(value, f"{where}: parameter index", minimum=0)


class OptimizerStateDict:
    """Mixin of ``Optimizer``: ``state_dict`` and ``load_state_dict``.

    It relies on the optimizer's ``param_groups``, ``state``, ``_normalized``,
    ``_check_group`` and its class attributes ``_state_keys``, ``_optional_state_keys``
    and ``_state_array_keys``.
    """

    # Names of the state entries that are arrays shaped like the parameter (validated on load).
    _state_array_keys: tuple[str, ...] = ()
    # Every key a non-empty state entry must have, and those it may have besides.
    _state_keys: tuple[str, ...] = ()
    _optional_state_keys: tuple[str, ...] = ()

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
        the mismatch (not a state dict, number of groups, of parameters, unknown state
        entries, shapes), ``TypeError`` for an index or number of the wrong type; on error
        nothing is changed. ``param_names`` saved in a group replace the current ones; a
        saved group without them keeps the current ones.
        """
        name = type(self).__name__
        saved_groups, saved_state = self._checked_layout(state_dict)
        by_index, new_groups = {}, []
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            where = f"{name}.load_state_dict: group {g}"
            saved_params = [_index(i, where) for i in saved["params"]]
            if len(saved_params) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: group {g} has {len(saved_params)} parameters in "
                    f"the state dict, {len(group['params'])} in this optimizer"
                )
            by_index.update(zip(saved_params, group["params"], strict=True))
            new_groups.append(self._restore_group(saved, group, g))
        if len(by_index) != sum(len(group["params"]) for group in self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved groups list a parameter twice")
        group_of = {id(p): new for new in new_groups for p in new["params"]}
        new_state = {}
        for key, saved in saved_state.items():
            index = _index(key, f"{name}.load_state_dict: state")
            if index not in by_index:
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter {index}, which no group lists"
                )
            p = by_index[index]
            new_state[p] = self._restore_state(saved, p, index, group_of[id(p)])
        for group, new_group in zip(self.param_groups, new_groups, strict=True):
            group.clear()
            group.update(new_group)
        self.state = new_state

    def _checked_layout(self, state_dict: Any) -> tuple[list[dict], dict]:
        """The saved groups and state, once their containers have the expected shape."""
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise ValueError(f"{where}: expected a dict with 'state' and 'param_groups' (from "
                             f"state_dict()), got {type(state_dict).__name__}")
        missing = [k for k in ("state", "param_groups") if k not in state_dict]
        if missing:
            raise ValueError(f"{where}: state dict lacks {missing}")
        groups, state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(groups, (list, tuple)) or not all(
            isinstance(g, dict) and isinstance(g.get("params"), (list, tuple, np.ndarray))
            for g in groups
        ):
            raise ValueError(f"{where}: param_groups must be a list of dicts, each with a "
                             f"'params' list, got {groups!r}")
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{where}: the state dict has {len(groups)} parameter groups, this optimizer "
                f"has {len(self.param_groups)}"
            )
        if not isinstance(state, dict) or not all(isinstance(v, dict) for v in state.values()):
            raise ValueError(f"{where}: state must be a dict from parameter index to a dict, "
                             f"got {type(state).__name__}")
        return list(groups), state

    def _restore_group(self, saved: dict[str, Any], group: dict[str, Any], g: int) -> dict:
        """A new group dict: this group's params with the saved hyperparameters."""
        restored = {**group, **{k: v for k, v in saved.items() if k != "params"}}
        restored = self._normalized(restored)
        self._check_group(restored, f"saved group {g}")
        return restored

    def _required_state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The keys a non-empty state entry of a parameter in ``group`` must have."""
        return self._state_keys

    def _restore_state(self, saved: dict[str, Any], p, index: int,
                       group: dict[str, Any]) -> dict[str, Any]:
        """Validates one parameter's saved state and returns a copy in the parameter's dtype."""
        name = type(self).__name__
        keys, required = set(saved), set(self._required_state_keys(group))
        allowed = set(self._state_keys) | set(self._optional_state_keys)
        if keys and not required <= keys <= allowed:
            optional = sorted(allowed - required)
            raise ValueError(
                f"{name}.load_state_dict: state of parameter {index} has keys {sorted(keys)}, "
                f"expected {sorted(required)}"
                + (f" and optionally {optional}" if optional else "")
            )
        restored = {}
        for key, value in saved.items():
            if key not in self._state_array_keys:
                restored[key] = plain(value)
                check_number(restored[key], f"{name}.load_state_dict (parameter {index}): {key}",
                             minimum=0)
                continue
            if np.shape(value) != p.data.shape:
                raise ValueError(
                    f"{name}.load_state_dict: state {key!r} of parameter {index} has shape "
                    f"{np.shape(value)}, the parameter has shape {p.data.shape}"
                )
            restored[key] = np.array(value, dtype=p.data.dtype, copy=True)
        return restored
