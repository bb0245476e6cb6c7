"""The checkpoint file format: nested state <-> a JSON tree plus arrays, and its checks.

Layout: every ndarray of the nested state (model ``state_dict``, optimizer and scheduler
state, callbacks' state, Generator state, History, ...) is one npz entry named by its path
(``"model/0.weight"``, ``"optimizer/state/0/momentum_buffer"``). Everything else is JSON
text in the uint8 entry ``"__meta__"``, where each array appears as a reference
``{"__ndarray__": name}``. JSON keeps Python ints exact (the Generator state holds
128-bit integers) and floats exact (``repr`` round-trips).

Reading (``read_file``) is bounded and checks everything before a caller loads anything:
the zip directory first (``minigrad.npz.NpzReader``, never pickle), then ``__meta__`` alone
(size, JSON, format and version, every node of the tree the form ``encode`` writes, depth),
and only entries the tree references are inflated, each to exactly the size it declares.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from minigrad.npz import NpzError, NpzReader

FORMAT = "minigrad.checkpoint"
FORMAT_VERSION = 1
META_KEY = "__meta__"
COMPONENTS = ("model", "optimizer", "scheduler", "trainer")
MAX_META_BYTES = 1 << 26  # JSON metadata; a 1,000-epoch History with its callbacks is ~1 MB
MAX_DEPTH = 64  # nesting of the metadata tree; real states nest about 8 deep


class CheckpointError(ValueError):
    """A file that is not a valid minigrad checkpoint, or one that is unsafe to load."""


# -- nested state <-> JSON tree + arrays -------------------------------------------
def encode(value, path: str, arrays: dict[str, np.ndarray]):
    """Returns a JSON-able tree for ``value``, moving every ndarray into ``arrays``."""
    if isinstance(value, (np.ndarray, np.generic)):
        return _encode_array(value, path, arrays)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        plain = all(isinstance(k, str) and not k.startswith("__") for k in value)
        if plain:
            return {k: encode(v, f"{path}/{k}", arrays) for k, v in value.items()}
        # Non-string keys (torch-style optimizer state is keyed by int) keep their type.
        return {
            "__items__": [
                [encode(k, f"{path}/key{i}", arrays), encode(v, f"{path}/{k}", arrays)]
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


def decode(tree, arrays: Mapping[str, np.ndarray], where: str):
    """The nested state of a tree ``read_file`` accepted (only a repeated key can fail)."""
    if isinstance(tree, list):
        return [decode(v, arrays, where) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__ndarray__" in tree:
        array = arrays[tree["__ndarray__"]]
        return array[()] if tree.get("scalar") else array
    if "__tuple__" in tree:
        return tuple(decode(v, arrays, where) for v in tree["__tuple__"])
    if "__items__" in tree:
        decoded = {}
        for key, value in tree["__items__"]:
            key = decode(key, arrays, where)
            if key in decoded:
                raise corrupt(where, f"the mapping key {key!r} appears twice")
            decoded[key] = decode(value, arrays, where)
        return decoded
    return {k: decode(v, arrays, where) for k, v in tree.items()}


# -- reading and checking a file ------------------------------------------------------
def read_file(where: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The checked metadata tree and every array it references, all read before returning.

    Order matters for bounds: the directory is checked, then ``__meta__`` alone is read
    and validated, and only entries it references are inflated (an entry nothing
    references is refused unread).
    """
    try:
        with NpzReader(where) as archive:
            if META_KEY not in archive.names:
                raise CheckpointError(
                    f"{where!r} is not a minigrad checkpoint (no {META_KEY} entry)"
                )
            tree = _parse_meta(archive.read(META_KEY, max_bytes=MAX_META_BYTES), where)
            references = _check_tree(tree, where)
            _check_entries(set(archive.names) - {META_KEY}, references, where)
            arrays = {name: archive.read(name) for name in references}
    except NpzError as error:
        raise CheckpointError(f"{where!r}: {error}") from None
    for name, scalar in references.items():
        if scalar and arrays[name].ndim:
            raise CheckpointError(f"{where!r}: entry {name!r} should hold a scalar")
    return tree, arrays


