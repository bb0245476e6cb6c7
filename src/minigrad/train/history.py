"""History: the per-epoch metrics of a run, a dict of lists that saves to and loads from JSON."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping

from minigrad.fileio import atomic_write


class History(Mapping):
    """Per-epoch metrics of one training run, read like a dict of lists.

    ``history["val_acc"][i]`` is the validation accuracy after epoch ``i + 1``. The Trainer
    records ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``lr`` and
    ``epoch_time`` (accuracies only for class-index targets, ``val_*`` only with a
    validation loader).

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
        done = self.epochs
        for key, value in logs.items():
            self._metrics.setdefault(key, [math.nan] * done).append(float(value))
        for values in self._metrics.values():
            if len(values) == done:
                values.append(math.nan)

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
        return {
            "metrics": {key: list(values) for key, values in self._metrics.items()},
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "stop_reason": self.stop_reason,
            "monitor": self.monitor,
            "mode": self.mode,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> History:
        """Rebuilds a History from ``to_dict()`` output."""
        if not isinstance(data, Mapping) or not isinstance(data.get("metrics"), Mapping):
            raise ValueError(
                "History data must be a mapping with a 'metrics' mapping, "
                f"got {type(data).__name__}"
            )
        history = cls(monitor=data.get("monitor"), mode=data.get("mode", "min"))
        history._metrics = {
            key: [float(v) for v in values] for key, values in data["metrics"].items()
        }
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
        """Reads a history written by ``to_json``."""
        with open(path, encoding="utf-8") as file:
            return cls.from_dict(json.load(file))

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


def _nan_equal(a, b) -> bool:
    """Deep equality where NaN equals NaN (histories hold NaN for missing values)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_nan_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_nan_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b
