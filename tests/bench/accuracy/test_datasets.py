"""The images a run trains on: the CIFAR-10 partial set on request, named as what it is."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from minigrad_bench.accuracy import datasets  # noqa: E402
from minigrad_bench.accuracy.profiles import get_profile  # noqa: E402


def write_partial_set(root, n_train=40, n_test=10):
    """A small partial set in the real one's layout: (N, 3072) rows, R then G then B planes."""
    g = np.random.default_rng(0)
    folder = root / "cifar10-partial"
    folder.mkdir(parents=True)
    x_train = g.integers(0, 256, (n_train, 3072), dtype=np.uint8)
    x_test = g.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    np.savez(folder / "cifar10_partial.npz", x_train=x_train, x_test=x_test,
             y_train=g.integers(0, 10, n_train).astype(np.uint8),
             y_test=g.integers(0, 10, n_test).astype(np.uint8))
    return x_train, x_test


def test_partial_set_at_the_full_profile_keeps_every_image_and_names_itself(tmp_path):
    x_train, x_test = write_partial_set(tmp_path)
    data = datasets.load("cifar10", get_profile("full"), tmp_path, partial=True)
    assert data.name == "cifar10-partial"
    assert data.label == "CIFAR-10 partial set (40 train / 10 test)"
    assert "PARTIAL SET" in data.description and "--cifar10-partial" in data.description
    np.testing.assert_array_equal(data.x_train, x_train.reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(data.x_test, x_test.reshape(-1, 3, 32, 32))


def test_partial_set_is_cut_to_the_profile_but_keeps_its_label(tmp_path):
    write_partial_set(tmp_path, n_train=700, n_test=300)
    data = datasets.load("cifar10", get_profile("smoke"), tmp_path, partial=True)
    assert (len(data.x_train), len(data.x_test)) == (600, 200)
    assert data.label == "CIFAR-10 partial set (700 train / 300 test)"


def test_partial_set_asked_for_but_missing_names_the_file(tmp_path):
    with pytest.raises(datasets.DataMissing, match="cifar10_partial.npz is missing"):
        datasets.load("cifar10", get_profile("full"), tmp_path, partial=True)


def test_partial_set_with_mnist_is_refused():
    with pytest.raises(ValueError, match="--cifar10-partial needs --dataset cifar10"):
        datasets.load("mnist", get_profile("smoke"), None, partial=True)


def test_full_profile_without_official_files_points_to_the_partial_option(tmp_path):
    write_partial_set(tmp_path)
    with pytest.raises(datasets.DataMissing, match="--cifar10-partial runs this profile"):
        datasets.load("cifar10", get_profile("full"), tmp_path)


def test_quick_profile_falls_back_to_the_partial_set_with_the_same_label(tmp_path):
    write_partial_set(tmp_path)
    data = datasets.load("cifar10", get_profile("quick"), tmp_path)
    assert data.name == "cifar10-partial"
    assert data.label == "CIFAR-10 partial set (40 train / 10 test)"
    assert "official files not found" in data.description
