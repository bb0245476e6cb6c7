"""Monitor: which metric judges the epochs of a run, in which direction, and what counts as better.

EarlyStopping, ModelCheckpoint, the plateau scheduler's stepping and the History's best
epoch all ask the same three questions; answering them in one place (as Keras's
``MonitorCallback`` does) makes them agree by construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from minigrad.checks import check_choice, check_number

MODES = ("min", "max", "auto")


class Monitor:
    """A metric of the epoch logs, the direction in which it improves, and a margin.

    An epoch *improves* on ``best`` if its value is better by MORE than ``min_delta``
    (``value - min_delta > best`` for ``"max"``, ``value + min_delta < best`` for ``"min"``);
    NaN never improves, and every number improves on ``worst`` (the starting best).

    Args:
        metric: a key of the epoch logs, e.g. ``"val_acc"``.
        mode: ``"min"``, ``"max"`` or ``"auto"``: the direction the metric's name tells
            (``*loss`` goes down, ``*acc`` / ``*accuracy`` / ``*auc`` up, see
            ``expected_mode``). ``"min"`` and ``"max"`` must agree with it when it tells;
            ``"auto"`` for a name that does not tell is a ValueError. ``self.mode`` is the
            resolved ``"min"`` or ``"max"``.
        min_delta: the margin, a finite number >= 0.
        owner: who monitors, named in every error (``"EarlyStopping"``).

    Raises:
        ValueError: an empty metric name, an unknown mode, a mode contradicting the
            metric's name, ``"auto"`` for a name that tells no direction, or a negative or
            non-finite ``min_delta``.

    Example:
        >>> m = Monitor("val_loss", "min", min_delta=0.01)
        >>> m.is_improvement(0.5, best=0.52), m.is_improvement(0.515, best=0.52)
        (True, False)
    """

    def __init__(self, metric: str, mode: str = "min", min_delta: float = 0.0,
                 owner: str = "Monitor") -> None:
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"{owner}: monitor must be a metric name such as 'val_acc', "
                             f"got {metric!r}")
        check_choice(mode, f"{owner}: mode", MODES)
        natural = self.expected_mode(metric)
        if mode == "auto":
            if natural is None:
                raise ValueError(
                    f"{owner}: mode='auto' cannot tell whether {metric!r} should go up or "
                    "down (its name ends in neither 'loss' nor 'acc', 'accuracy' or 'auc'); "
                    "pass mode='max' or mode='min'"
                )
            mode = natural
        if natural is not None and natural != mode:
            raise ValueError(
                f"{owner}: monitor={metric!r} improves when it goes "
                f"{'down' if natural == 'min' else 'up'}, so mode must be {natural!r}, got {mode!r}"
            )
        check_number(min_delta, f"{owner}: min_delta", minimum=0, finite=True)
        self.metric, self.mode, self.min_delta, self.owner = metric, mode, float(min_delta), owner

    @staticmethod
    def expected_mode(metric: str) -> str | None:
        """The direction ``metric`` improves in, when its name tells: ``*loss`` down,
        ``*acc``, ``*accuracy`` and ``*auc`` up (tf.keras's rule for ``mode="auto"``)."""
        if metric.endswith("loss"):
            return "min"
        if metric.endswith(("acc", "accuracy", "auc")):
            return "max"
        return None

    @property
    def worst(self) -> float:
        """The best value before any epoch: +inf for ``"min"``, -inf for ``"max"``."""
        return math.inf if self.mode == "min" else -math.inf

    @property
    def needs_validation(self) -> bool:
        """Whether the metric exists only in a run with a validation loader."""
        return self.metric.startswith("val_")

    def is_improvement(self, value: float, best: float) -> bool:
        """True if ``value`` is better than ``best`` by more than ``min_delta``."""
        if self.mode == "max":
            return value - self.min_delta > best
        return value + self.min_delta < best

    def value(self, logs: Mapping[str, float]) -> float:
        """The metric's value in one epoch's ``logs``.

        Raises:
            KeyError: the run has no such metric; the message lists those it has.
        """
        if self.metric not in logs:
            raise KeyError(f"{self.owner}: metric {self.metric!r} is not among this run's "
                           f"metrics {sorted(logs)}")
        return float(logs[self.metric])

    def __repr__(self) -> str:
        return f"Monitor({self.metric!r}, mode={self.mode!r}, min_delta={self.min_delta})"
