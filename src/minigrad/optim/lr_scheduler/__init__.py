"""Learning-rate schedulers with torch's semantics, stepped once per epoch.

Every scheduler writes ``group["lr"]`` of its optimizer's parameter groups. Except for
``ReduceLROnPlateau``, the constructor records ``group["initial_lr"]`` (kept if already
there, as torch does), sets ``last_epoch = 0`` and sets the epoch-0 learning rates; each
``step()`` then advances ``last_epoch`` by one and sets that epoch's rates. The
recursive schedules (StepLR, ExponentialLR, CosineAnnealingLR, ...) update the current
``group["lr"]`` with torch's formulas, so they compose with outside changes exactly as
torch's do.

Resuming: build the optimizer and the scheduler as for a fresh run, then call
``optimizer.load_state_dict`` (which restores the lrs) and ``scheduler.load_state_dict``.
"""

from minigrad.optim.lr_scheduler.base import LRScheduler
from minigrad.optim.lr_scheduler.composite import ChainedScheduler, SequentialLR
from minigrad.optim.lr_scheduler.cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from minigrad.optim.lr_scheduler.cyclic import CyclicLR
from minigrad.optim.lr_scheduler.lambda_lr import LambdaLR, MultiplicativeLR
from minigrad.optim.lr_scheduler.one_cycle import OneCycleLR
from minigrad.optim.lr_scheduler.plateau import ReduceLROnPlateau
from minigrad.optim.lr_scheduler.simple import (
    ConstantLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]
