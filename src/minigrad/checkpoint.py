"""Checkpoints: one ``.npz`` holding everything needed to resume a run, written atomically.

``save`` writes the state of a model, optimizer, scheduler and trainer (each through its
``state_dict()``); ``load`` is ``read`` (the file checked completely, loaded into nothing)
then ``restore`` (all or nothing). The layout and its checks are checkpoint_format.py's.

Files are read with ``minigrad.npz.NpzReader``, never with pickle: loading a checkpoint
can never run code, and a file crafted to hold a pickled object is refused with
``CheckpointError``. Reading is bounded and all or nothing: the zip directory and the
JSON metadata are checked first, only entries the metadata references are inflated, each
to exactly the size it declares, and nothing is loaded into any object until every array
has been read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np

from minigrad.checkpoint_format import (
    COMPONENTS,
    FORMAT,
    FORMAT_VERSION,
    META_KEY,
    CheckpointError,
    decode,
    encode,
    read_file,
)
from minigrad.fileio import atomic_write  # noqa: F401  (train/ and the bench import it here)

__all__ = ["CheckpointError", "load", "read", "restore", "save"]

RESERVED = frozenset({"minigrad_version", *COMPONENTS})  # names extra entries may not take


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
    clash = sorted(RESERVED & set(extra))
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
        "components": encode(state, "", arrays),
        "extra": encode(extra, "extra", arrays),
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
    """Reads a checkpoint and loads its state into the objects given: ``read`` + ``restore``.

    With ``trainer`` given, the trainer's model, optimizer and scheduler are loaded too
    unless passed explicitly. Either every object is loaded or none is changed: the whole
    file is read and checked (structure, metadata, every array) before anything is
    loaded; a missing component or a model of another architecture (the error lists
    missing, unexpected and mis-shaped entries) raises before any change; and if a later
    object refuses its state, every object loaded before it is restored.

    Returns:
        dict with ``"minigrad_version"``, each saved component's state (``"model"``,
        ``"optimizer"``, ``"scheduler"``, ``"trainer"``) and the ``extra`` entries saved.

    Raises:
        CheckpointError: not a minigrad checkpoint, a malformed or forged one (the message
            names the file and the problem), or one holding pickled objects.
        KeyError: a requested component is absent, or the model's entries do not fit.
        ValueError: the optimizer's, scheduler's or trainer's state does not fit the object.
        OSError: the file cannot be read (``FileNotFoundError`` if it does not exist).
    """
    checkpoint = read(path)
    restore(checkpoint, model, optimizer, scheduler, trainer, source=os.fspath(path))
    return checkpoint


def read(path: str | os.PathLike) -> dict:
    """Reads and validates a checkpoint, loading it into nothing (``load``'s result).

    Lets a caller check a file before changing any state of its own, then ``restore`` it.

    Raises:
        CheckpointError, OSError: as ``load``.
    """
    where = os.fspath(path)
    tree, arrays = read_file(where)
    state = decode(tree["components"], arrays, where)
    extra = decode(tree["extra"], arrays, where)
    clash = sorted(RESERVED & set(extra))
    if clash:
        raise CheckpointError(f"{where!r}: checkpoint is corrupt: extra entries named {clash}")
    return {"minigrad_version": tree["minigrad_version"], **state, **extra}


def restore(
    checkpoint: Mapping,
    model=None,
    optimizer=None,
    scheduler=None,
    trainer=None,
    source: str | None = None,
) -> None:
    """Loads a ``read`` result into the objects given, all or nothing, as ``load`` does.

    ``source`` (the file's path) names the checkpoint in error messages.
    """
    label = f"checkpoint {source!r}" if source else "the checkpoint"
    targets = _resolve(model, optimizer, scheduler, trainer)
    missing = [name for name in targets if name not in checkpoint]
    if missing:
        held = [name for name in COMPONENTS if name in checkpoint]
        raise KeyError(f"{label} has no state for {missing}; it holds {held}. Nothing was changed.")
    _load_all_or_nothing(targets, checkpoint, label)


def _load_all_or_nothing(targets: dict, state: Mapping, label: str) -> None:
    """Loads each target; if any load fails, restores every target touched so far."""
    touched = []
    try:
        for name, obj in targets.items():
            # Snapshot before loading so a load that fails half-way is undone too.
            touched.append((obj, obj.state_dict()))
            try:
                obj.load_state_dict(state[name])
            except (KeyError, ValueError):
                raise
            except Exception as error:  # a forged state may break a loader in any way
                raise CheckpointError(
                    f"{label}: the {name} state does not fit {type(obj).__name__} "
                    f"({type(error).__name__}: {error}); nothing was changed"
                ) from error
    except Exception:
        for obj, snapshot in reversed(touched):
            obj.load_state_dict(snapshot)
        raise
