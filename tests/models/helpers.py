"""What the model tests share: comparing a model's repr with its torch twin's."""

from __future__ import annotations

import re

import numpy as np

# Leaf layers whose repr minigrad writes exactly as torch 2.x does. The others print their
# arguments in their own way (MaxPool2d and AvgPool2d as pairs, no ReLU(inplace=...), no
# BatchNorm bias=...): for those the outline compares names and types only.
EXACT_REPR = {"Conv2d", "Linear", "AdaptiveAvgPool2d", "Flatten", "Tanh", "ZeroPadShortcut"}
LEAF = re.compile(r"^(\s*(?:\(\w+\): )?)(\w+)\((.*)\)$")


def repr_outline(text: str) -> list[str]:
    """The repr's lines: module names, types and nesting, with the arguments of layers
    outside ``EXACT_REPR`` replaced by ``...``."""
    lines = []
    for line in text.splitlines():
        match = LEAF.match(line)
        if match and match.group(2) not in EXACT_REPR:
            line = f"{match.group(1)}{match.group(2)}(...)"
        lines.append(line)
    return lines


def assert_same_structure(ours, theirs) -> None:
    """Keys, shapes (in order), parameter count and repr outline equal the torch twin's."""
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    assert repr_outline(repr(ours)) == repr_outline(repr(theirs))


def assert_same_weights(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)
