"""minigrad: a numpy deep-learning framework where every layer writes its own backward."""

__version__ = "0.1.0"

from minigrad import nn  # noqa: E402

__all__ = ["__version__", "nn"]
