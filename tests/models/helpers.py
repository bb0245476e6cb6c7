"""What the model tests share: a model against its torch twin, and two builds compared."""

from __future__ import annotations

import numpy as np


def assert_same_structure(ours, theirs) -> None:
    """Keys and shapes (in order), parameter count and repr equal the torch twin's."""
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    assert repr(ours) == repr(theirs)


def assert_same_weights(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)
