"""The per-epoch tqdm bar and the one-line epoch summary the Trainer prints."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

from tqdm import tqdm

# The postfix is reformatted about this many times per epoch, not per batch: formatting
# three floats for every batch would be measurable in the Trainer's per-batch overhead.
POSTFIX_UPDATES_PER_EPOCH = 50


def stdout_is_terminal() -> bool:
    return hasattr(sys.stdout, "isatty") and sys.stdout.isatty()


class EpochBar:
    """A tqdm bar over one epoch's batches showing the running loss, accuracy and lr.

    ``batches`` is None for a loader without ``__len__``: the bar then counts batches
    without a total and redraws its text at every batch. ``enabled=False`` makes every
    method a no-op, so the training loop calls it unconditionally.
    """

    def __init__(self, epoch: int, epochs: int, batches: int | None, lr: float,
                 enabled: bool) -> None:
        self.lr = lr
        self.every = 1 if batches is None else max(1, batches // POSTFIX_UPDATES_PER_EPOCH)
        self.bar = (
            tqdm(total=batches, desc=f"epoch {epoch}/{epochs}", leave=False, file=sys.stdout)
            if enabled
            else None
        )

    def update(self, batch: int, running: Callable[[], tuple[float, float | None]]) -> None:
        """Advances one batch; ``running()`` gives the epoch's running (loss, acc or None),
        read only when the postfix is redrawn."""
        if self.bar is None:
            return
        if batch % self.every == 0:
            loss, acc = running()
            text = f"loss={loss:.4f}" + ("" if acc is None else f", acc={acc:.4f}")
            self.bar.set_postfix_str(f"{text}, lr={self.lr:.3g}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary_line(epoch: int, epochs: int, logs: Mapping[str, float]) -> str:
    """``epoch 3/10  train_loss 0.2345  train_acc 0.9312  ...  lr 0.01  2.31s``."""
    parts = [f"epoch {epoch}/{epochs}"]
    for key, value in logs.items():
        if key == "epoch_time":
            continue
        parts.append(f"{key} {value:.3g}" if key == "lr" else f"{key} {value:.4f}")
    parts.append(f"{logs['epoch_time']:.2f}s")
    return "  ".join(parts)
