"""Training loop, callbacks and the per-epoch History."""

from minigrad.train.callbacks import Callback, CSVLogger, EarlyStopping, ModelCheckpoint
from minigrad.train.history import History
from minigrad.train.trainer import Trainer

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "History", "ModelCheckpoint", "Trainer"]
