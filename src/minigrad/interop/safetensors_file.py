"""save_safetensors: a state_dict written with the safetensors package, safely for views.

``model.state_dict()`` is a dict of arrays, so ``safetensors.numpy.save_file`` and
``load_file`` already move it to and from torch (docs/interop.md). This helper exists for one
trap: safetensors 0.8's numpy writer stores a non-C-contiguous array's memory as it lies,
under the array's logical shape (safetensors issue #825), so a transposed or strided view,
such as ``load_torch_state_dict`` returns, would load back scrambled without any error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from minigrad.fileio import atomic_write


def save_safetensors(state_dict: Mapping[str, np.ndarray], path: str | os.PathLike,
                     metadata: dict[str, str] | None = None) -> None:
    """Writes ``state_dict`` as a ``.safetensors`` file, atomically, every array C-ordered.

    Args:
        state_dict: name -> ndarray (``model.state_dict()``, ``load_torch_state_dict(...)``).
        path: the file to write; on any error nothing is written.
        metadata: optional str -> str pairs stored in the file's header.

    Raises:
        ImportError: the safetensors package is missing (``pip install
            "minigrad[safetensors]"``).
        TypeError: a key that is not a str or a value that is not an ndarray (named).
    """
    try:
        from safetensors.numpy import save
    except ImportError as err:
        raise ImportError('save_safetensors needs the safetensors package: pip install '
                          '"minigrad[safetensors]"') from err
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray):
            raise TypeError(f"save_safetensors: entry {key!r} must map a str to an ndarray, "
                            f"got a {type(value).__name__}")
    # copy(order="C") rather than np.ascontiguousarray, which turns a 0-d array (a
    # num_batches_tracked) into shape (1,)
    data = save({key: value if value.flags.c_contiguous else value.copy(order="C")
                 for key, value in state_dict.items()}, metadata=metadata)
    with atomic_write(path) as file:
        file.write(data)
