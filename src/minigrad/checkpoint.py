"""Checkpoints: one ``.npz`` holding everything needed to resume a run, written atomically.

Layout: every ndarray of the nested state (model ``state_dict``, optimizer and scheduler
state, callbacks' state, Generator state, History, ...) is one npz entry named by its path
(``"model/0.weight"``, ``"optimizer/state/0/momentum_buffer"``). Everything else is JSON
text in the uint8 entry ``"__meta__"``, where each array appears as a reference
``{"__ndarray__": name}``. JSON keeps Python ints exact (the Generator state holds
128-bit integers) and floats exact (``repr`` round-trips).

Files are read with ``np.load(..., allow_pickle=False)``: loading a checkpoint can never
run code, and a file crafted to hold a pickled object is refused with ``CheckpointError``.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping

import numpy as np

from minigrad.fileio import atomic_write

FORMAT = "minigrad.checkpoint"
FORMAT_VERSION = 1
META_KEY = "__meta__"
COMPONENTS = ("model", "optimizer", "scheduler", "trainer")
__all__ = ["CheckpointError", "load", "save"]


class CheckpointError(ValueError):
    """A file that is not a valid minigrad checkpoint, or one that is unsafe to load."""


# -- nested state <-> JSON tree + arrays -------------------------------------------
def _encode(value, path: str, arrays: dict[str, np.ndarray]):
    """Returns a JSON-able tree for ``value``, moving every ndarray into ``arrays``."""
    if isinstance(value, (np.ndarray, np.generic)):
        return _encode_array(value, path, arrays)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        plain = all(isinstance(k, str) and not k.startswith("__") for k in value)
        if plain:
            return {k: _encode(v, f"{path}/{k}", arrays) for k, v in value.items()}
        # Non-string keys (torch-style optimizer state is keyed by int) keep their type.
        return {
            "__items__": [
                [_encode(k, f"{path}/key{i}", arrays), _encode(v, f"{path}/{k}", arrays)]
                for i, (k, v) in enumerate(value.items())
            ]
        }
    raise TypeError(
        f"cannot store {type(value).__name__} at {path!r} in a checkpoint; "
        "allowed: ndarrays, numpy scalars, None, bool, int, float, str, lists, tuples, dicts"
    )


def _encode_array(value, path: str, arrays: dict[str, np.ndarray]) -> dict:
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise TypeError(f"cannot store an object array at {path!r}: it would need pickle")
    name = path.lstrip("/")
    while name in arrays or name == META_KEY:
        name += "_"
    arrays[name] = array
    if isinstance(value, np.generic):
        return {"__ndarray__": name, "scalar": True}
    return {"__ndarray__": name}


def _decode(tree, arrays: Mapping[str, np.ndarray]):
    if isinstance(tree, list):
        return [_decode(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__ndarray__" in tree:
        name = tree["__ndarray__"]
        if name not in arrays:
            raise CheckpointError(f"checkpoint is corrupt: array entry {name!r} is missing")
        return arrays[name][()] if tree.get("scalar") else arrays[name]
    if "__tuple__" in tree:
        return tuple(_decode(v, arrays) for v in tree["__tuple__"])
    if "__items__" in tree:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in tree["__items__"]}
    return {k: _decode(v, arrays) for k, v in tree.items()}


# -- save ----------------------------------------------------------------------------
def save(
    path: str | os.PathLike,
    model=None,
    optimizer=None,
    scheduler=None,
    trainer=None,
    **extra,
) -> None:
    """Writes the state of the given objects to one ``.npz`` file at ``path``, atomically.

    Each object is saved through its ``state_dict()``. With ``trainer`` given, the
    trainer's model, optimizer and scheduler are saved too unless passed explicitly,
    together with its epoch, Generator state, History and callbacks' state. ``extra``
    keyword values (plain data or ndarrays, e.g. ``note="best"``) are saved as they are and
    come back as top-level keys of ``load``'s result. The file is written exactly at
    ``path`` (no suffix is added).
    """
    reserved = {"minigrad_version", *COMPONENTS}
    clash = sorted(reserved & set(extra))
    if clash:
        raise ValueError(f"extra checkpoint entries may not be named {clash}")
    components = _resolve(model, optimizer, scheduler, trainer)
    from minigrad import __version__

    state = {name: obj.state_dict() for name, obj in components.items()}
    arrays: dict[str, np.ndarray] = {}
    tree = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "minigrad_version": __version__,
        "components": _encode(state, "", arrays),
        "extra": _encode(extra, "extra", arrays),
    }
    meta = json.dumps(tree).encode("utf-8")
    arrays[META_KEY] = np.frombuffer(meta, dtype=np.uint8)
    with atomic_write(path, "wb") as file:
        np.savez(file, **arrays)


def _resolve(model, optimizer, scheduler, trainer) -> dict:
    """The objects to save or load, in load order (model first: its check lists mismatches)."""
    if trainer is not None:
        model = trainer.model if model is None else model
        optimizer = trainer.optimizer if optimizer is None else optimizer
        scheduler = trainer.scheduler if scheduler is None else scheduler
    given = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "trainer": trainer}
    return {name: obj for name, obj in given.items() if obj is not None}


# -- load ----------------------------------------------------------------------------
def load(
    path: str | os.PathLike,
    model=None,
    optimizer=None,
    scheduler=None,
    trainer=None,
) -> dict:
    """Reads a checkpoint and loads its state into the objects given.

    With ``trainer`` given, the trainer's model, optimizer and scheduler are loaded too
    unless passed explicitly. Either every object is loaded or none is changed: a missing
    component, or a model of another architecture (the error lists missing, unexpected and
    mis-shaped entries), raises before or rolls back every change.

    Returns:
        dict with ``"minigrad_version"``, each saved component's state (``"model"``,
        ``"optimizer"``, ``"scheduler"``, ``"trainer"``) and the ``extra`` entries saved.

    Raises:
        CheckpointError: not a minigrad checkpoint, or it holds pickled objects.
        KeyError: a requested component is absent, or the state does not fit the object.
    """
    tree, arrays = _read(path)
    state = _decode(tree["components"], arrays)
    targets = _resolve(model, optimizer, scheduler, trainer)
    missing = [name for name in targets if name not in state]
    if missing:
        raise KeyError(
            f"checkpoint {os.fspath(path)!r} has no state for {missing}; "
            f"it holds {sorted(state)}. Nothing was changed."
        )
    _load_all_or_nothing(targets, state)
    result = {"minigrad_version": tree["minigrad_version"], **state}
    result.update(_decode(tree["extra"], arrays))
    return result


def _load_all_or_nothing(targets: dict, state: dict) -> None:
    """Loads each target; if any load fails, restores every target touched so far."""
    touched = []
    try:
        for name, obj in targets.items():
            # Snapshot before loading so a load that fails half-way is undone too.
            touched.append((obj, obj.state_dict()))
            obj.load_state_dict(state[name])
    except Exception:
        for obj, snapshot in reversed(touched):
            obj.load_state_dict(snapshot)
        raise


def _read(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """Reads the JSON tree and every array, refusing anything that would need pickle."""
    where = os.fspath(path)
    try:
        npz = np.load(where, allow_pickle=False)
    except ValueError:  # neither zip nor .npy: numpy would have to unpickle it
        raise CheckpointError(
            f"{where!r} is not an .npz checkpoint: reading it would mean unpickling "
            "(pickled data), which can run code, so it is refused"
        ) from None
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise CheckpointError(f"{where!r} is not a readable .npz checkpoint: {error}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{where!r} is a single .npy array, not a minigrad checkpoint")
    with npz:
        arrays = {name: _read_entry(npz, name, where) for name in npz.files}
    meta = arrays.pop(META_KEY, None)
    if meta is None or meta.dtype != np.uint8:
        raise CheckpointError(f"{where!r} is not a minigrad checkpoint (no {META_KEY} entry)")
    try:
        tree = json.loads(meta.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{where!r}: corrupt checkpoint metadata ({error})") from None
    if not isinstance(tree, dict) or tree.get("format") != FORMAT:
        raise CheckpointError(f"{where!r} is not a minigrad checkpoint (format tag missing)")
    if tree.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{where!r} has checkpoint format version {tree.get('format_version')!r}; "
            f"this minigrad reads version {FORMAT_VERSION}"
        )
    return tree, arrays


def _read_entry(npz, name: str, where: str) -> np.ndarray:
    try:
        return npz[name]
    except ValueError as error:  # numpy refuses object arrays when allow_pickle=False
        raise CheckpointError(
            f"{where!r}: entry {name!r} holds pickled Python objects; refusing to load it "
            f"because unpickling can run code ({error})"
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise CheckpointError(f"{where!r}: entry {name!r} is unreadable ({error})") from None