def _parse_meta(meta: np.ndarray, where: str) -> dict:
    """The JSON tree of ``__meta__``, with its format, version and top-level keys checked."""
    if meta.dtype != np.uint8 or meta.ndim != 1:
        raise CheckpointError(f"{where!r} is not a minigrad checkpoint ({META_KEY} is not text)")
    try:
        tree = json.loads(meta.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        # ValueError covers JSON syntax and integers too long to convert.
        raise CheckpointError(
            f"{where!r}: corrupt checkpoint metadata ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(tree, dict) or tree.get("format") != FORMAT:
        raise CheckpointError(f"{where!r} is not a minigrad checkpoint (format tag missing)")
    version = tree.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise CheckpointError(
            f"{where!r} has checkpoint format version {str(version)[:20]}; "
            f"this minigrad reads version {FORMAT_VERSION}"
        )
    keys = {"format", "format_version", "minigrad_version", "components", "extra"}
    if set(tree) != keys:
        raise CheckpointError(
            f"{where!r}: corrupt checkpoint metadata: it has keys {sorted(tree)[:8]}, "
            f"expected {sorted(keys)}"
        )
    _check_top_level(tree, where)
    return tree


def _check_top_level(tree: dict, where: str) -> None:
    if not isinstance(tree["minigrad_version"], str):
        raise CheckpointError(f"{where!r}: corrupt checkpoint metadata: minigrad_version")
    components, extra = tree["components"], tree["extra"]
    if not (isinstance(components, dict) and set(components) <= set(COMPONENTS)):
        raise CheckpointError(
            f"{where!r}: corrupt checkpoint metadata: components must be a subset of "
            f"{list(COMPONENTS)}"
        )
    if not isinstance(extra, dict):
        raise CheckpointError(f"{where!r}: corrupt checkpoint metadata: extra is not a dict")


def _check_tree(tree: dict, where: str) -> dict[str, bool]:
    """Checks that every node is one ``encode`` writes; returns array name -> is a scalar.

    Iterative and depth-bounded, so ``decode`` can recurse on the tree safely.
    """
    references: dict[str, bool] = {}
    todo = [(tree["components"], 1), (tree["extra"], 1)]
    while todo:
        node, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise CheckpointError(f"{where!r}: checkpoint metadata nested deeper than {MAX_DEPTH}")
        if isinstance(node, list):
            todo.extend((child, depth + 1) for child in node)
        elif isinstance(node, dict):
            todo.extend((child, depth + 1) for child in _children(node, references, where))
    return references


def _children(node: dict, references: dict[str, bool], where: str) -> list:
    """The child nodes of one dict node, after checking its form (recording array refs)."""
    if "__ndarray__" in node:
        _reference(node, references, where)
        return []
    if "__tuple__" in node:
        if set(node) != {"__tuple__"} or not isinstance(node["__tuple__"], list):
            raise corrupt(where, "a malformed tuple")
        return node["__tuple__"]
    if "__items__" in node:
        pairs = node["__items__"]
        if set(node) != {"__items__"} or not isinstance(pairs, list):
            raise corrupt(where, "a malformed mapping")
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise corrupt(where, "a mapping entry that is not a [key, value] pair")
            _check_key(pair[0], references, where, depth=0)
        return [pair[1] for pair in pairs]
    if any(key.startswith("__") for key in node):
        raise corrupt(where, "an unknown reserved key")
    return list(node.values())


def _check_key(key, references: dict[str, bool], where: str, depth: int) -> None:
    """Mapping keys must decode to hashable values: scalars, numpy scalars, tuples of them."""
    if key is None or isinstance(key, bool | int | float | str):
        return
    if depth < 8 and isinstance(key, dict) and set(key) == {"__tuple__"}:
        if not isinstance(key["__tuple__"], list):
            raise corrupt(where, "a malformed tuple key")
        for part in key["__tuple__"]:
            _check_key(part, references, where, depth + 1)
        return
    if isinstance(key, dict) and key.get("scalar") is True and "__ndarray__" in key:
        _reference(key, references, where)
        return
    raise corrupt(where, "a mapping key that is not a number, string or tuple")


def _reference(node: dict, references: dict[str, bool], where: str) -> None:
    name, scalar = node["__ndarray__"], node.get("scalar", False)
    if not (
        set(node) <= {"__ndarray__", "scalar"}
        and isinstance(name, str)
        and isinstance(scalar, bool)
    ):
        raise corrupt(where, "a malformed array reference")
    if name in references or name == META_KEY:
        raise corrupt(where, f"array entry {name[:100]!r} referenced twice")
    references[name] = scalar


def _check_entries(entries: set[str], references: dict[str, bool], where: str) -> None:
    missing = sorted(set(references) - entries)
    if missing:
        raise corrupt(where, f"array entry {missing[0][:100]!r} is missing")
    unreferenced = sorted(entries - set(references))
    if unreferenced:
        raise corrupt(
            where,
            f"entry {unreferenced[0][:100]!r} is not referenced by {META_KEY} (refused unread)",
        )


def corrupt(where: str, problem: str) -> CheckpointError:
    return CheckpointError(f"{where!r}: checkpoint is corrupt: {problem}")
