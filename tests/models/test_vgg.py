"""The VGG baseline, now in minigrad.models (its torch parity: tests/nn/test_models.py)."""

import numpy as np
import pytest

from minigrad import nn
from minigrad.models import VGG_WIDTHS, vgg_baseline
from tests.models.helpers import assert_same_structure, assert_same_weights


def test_the_benchmarks_vgg_is_this_one():
    from minigrad_bench import models as bench_models

    assert bench_models.vgg is vgg_baseline and bench_models.VGG_WIDTHS == VGG_WIDTHS


def test_same_generator_seed_gives_the_same_weights():
    assert_same_weights(vgg_baseline(generator=np.random.default_rng(2)),
                        vgg_baseline(generator=np.random.default_rng(2)))


@pytest.mark.parametrize("in_channels, widths", [(1, VGG_WIDTHS), (3, (16, 32, 64, 128))])
def test_structure_equals_the_torch_baseline(in_channels, widths):
    pytest.importorskip("torch")
    from minigrad_bench.models import torch_vgg

    assert_same_structure(vgg_baseline(in_channels, 10, widths,
                                       generator=np.random.default_rng(0)),
                          torch_vgg(in_channels, 10, widths))


def test_initialisation_is_the_baselines():
    model = vgg_baseline(generator=np.random.default_rng(0))
    conv = model[3][3].weight.data  # (128, 128, 3, 3): fan_out 1152
    assert conv.std() == pytest.approx(np.sqrt(2 / 1152), rel=0.02)
    assert not model[3][0].bias.data.any()
    linear = model[-1]
    assert isinstance(linear, nn.Linear) and not linear.bias.data.any()
    assert linear.weight.data.std() == pytest.approx(0.01, rel=0.05)
