"""minigrad: a numpy deep-learning framework where every layer writes its own backward."""

__version__ = "0.1.0"

from minigrad import memory  # noqa: E402

memory.keep_unless_disabled()  # before any array of ours is allocated

from minigrad import data, nn, optim, train  # noqa: E402
from minigrad.checkpoint import load, save  # noqa: E402
from minigrad.nn.module import is_grad_enabled, no_grad  # noqa: E402
from minigrad.threads import get_num_threads, set_num_threads  # noqa: E402

__all__ = ["__version__", "data", "get_num_threads", "is_grad_enabled", "load", "nn",
           "no_grad", "optim", "save", "set_num_threads", "train"]
