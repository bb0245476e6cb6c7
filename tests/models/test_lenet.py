"""LeNet-5 against its torch twin (written here, the same module names and calls)."""

import numpy as np
import pytest

from minigrad.models import lenet5
from tests.models.helpers import assert_same_structure, assert_same_weights
from tests.nn.cases import random_input
from tests.parity import assert_torch_parity


def torch_lenet5(num_classes=10, in_channels=1):
    from torch import nn as tnn

    class LeNet5(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(in_channels, 6, 5, padding=2)
            self.conv2 = tnn.Conv2d(6, 16, 5)
            self.fc1 = tnn.Linear(400, 120)
            self.fc2 = tnn.Linear(120, 84)
            self.fc3 = tnn.Linear(84, num_classes)
            self.tanh = tnn.Tanh()
            self.pool = tnn.AvgPool2d(2)
            self.flatten = tnn.Flatten()

        def forward(self, x):
            x = self.pool(self.tanh(self.conv1(x)))
            x = self.pool(self.tanh(self.conv2(x)))
            x = self.tanh(self.fc1(self.flatten(x)))
            return self.fc3(self.tanh(self.fc2(x)))

    return LeNet5()


def test_structure_and_count_equal_the_torch_twin():
    pytest.importorskip("torch")
    model = lenet5(generator=np.random.default_rng(0))
    assert model.num_parameters() == 61_706
    assert_same_structure(model, torch_lenet5())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("train", [True, False])
def test_lenet5_matches_torch(train, dtype):
    pytest.importorskip("torch")
    y, dx = assert_torch_parity(lenet5(generator=np.random.default_rng(0)), torch_lenet5(),
                                random_input((3, 1, 28, 28)), dtype, train=train)
    assert y.shape == (3, 10) and y.dtype == dx.dtype == dtype


def test_three_channels_and_other_class_counts():
    model = lenet5(num_classes=4, in_channels=3, generator=np.random.default_rng(0))
    assert model(random_input((2, 3, 28, 28), dtype=np.float32)).shape == (2, 4)


def test_same_generator_seed_gives_the_same_weights():
    assert_same_weights(lenet5(generator=np.random.default_rng(1)),
                        lenet5(generator=np.random.default_rng(1)))


def test_input_of_another_size_is_refused_by_the_layer_that_cannot_take_it():
    with pytest.raises(ValueError, match=r"Linear\(in_features=400.*got input of shape \(2, 576\)"):
        lenet5(generator=np.random.default_rng(0))(np.zeros((2, 1, 32, 32), np.float32))
