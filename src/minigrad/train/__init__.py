"""Training loop, callbacks, the run's monitor and the per-epoch History."""

from minigrad.train.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint
from minigrad.train.history import History
from minigrad.train.hooks import Callback, MonitorCallback
from minigrad.train.monitor import Monitor
from minigrad.train.trainer import Trainer

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "History", "ModelCheckpoint", "Monitor",
           "MonitorCallback", "Trainer"]
