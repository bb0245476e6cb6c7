"""Tally: the running, batch-size-weighted means of an epoch's loss and accuracy."""

from __future__ import annotations


class Tally:
    """Batch-size-weighted means of the loss and (for class targets) the accuracy.

    The sums take what the loop's batch step returns: floats, or lazy device scalars that
    ``means()`` reads once.
    """

    __slots__ = ("loss_sum", "correct", "seen", "classify")

    def __init__(self) -> None:
        self.loss_sum, self.correct, self.seen, self.classify = 0.0, 0, 0, None

    def add(self, loss, correct, count: int) -> None:
        if self.classify is None:  # the first batch tells whether targets are classes
            self.classify = correct is not None
        if self.classify:
            self.correct += correct
        self.loss_sum += loss * count
        self.seen += count

    def running(self) -> tuple[float, float | None]:
        """(mean loss, accuracy or None) so far (reads lazy sums: a device sync)."""
        loss = float(self.loss_sum) / self.seen
        return loss, float(self.correct) / self.seen if self.classify else None

    def means(self, source: str) -> dict[str, float]:
        if self.seen == 0:
            raise ValueError(f"{source} yielded no batches")
        loss, acc = self.running()
        return {"loss": loss} if acc is None else {"loss": loss, "acc": acc}
