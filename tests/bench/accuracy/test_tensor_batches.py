"""The device-side augmentation (the CUDA data path), checked on CPU against minigrad's."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad.data import functional as F

torch = pytest.importorskip("torch")

from minigrad_bench.accuracy import tensor_batches as tb  # noqa: E402
from minigrad_bench.accuracy.baselines import baseline_recipe  # noqa: E402
from minigrad_bench.accuracy.torch_train import Runtime, train_vgg, vgg_trainer  # noqa: E402


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).random((5, 3, 16, 16)).astype(np.float32)


def test_crop_equals_minigrad_crop_per_sample(images):
    g = np.random.default_rng(1)
    top, left = g.integers(0, 9, 5), g.integers(0, 9, 5)
    ours = tb.crop(torch.from_numpy(images), torch.from_numpy(top), torch.from_numpy(left), 4)
    np.testing.assert_array_equal(ours.numpy(), F.crop(images, top, left, 16, padding=4))


def test_hflip_equals_minigrad_hflip(images):
    flip = np.array([True, False, True, True, False])
    ours = tb.hflip(torch.from_numpy(images), torch.from_numpy(flip))
    np.testing.assert_array_equal(ours.numpy(), F.hflip(images, flip))


def test_rotate_equals_minigrad_rotate_counter_clockwise(images):
    angles = np.array([0.0, 10.0, -25.0, 90.0, 3.3])
    ours = tb.rotate(torch.from_numpy(images), torch.from_numpy(angles))
    np.testing.assert_allclose(ours.numpy(), F.rotate(images, angles), atol=1e-5)


def test_cutout_equals_minigrad_cutout_boxes_clipped_at_the_rim(images):
    centre_y, centre_x = np.array([0, 5, 15, 8, 2]), np.array([15, 5, 0, 8, 13])
    half = 4
    y0, y1 = np.clip(centre_y - half, 0, 16), np.clip(centre_y + half, 0, 16)
    x0, x1 = np.clip(centre_x - half, 0, 16), np.clip(centre_x + half, 0, 16)
    expected = F.erase(images, y0, x0, y1 - y0, x1 - x0, value=0, sample=np.arange(5))
    ours = tb.cutout(torch.from_numpy(images), torch.from_numpy(centre_y),
                     torch.from_numpy(centre_x), 8)
    np.testing.assert_array_equal(ours.numpy(), expected)


def _batches(seed: int, recipe) -> list:
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (10, 3, 32, 32), np.uint8))
    loader = tb.TensorBatches(x, torch.arange(10), 4, recipe=recipe, shuffle=True, seed=seed)
    return list(loader)


def test_tensor_batches_are_seeded_shuffled_and_augmented_per_sample():
    recipe = baseline_recipe("cifar10", epochs=1)
    first, again, other = _batches(0, recipe), _batches(0, recipe), _batches(1, recipe)
    assert [len(yb) for _, yb in first] == [4, 4, 2]
    assert sorted(torch.cat([yb for _, yb in first]).tolist()) == list(range(10))
    for (xa, ya), (xb, yb) in zip(first, again):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other))
    assert first[0][0].dtype == torch.float32 and first[0][0].shape == (4, 3, 32, 32)


def test_unaugmented_tensor_batches_are_the_normalised_images_in_order():
    x = np.random.default_rng(0).integers(0, 256, (6, 1, 28, 28), np.uint8)
    loader = tb.TensorBatches(torch.from_numpy(x), torch.arange(6), 4)
    xb, yb = next(iter(loader))
    expected = (x[:4].astype(np.float32) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(xb.numpy(), expected, rtol=1e-6, atol=1e-6)
    assert yb.tolist() == [0, 1, 2, 3]


def test_vgg_trains_through_the_tensor_pipeline_on_cpu():
    g = np.random.default_rng(0)
    images = (g.integers(0, 256, (40, 1, 28, 28), np.uint8), g.integers(0, 10, 40),
              g.integers(0, 256, (8, 1, 28, 28), np.uint8), g.integers(0, 10, 8))
    recipe = baseline_recipe("mnist", "improved", epochs=2, widths=(4, 4, 8, 8))
    runtime = Runtime.for_model("cpu", fast=True)
    run = vgg_trainer(recipe, runtime)
    test = train_vgg(run, recipe, images, verbose=False, tensor_pipeline=True)
    assert run.history.epochs == 2 and run.history.best_epoch in (1, 2)
    assert set(test) == {"loss", "acc"}


@pytest.mark.parametrize("dataset, variant", [("mnist", "seed"), ("mnist", "improved"),
                                              ("cifar10", "seed")])
def test_the_cuda_paths_settings_train_every_recipe_on_cpu(dataset, variant):
    """bf16 autocast, channels_last, lazy losses and device batches, as on CUDA, on the CPU
    (torch supports all of them there): everything of the CUDA path but the device."""
    channels, size = (1, 28) if dataset == "mnist" else (3, 32)
    g = np.random.default_rng(0)
    images = (g.integers(0, 256, (40, channels, size, size), np.uint8), g.integers(0, 10, 40),
              g.integers(0, 256, (8, channels, size, size), np.uint8), g.integers(0, 10, 8))
    recipe = baseline_recipe(dataset, variant, epochs=2, widths=(4, 4, 8, 8))
    runtime = Runtime(torch.device("cpu"), autocast=True, channels_last=True, lazy_loss=True)
    run = vgg_trainer(recipe, runtime)
    conv = run.model[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    test = train_vgg(run, recipe, images, verbose=False, tensor_pipeline=True)
    assert run.history.epochs == 2 and run.history.stop_reason is None
    for key in ("train_loss", "val_loss", "val_acc"):
        assert all(isinstance(v, float) and np.isfinite(v) for v in run.history[key]), key
    assert isinstance(test["loss"], float) and 0.0 <= test["acc"] <= 1.0
    assert all(p.dtype == torch.float32 for p in run.model.parameters())  # autocast, not casts
