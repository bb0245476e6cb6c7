"""Batched transforms: torchvision's functional ops as the oracle, per-sample random draws."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from minigrad.data import functional as F
from minigrad.data.transforms import (
    Compose,
    Cutout,
    Normalize,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    RandomRotation,
    ToFloat,
)

torch = pytest.importorskip("torch")
TF = pytest.importorskip("torchvision.transforms.functional")
BILINEAR = pytest.importorskip("torchvision.transforms").InterpolationMode.BILINEAR


def _batch(shape=(4, 3, 9, 12), dtype=np.float64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.random(shape).astype(dtype)


def _tv_rotate(image: np.ndarray, angle: float, fill=None) -> np.ndarray:
    return TF.rotate(torch.from_numpy(image), angle, interpolation=BILINEAR, fill=fill).numpy()


@pytest.mark.parametrize("angle", [0.0, 7.5, -30.0, 90.0, 135.0, 180.0, -271.3])
def test_rotate_equals_torchvision_at_every_pixel_in_float64(angle):
    batch = _batch()
    ours = F.rotate(batch, angle)
    np.testing.assert_allclose(ours, _tv_rotate(batch, angle), rtol=0, atol=1e-10)


def test_rotate_uses_each_samples_own_angle():
    batch = _batch((3, 2, 10, 10))
    angles = np.array([-20.0, 5.0, 60.0])
    ours = F.rotate(batch, angles)
    for k, angle in enumerate(angles):
        np.testing.assert_allclose(ours[k], _tv_rotate(batch[k], angle), rtol=0, atol=1e-10)


def test_rotate_uint8_mnist_is_within_one_level_of_torchvision(mnist):
    batch = mnist[0][:64]
    angles = np.linspace(-45, 45, 64)
    ours = F.rotate(batch, angles)
    assert ours.dtype == np.uint8
    theirs = np.stack([_tv_rotate(batch[k], a) for k, a in enumerate(angles)])
    assert np.abs(ours.astype(int) - theirs).max() <= 1
    assert np.mean(ours == theirs) > 0.99


def test_rotate_float32_stays_float32_and_agrees_with_torchvision():
    batch = _batch(dtype=np.float32)
    ours = F.rotate(batch, 33.0)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, _tv_rotate(batch, 33.0), rtol=0, atol=1e-5)


@pytest.mark.parametrize("fill", [0.5, [0.25, 0.5, 1.0]])
def test_rotate_with_fill_agrees_with_torchvision_on_interior_pixels(fill):
    batch = _batch()
    ours = F.rotate(batch, 25.0, fill=fill)
    channels = batch.shape[1]
    fill_list = [float(fill)] * channels if np.isscalar(fill) else fill
    theirs = _tv_rotate(batch, 25.0, fill=fill_list)
    inside = _tv_rotate(np.ones_like(batch), 25.0) == 1.0  # all four neighbours inside
    assert inside.sum() > batch.size // 2
    np.testing.assert_allclose(ours[inside], theirs[inside], rtol=0, atol=1e-10)


def test_rotate_fill_equals_rotating_the_image_padded_with_fill():
    batch = _batch((2, 1, 8, 8))
    margin = 12  # more than the half-diagonal: no sample reaches past the padding
    around = (margin, margin)
    padded = np.pad(batch, ((0, 0), (0, 0), around, around), constant_values=0.7)
    expected = _tv_rotate(padded, 40.0)[:, :, margin:-margin, margin:-margin]
    np.testing.assert_allclose(F.rotate(batch, 40.0, fill=0.7), expected, rtol=0, atol=1e-10)


def test_rotate_accepts_non_contiguous_batches():
    batch = _batch((4, 3, 10, 10))[:, :, ::-1, :]
    expected = F.rotate(np.ascontiguousarray(batch), 12.0)
    np.testing.assert_array_equal(F.rotate(batch, 12.0), expected)


@pytest.mark.parametrize("padding", [0, 3, (1, 2), (0, 1, 2, 3)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_crop_equals_torchvision_pad_then_crop(padding, dtype):
    batch = _batch((3, 2, 7, 9), dtype=dtype)
    left, top, right, bottom = F.padding_ltrb(padding)
    fill = 200 if dtype == np.uint8 else 0.5
    size = (5, 6)
    tops = np.array([0, 1, top + bottom + 7 - 5])
    lefts = np.array([left + right + 9 - 6, 0, 2])
    ours = F.crop(batch, tops, lefts, size, padding, fill)
    assert ours.dtype == dtype and ours.shape == (3, 2, 5, 6)
    pad = [padding] if isinstance(padding, int) else list(padding)
    for k in range(3):
        padded = TF.pad(torch.from_numpy(batch[k]), pad, fill=fill)
        theirs = TF.crop(padded, int(tops[k]), int(lefts[k]), *size).numpy()
        np.testing.assert_array_equal(ours[k], theirs)


def test_crop_rejects_a_window_outside_the_padded_image():
    with pytest.raises(ValueError, match="leaves the padded image"):
        F.crop(_batch((2, 1, 6, 6)), [0, 4], 0, 5, padding=1)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_erase_equals_torchvision_erase(dtype):
    batch = _batch((2, 3, 8, 10), dtype=dtype)
    value = [10, 20, 30] if dtype == np.uint8 else [0.1, -0.2, 3.0]
    ours = F.erase(batch, top=[1, 4], left=[2, 0], height=[3, 4], width=[5, 10], value=value)
    for k, (i, j, h, w) in enumerate([(1, 2, 3, 5), (4, 0, 4, 10)]):
        v = torch.tensor(value, dtype=torch.from_numpy(batch).dtype)[:, None, None]
        theirs = TF.erase(torch.from_numpy(batch[k]), i, j, h, w, v).numpy()
        np.testing.assert_array_equal(ours[k], theirs)


def test_erase_rejects_boxes_outside_the_image():
    with pytest.raises(ValueError, match="inside the 8x10 image"):
        F.erase(_batch((1, 1, 8, 10)), 5, 0, 4, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_equals_torchvision_exactly(dtype):
    batch = _batch(dtype=dtype)
    mean, std = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]
    ours = Normalize(mean, std)(batch)
    theirs = TF.normalize(torch.from_numpy(batch), mean, std).numpy()
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours, theirs)


def test_to_float_equals_torchvision_convert_image_dtype():
    batch = _batch(dtype=np.uint8)
    theirs = TF.convert_image_dtype(torch.from_numpy(batch), torch.float32).numpy()
    np.testing.assert_array_equal(ToFloat()(batch), theirs)
    assert ToFloat(np.float64)(batch).dtype == np.float64
    floats = _batch(dtype=np.float32)
    assert ToFloat()(floats) is floats


def test_hflip_equals_torchvision_where_chosen():
    batch = _batch((3, 2, 4, 5))
    ours = F.hflip(batch, [True, False, True])
    np.testing.assert_array_equal(ours[0], TF.hflip(torch.from_numpy(batch[0])).numpy())
    np.testing.assert_array_equal(ours[1], batch[1])


RANDOM_TRANSFORMS = [
    RandomRotation(20),
    RandomCrop(8, padding=2),
    RandomHorizontalFlip(),
    RandomErasing(p=0.7),
    Cutout(2, 4),
]


@pytest.mark.parametrize("transform", RANDOM_TRANSFORMS, ids=repr)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_random_transforms_are_reproducible_keep_dtype_and_leave_input_alone(transform, dtype):
    batch = _batch((16, 3, 8, 8), dtype=dtype)
    original = batch.copy()
    first = transform(batch, np.random.default_rng(1))
    again = transform(batch, np.random.default_rng(1))
    other = transform(batch, np.random.default_rng(2))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.dtype == dtype and first.flags.c_contiguous
    np.testing.assert_array_equal(batch, original)


@pytest.mark.parametrize("transform", RANDOM_TRANSFORMS, ids=repr)
def test_random_transforms_draw_parameters_per_sample(transform):
    batch = np.repeat(_batch((1, 1, 8, 8)), 32, axis=0)  # 32 copies of one image
    out = transform(batch, np.random.default_rng(0))
    assert len({out[k].tobytes() for k in range(32)}) > 1  # not one draw shared by all


@pytest.mark.parametrize("transform", RANDOM_TRANSFORMS, ids=repr)
def test_random_transforms_need_a_generator(transform):
    with pytest.raises(TypeError, match="pass a numpy Generator"):
        transform(_batch((2, 1, 8, 8)), None)


def test_random_rotation_applies_its_drawn_angles():
    transform = RandomRotation((-10, 30))
    generator = np.random.default_rng(3)
    angles = transform.get_params(1000, copy.deepcopy(generator))
    assert -10 <= angles.min() < -9 and 29 < angles.max() <= 30
    batch = _batch((1000, 1, 6, 6))
    np.testing.assert_array_equal(transform(batch, generator), F.rotate(batch, angles))


def test_random_crop_offsets_cover_every_position():
    transform = RandomCrop(28, padding=2)
    top, left = transform.get_params((5000, 1, 28, 28), np.random.default_rng(0))
    assert set(top.tolist()) == set(range(5)) and set(left.tolist()) == set(range(5))


def test_random_crop_rejects_a_size_larger_than_the_padded_image():
    with pytest.raises(ValueError, match=r"RandomCrop size \(32, 32\) is larger"):
        RandomCrop(32, padding=1)(_batch((1, 1, 28, 28)), np.random.default_rng(0))


def test_random_horizontal_flip_probability():
    batch = _batch((2000, 1, 2, 3))
    out = RandomHorizontalFlip(0.3)(batch, np.random.default_rng(0))
    flipped = np.all(out == batch[..., ::-1], axis=(1, 2, 3))
    assert 0.27 < flipped.mean() < 0.33
    assert np.all(flipped | np.all(out == batch, axis=(1, 2, 3)))


def test_random_erasing_boxes_follow_torchvisions_sampling_rule():
    transform = RandomErasing(p=0.6)
    sample, top, left, height, width = transform.get_params(
        (4000, 3, 32, 32), np.random.default_rng(0)
    )
    assert 0.57 < len(sample) / 4000 < 0.63
    assert np.all((height < 32) & (width < 32) & (top + height <= 32) & (left + width <= 32))
    area = height * width / 1024
    assert area.min() >= 0.01 and area.max() <= 0.36  # scale (0.02, 0.33), after rounding
    aspect = height / width
    assert aspect.min() > 0.2 and aspect.max() < 4.5


def test_random_erasing_box_sizes_match_torchvision_in_distribution():
    from torchvision.transforms import RandomErasing as TorchErasing

    image = torch.zeros(3, 32, 32)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        draws = [TorchErasing.get_params(image, (0.02, 0.33), (0.3, 3.3), [0]) for _ in range(3000)]
        theirs = np.array([draw[2:4] for draw in draws])
    _, _, _, height, width = RandomErasing(p=1.0).get_params(
        (3000, 3, 32, 32), np.random.default_rng(0)
    )
    ours = np.stack([height, width], axis=1)
    np.testing.assert_allclose(ours.mean(axis=0), theirs.mean(axis=0), rtol=0.05)
    np.testing.assert_allclose(ours.std(axis=0), theirs.std(axis=0), rtol=0.08)


def test_random_erasing_sets_the_boxes_to_the_value():
    batch = _batch((50, 3, 16, 16))
    transform = RandomErasing(p=1.0, value=(1.5, 2.5, 3.5))
    generator = np.random.default_rng(0)
    sample, top, left, height, width = transform.get_params(batch.shape, copy.deepcopy(generator))
    out = transform(batch, generator)
    for k, i, j, h, w in zip(sample, top, left, height, width, strict=True):
        assert np.all(out[k, :, i : i + h, j : j + w] == np.array([1.5, 2.5, 3.5])[:, None, None])
    changed = np.any(out != batch, axis=(1, 2, 3))
    assert set(np.flatnonzero(changed)) == set(sample.tolist())


def test_random_erasing_random_value_writes_standard_normal_noise():
    batch = np.full((200, 3, 32, 32), 100.0, dtype=np.float32)
    out = RandomErasing(p=1.0, value="random")(batch, np.random.default_rng(0))
    noise = out[out != 100.0]
    assert out.dtype == np.float32 and noise.size > 50_000
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 1) < 0.02


def test_random_erasing_leaves_an_image_alone_when_no_try_fits():
    batch = _batch((20, 1, 10, 10))
    out = RandomErasing(p=1.0, scale=(0.9, 1.0), ratio=(5.0, 6.0))(batch, np.random.default_rng(0))
    np.testing.assert_array_equal(out, batch)


def test_random_erasing_random_value_needs_float_images():
    with pytest.raises(TypeError, match="needs a float batch"):
        RandomErasing(p=1.0, value="random")(_batch(dtype=np.uint8), np.random.default_rng(0))


def _cutout_reference(batch, n_holes, length, generator):
    """The Cutout paper's code, one image at a time, drawing centres in the same order."""
    n, _, h, w = batch.shape
    centre_y = generator.integers(0, h, size=(n, n_holes))
    centre_x = generator.integers(0, w, size=(n, n_holes))
    out = batch.copy()
    for k in range(n):
        mask = np.ones((h, w), np.float32)
        for hole in range(n_holes):
            y, x = centre_y[k, hole], centre_x[k, hole]
            y1, y2 = np.clip(y - length // 2, 0, h), np.clip(y + length // 2, 0, h)
            x1, x2 = np.clip(x - length // 2, 0, w), np.clip(x + length // 2, 0, w)
            mask[y1:y2, x1:x2] = 0.0
        out[k] = out[k] * mask
    return out


@pytest.mark.parametrize(("n_holes", "length"), [(1, 16), (3, 5)])
def test_cutout_equals_the_reference_implementation(n_holes, length):
    batch = _batch((64, 3, 32, 32), dtype=np.float32)
    ours = Cutout(n_holes, length)(batch, np.random.default_rng(4))
    expected = _cutout_reference(batch, n_holes, length, np.random.default_rng(4))
    np.testing.assert_array_equal(ours, expected)


def test_compose_names_a_transform_that_returns_something_else_than_an_array():
    pipeline = Compose([ToFloat(), lambda batch, generator: list(batch)])
    with pytest.raises(TypeError, match="returned a list, expected a numpy array"):
        pipeline(_batch(dtype=np.uint8), None)


def test_compose_passes_one_generator_through_in_order():
    pipeline = Compose([RandomRotation(15), RandomCrop(28, padding=2), ToFloat()])
    batch = _batch((8, 1, 28, 28), dtype=np.uint8)
    generator = np.random.default_rng(0)
    expected = RandomRotation(15)(batch, generator)
    expected = ToFloat()(RandomCrop(28, padding=2)(expected, generator))
    np.testing.assert_array_equal(pipeline(batch, np.random.default_rng(0)), expected)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: F.rotate(np.zeros((2, 8, 8)), 1.0), ValueError, r"batch must have shape \(N, C"),
        (lambda: F.rotate(np.zeros((1, 1, 4, 4), np.int32), 1.0), TypeError, "uint8, float32"),
        (lambda: F.rotate(_batch(), [1.0, 2.0]), ValueError, r"angles must be a scalar or"),
        (lambda: F.rotate(_batch(), 1.0, fill=[0, 1]), ValueError, "fill must be a number or"),
        (lambda: F.rotate(_batch(dtype=np.uint8), 1, fill=300), ValueError, r"\[0, 255\]"),
        (lambda: Normalize(0.5, 0.2)(_batch(dtype=np.uint8)), TypeError, "ToFloat"),
        (lambda: Normalize(0.5, 0.0), ValueError, "std must be non-zero"),
        (lambda: Normalize([0.5, 0.5], 0.2)(_batch()), ValueError, "mean must be a number or"),
        (lambda: RandomRotation(-5), ValueError, "degrees must be a finite number >= 0"),
        (lambda: RandomRotation((10, -10)), ValueError, "min <= max"),
        (lambda: RandomCrop(0), ValueError, "size must be a positive int"),
        (lambda: RandomCrop(4, padding=(1, 2, 3)), ValueError, "padding must be an int or"),
        (lambda: RandomHorizontalFlip(1.5), ValueError,
         "p must be a number >= 0 and <= 1, got 1.5"),
        (lambda: RandomErasing(value="noise"), ValueError, "value must be a number"),
        (lambda: RandomErasing(scale=(0.5, 0.1)), ValueError, "min <= max"),
        (lambda: Cutout(-1, 4), ValueError, "n_holes must be an int >= 0"),
        (lambda: Compose([1]), TypeError, "callables"),
        (lambda: Compose(5), TypeError, "Compose: transforms must be a list of callables"),
        (lambda: Compose("abc"), TypeError, "Compose: transforms must be a list"),
        (lambda: RandomRotation(float("inf")), ValueError, "degrees must be a finite number"),
        (lambda: RandomRotation(float("nan")), ValueError, "degrees must be a finite number"),
        (lambda: RandomRotation((0, float("inf"))), ValueError, "pair of finite numbers"),
        (lambda: RandomRotation("a"), ValueError, "RandomRotation: degrees must be a"),
        (lambda: RandomHorizontalFlip("a"), TypeError, "p must be a number >= 0 and <= 1, got 'a'"),
        (lambda: RandomErasing(p=True), TypeError, "RandomErasing: p must be a number"),
        (lambda: RandomErasing(ratio=(1, float("inf"))), ValueError, "finite"),
        (lambda: RandomErasing(value=[0, float("nan")]), ValueError, "value must be a finite"),
        (lambda: Cutout(1.5), TypeError, "Cutout: n_holes must be an int >= 0, got 1.5"),
        (lambda: Cutout(1, "a"), TypeError, "Cutout: length must be an int"),
        (lambda: ToFloat("x"), TypeError, "ToFloat: dtype must be float32 or float64"),
        (lambda: Normalize("a", 1.0), ValueError, "Normalize: mean must be a finite number"),
        (lambda: Normalize(0.0, [1.0, None]), ValueError, "Normalize: std must be a finite"),
    ],
)
def test_bad_arguments_and_batches_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()
