"""LoggedMetrics: the metrics every epoch of a run logs, known when ``fit`` starts.

The epoch loop's History row is ``train_<m>`` for each mean the batches' tally gives
(``loss``, and ``acc`` for class-index targets), ``val_<m>`` likewise with a validation
loader, then ``lr`` and ``epoch_time``. Whether the targets are class indices is known
only from the first batch, so before it the accuracies count as logged; the loop checks
again, with the targets known, before the first batch's update. A callback that needs a
metric asks here when ``fit`` starts, instead of failing an epoch later on a missing key.
"""

from __future__ import annotations

TALLIED = ("loss", "acc")  # what Tally.means gives; "acc" only for class-index targets
ACCURACY = "acc"


class LoggedMetrics:
    """The keys of every epoch's ``logs`` (and the History's columns) in one run.

    Args:
        has_validation: whether ``fit`` got a validation loader (``val_*`` metrics).
        classification: whether the targets are class indices (accuracies are logged);
            None before the first batch, when accuracies count as logged.
    """

    def __init__(self, has_validation: bool, classification: bool | None = None) -> None:
        self.has_validation = has_validation
        self.classification = classification
        tallied = [m for m in TALLIED if m != ACCURACY or classification is not False]
        splits = ("train", "val") if has_validation else ("train",)
        self.names = tuple(f"{split}_{m}" for split in splits for m in tallied) + (
            "lr", "epoch_time")

    def __contains__(self, metric: object) -> bool:
        return metric in self.names

    def require(self, metric: str, argument: str) -> None:
        """Raises ``ValueError`` unless the run logs ``metric``; ``argument`` names who asks
        (``"EarlyStopping: monitor"``) and leads the message."""
        if metric in self.names:
            return
        if metric.startswith("val_") and not self.has_validation:
            raise ValueError(f"{argument}={metric!r} is a validation metric, but fit() got no "
                             f"val_loader; this run logs {self.describe()}")
        raise ValueError(f"{argument}={metric!r} is not a metric this run logs; it logs "
                         f"{self.describe()}")

    def describe(self) -> str:
        """The names, and why accuracies are (not) among them: for error messages."""
        names = ", ".join(self.names)
        if self.classification is None:
            return f"{names} (the accuracies only for class-index targets)"
        if self.classification is False:
            return f"{names} (no accuracies: the targets are not class indices)"
        return names

    def __repr__(self) -> str:
        return f"LoggedMetrics({list(self.names)})"
