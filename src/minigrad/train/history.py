"""History: the per-epoch metrics of a run, a dict of lists that saves to and loads from JSON."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping

import numpy as np

from minigrad.fileio import atomic_write

# A History's JSON holds ~100 bytes per epoch and metric; a larger file is no History.
MAX_JSON_BYTES = 64 * 2**20


class History(Mapping):
    """Per-epoch metrics of one training run, read like a dict of lists.

    ``history["val_acc"][i]`` is the validation accuracy after epoch ``i + 1``. The Trainer
    records ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``lr`` and
    ``epoch_time`` (accuracies only for class-index targets, ``val_*`` only with a
    validation loader).

    ``history.steps`` holds one record per optimizer step (a dict of lists, empty unless
    the run keeps them: it steps its scheduler per batch, or clips gradients by norm):
    ``steps["epoch"][k]`` is the 1-based epoch of step ``k + 1``, ``steps["lr"][k]`` the
    lr that step used (``param_groups[0]``), ``steps["grad_norm"][k]`` the total gradient
    norm before clipping (``Trainer(clip_grad_norm=...)`` only).

    Epochs a user sees are 1-based, as in the progress output:

    Attributes:
        best_epoch: 1-based epoch with the best ``monitor`` value (the epoch whose weights
            ``EarlyStopping(restore_best_weights=True)`` restores), or None before any.
        stopped_epoch: 1-based epoch after (or during, for a NaN loss) which training
            stopped early, or None if it ran all requested epochs.
        stop_reason: a sentence saying why training stopped early, or None.
        monitor, mode: the metric and direction ("min"/"max") ``best_epoch`` refers to.
    """

    def __init__(self, monitor: str | None = None, mode: str = "min") -> None:
        self._metrics: dict[str, list[float]] = {}
        self.steps: dict[str, list[float]] = {}
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.stop_reason: str | None = None
        self.monitor = monitor
        self.mode = mode

    # -- the mapping ------------------------------------------------------------
    def __getitem__(self, key: str) -> list[float]:
        try:
            return self._metrics[key]
        except KeyError:
            raise KeyError(
                f"History has no metric {key!r}; it has {sorted(self._metrics)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    @property
    def epochs(self) -> int:
        """Number of completed epochs recorded."""
        return max((len(values) for values in self._metrics.values()), default=0)

    def append(self, logs: Mapping[str, float]) -> None:
        """Records one epoch's metrics (a metric first seen now is NaN for earlier epochs)."""
        _append_row(self._metrics, {key: float(value) for key, value in logs.items()})

    def append_step(self, record: Mapping[str, float]) -> None:
        """Records one optimizer step in ``steps`` (a key first seen now is NaN before)."""
        _append_row(self.steps, record)

    def best(self) -> float | None:
        """The monitored metric at ``best_epoch``, or None."""
        if self.best_epoch is None or self.monitor not in self._metrics:
            return None
        return self._metrics[self.monitor][self.best_epoch - 1]

    def compute_best_epoch(self) -> int | None:
        """1-based epoch whose ``monitor`` value is best (first one on ties; NaN never best)."""
        values = self._metrics.get(self.monitor, [])
        sign = 1.0 if self.mode == "min" else -1.0
        candidates = [(sign * v, i) for i, v in enumerate(values) if not math.isnan(v)]
        return min(candidates)[1] + 1 if candidates else None

    # -- serialisation ----------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain data (lists of floats, ints, strings): what JSON and checkpoints store."""
        data = {
            "metrics": {key: list(values) for key, values in self._metrics.items()},
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "stop_reason": self.stop_reason,
            "monitor": self.monitor,
            "mode": self.mode,
        }
        if self.steps:  # absent, not empty, so a run without step records writes what it did
            data["steps"] = {key: list(values) for key, values in self.steps.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> History:
        """Rebuilds a History from ``to_dict()`` output.

        Raises:
            ValueError: ``data`` is not such output (naming the field that is wrong).
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("metrics"), Mapping):
            raise ValueError(
                "History data must be a mapping with a 'metrics' mapping, "
                f"got {type(data).__name__}"
            )
        metrics = {key: _numbers(key, values) for key, values in data["metrics"].items()}
        if len({len(values) for values in metrics.values()}) > 1:
            raise ValueError("History data: the metrics have different numbers of epochs")
        epochs = max((len(values) for values in metrics.values()), default=0)
        for field, kind in (("monitor", str), ("stop_reason", str), ("best_epoch", int),
                            ("stopped_epoch", int)):
            value = data.get(field)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)
                                      or (kind is int and not 1 <= value <= epochs + 1)):
                raise ValueError(f"History data: {field} must be None or a "
                                 f"{'1-based epoch' if kind is int else 'string'}, got {value!r}")
        if data.get("mode", "min") not in ("min", "max"):
            raise ValueError(f"History data: mode must be 'min' or 'max', got {data['mode']!r}")
        history = cls(monitor=data.get("monitor"), mode=data.get("mode", "min"))
        history._metrics = metrics
        steps = data.get("steps", {})
        if not isinstance(steps, Mapping):
            raise ValueError(f"History data: 'steps' must be a mapping, got {type(steps).__name__}")
        history.steps = {key: _step_values(key, values) for key, values in steps.items()}
        history.best_epoch = data.get("best_epoch")
        history.stopped_epoch = data.get("stopped_epoch")
        history.stop_reason = data.get("stop_reason")
        return history

    def to_json(self, path: str | os.PathLike) -> None:
        """Writes the history to ``path`` as JSON, atomically (NaN is written as ``NaN``)."""
        text = json.dumps(self.to_dict(), indent=1)
        with atomic_write(path, "w") as file:
            file.write(text)

    save = to_json

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Reads a history written by ``to_json``.

        Raises:
            ValueError: the file is over ``MAX_JSON_BYTES`` (refused unread), is not JSON or
                not a History's, named in the message.
            OSError: the file cannot be read.
        """
        where = os.fspath(path)
        with open(where, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_JSON_BYTES:
                raise ValueError(f"{where!r} holds {size} bytes, more than a History's JSON "
                                 f"(at most {MAX_JSON_BYTES}); not read")
            raw = file.read(MAX_JSON_BYTES + 1)
        try:
            return cls.from_dict(json.loads(raw.decode("utf-8")))
        except (ValueError, RecursionError) as error:  # JSON and UTF-8 errors are ValueErrors
            raise ValueError(f"{where!r} is not a History's JSON: {error}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        return _nan_equal(self.to_dict(), other.to_dict())

    __hash__ = None

    def __repr__(self) -> str:
        return (
            f"History(epochs={self.epochs}, metrics={list(self._metrics)}, "
            f"best_epoch={self.best_epoch}, stopped_epoch={self.stopped_epoch})"
        )


def _number_list(what: str, key, values) -> list:
    """``values`` if ``key`` is a string and ``values`` a list of numbers (no bools), else a
    ValueError naming ``what`` and ``key``."""
    if not isinstance(key, str) or not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"History data: {what} {key!r} must map to a list of numbers")
    return values


def _numbers(metric, values) -> list[float]:
    """A metric's values as floats, or a ValueError naming the metric."""
    return [float(v) for v in _number_list("metric", metric, values)]


def _step_values(key, values) -> list:
    """A per-step record's values from a list (JSON) or an array (a checkpoint) as Python
    ints and floats (epochs stay ints), or a ValueError naming the record."""
    values = values.tolist() if isinstance(values, np.ndarray) else values
    return [v if isinstance(v, int) else float(v)
            for v in _number_list("step record", key, values)]


def _append_row(table: dict[str, list], row: Mapping) -> None:
    """Appends ``row`` to the columns of ``table``: NaN for columns the row lacks, and NaN
    for the earlier rows of a column first seen now."""
    done = max((len(values) for values in table.values()), default=0)
    for key, value in row.items():
        table.setdefault(key, [math.nan] * done).append(value)
    for values in table.values():
        if len(values) == done:
            values.append(math.nan)


def _nan_equal(a, b) -> bool:
    """Deep equality where NaN equals NaN (histories hold NaN for missing values)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_nan_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_nan_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b
