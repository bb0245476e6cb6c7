"""Learning-rate schedulers with torch's names, arguments and lr sequences.

Every scheduler writes ``group["lr"]`` of its optimizer's parameter groups (the cyclic
ones the momentum or beta1 too). Except for ``ReduceLROnPlateau`` and the composites,
the constructor records ``group["initial_lr"]`` (kept if already there, as torch does),
sets ``last_epoch = 0`` and sets the epoch-0 learning rates; each ``step()`` then
advances ``last_epoch`` by one and sets that step's rates. Most are stepped once per
epoch; ``OneCycleLR`` and ``CyclicLR`` after every batch. The recursive schedules
(StepLR, ExponentialLR, CosineAnnealingLR, ...) update the current ``group["lr"]`` with
torch's formulas, so they compose with outside changes exactly as torch's do.

The modules: ``base`` (LRScheduler, the call-order warning, all-or-nothing updates),
``simple`` (fixed schedules), ``cosine``, ``lambda_lr`` (user functions), ``cyclic``
(CyclicLR and momentum cycling), ``one_cycle``, ``composite`` (SequentialLR,
ChainedScheduler), ``plateau`` (ReduceLROnPlateau).

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
