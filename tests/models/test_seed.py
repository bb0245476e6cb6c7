"""The reference network, now in minigrad.models (its torch parity: tests/nn/test_models.py)."""

import numpy as np

from minigrad.models import seed_net
from tests.models.helpers import assert_same_weights


def test_the_benchmarks_seed_net_is_this_one():
    from minigrad_bench import models as bench_models

    assert bench_models.seed_net is seed_net


def test_same_generator_seed_gives_the_same_weights():
    assert_same_weights(seed_net(generator=np.random.default_rng(4)),
                        seed_net(generator=np.random.default_rng(4)))
    other = seed_net(generator=np.random.default_rng(5)).state_dict()["0.weight"]
    assert not np.array_equal(seed_net(generator=np.random.default_rng(4)).state_dict()[
        "0.weight"], other)


def test_reference_shapes_count_and_dtypes():
    model = seed_net(0.3, generator=np.random.default_rng(0), dtype=np.float64)
    assert model.num_parameters() == 297_790
    assert model[5].p == 0.3
    y = model.eval()(np.zeros((2, 1, 28, 28)))
    assert y.shape == (2, 10) and y.dtype == np.float64
