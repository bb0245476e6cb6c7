"""The restricted pickle interpreter, under the path docs/api.md has long given it.

It lives in ``minigrad.safe_pickle``, shared by the torch-file reader (``torch_load``) and
the CIFAR-10 batch reader (``minigrad.data.safe_pickle``).
"""

from minigrad.safe_pickle import Function, PickleRefused, SafeUnpickler

__all__ = ["Function", "PickleRefused", "SafeUnpickler"]
