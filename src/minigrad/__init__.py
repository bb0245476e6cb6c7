"""minigrad: a numpy deep-learning framework where every layer writes its own backward."""

__version__ = "0.1.0"

from minigrad import data, nn, optim, train  # noqa: E402
from minigrad.checkpoint import load, save  # noqa: E402

__all__ = ["__version__", "data", "load", "nn", "optim", "save", "train"]
