import math

import numpy as np
import pytest

from minigrad import nn
from minigrad.nn import init


def test_kaiming_normal_fan_out_std():
    w = np.empty((256, 128, 3, 3), np.float32)
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu",
                         generator=np.random.default_rng(0))
    assert w.dtype == np.float32
    assert w.std() == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.01)


def test_kaiming_uniform_and_xavier_bounds():
    w = np.empty((300, 200))
    init.kaiming_uniform_(w, generator=np.random.default_rng(0))
    bound = math.sqrt(2) * math.sqrt(3 / 200)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    init.xavier_uniform_(w, generator=np.random.default_rng(0))
    bound = math.sqrt(6 / 500)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


def test_init_functions_are_reproducible_and_fill_parameters():
    p, q = nn.Parameter(np.empty((4, 5))), nn.Parameter(np.empty((4, 5)))
    init.normal_(p, 0, 0.01, generator=np.random.default_rng(3))
    init.normal_(q, 0, 0.01, generator=np.random.default_rng(3))
    np.testing.assert_array_equal(p.data, q.data)
    init.zeros_(p)
    init.ones_(q)
    assert not p.data.any() and (q.data == 1).all()


def test_fan_and_gain_match_torch():
    torch = pytest.importorskip("torch")
    for shape in [(3, 4), (8, 3, 5, 5), (2, 7, 1, 3)]:
        assert init.calculate_fan_in_and_fan_out(shape) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    for name, param in [("relu", None), ("leaky_relu", math.sqrt(5)), ("tanh", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal_(np.empty((2, 2)), mode="fan")
