"""random_split and DataLoader: reproducible, one Generator, per-batch conversion."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from minigrad.data import DataLoader, random_split


def _images(n: int, dtype=np.uint8) -> np.ndarray:
    """(n, 1, 2, 2) images whose first pixel is the item's index (mod 256 for uint8)."""
    x = np.zeros((n, 1, 2, 2), dtype=dtype)
    x[:, 0, 0, 0] = np.arange(n) % 256 if dtype == np.uint8 else np.arange(n)
    return x


def test_random_split_of_60000_gives_48000_and_12000_disjoint_indices():
    train, val = random_split(60000)
    assert len(train) == 48000 and len(val) == 12000
    assert train.dtype == np.int64
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(60000))
    assert not np.array_equal(np.sort(val), np.arange(48000, 60000))  # not "the last 20%"


def test_random_split_is_a_function_of_the_seed_only():
    # only reads the legacy global state, to prove random_split never draws from it
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    first = random_split(1000, seed=3)
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    again = random_split(1000, seed=3)
    other = random_split(1000, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[1], other[1])


def test_random_split_permutes_with_its_own_default_rng():
    expected = np.random.default_rng(7).permutation(50)
    train, val = random_split(50, seed=7)
    assert np.array_equal(np.concatenate([train, val]), expected)


@pytest.mark.parametrize(
    ("n", "fractions"), [(10, (0.33, 0.33, 0.34)), (7, (0.5, 0.5)), (101, (0.8, 0.1, 0.1))]
)
def test_random_split_sizes_follow_torch_random_split(n, fractions):
    torch = pytest.importorskip("torch")
    expected = [len(part) for part in torch.utils.data.random_split(range(n), list(fractions))]
    assert [len(part) for part in random_split(n, fractions)] == expected


def test_random_split_of_arrays_keeps_images_and_labels_aligned():
    x = np.arange(200).reshape(100, 2)
    y = np.arange(100) * 10
    (x_train, y_train), (x_val, y_val) = random_split((x, y), seed=1)
    assert x_train.shape == (80, 2) and y_val.shape == (20,)
    assert np.array_equal(x_train[:, 0] * 5, y_train) and np.array_equal(x_val[:, 0] * 5, y_val)
    only_x = random_split(x, seed=1)
    assert np.array_equal(only_x[0], x_train)


def test_stratified_split_keeps_the_class_proportions():
    labels = np.repeat(np.arange(4), [100, 50, 30, 20])
    train, val = random_split(len(labels), (0.8, 0.2), seed=0, stratify=labels)
    assert np.bincount(labels[val]).tolist() == [20, 10, 6, 4]
    assert np.bincount(labels[train]).tolist() == [80, 40, 24, 16]
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
    assert not np.all(np.diff(labels[val]) >= 0)  # classes interleaved, not grouped


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fractions": (0.5, 0.4)}, ValueError, "sum to 1"),
        ({"fractions": (1.2, -0.2)}, ValueError, "positive"),
        ({"stratify": np.zeros(3)}, ValueError, "stratify must hold 10 labels"),
    ],
)
def test_random_split_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        random_split(10, **kwargs)


@pytest.mark.parametrize(
    ("first", "kwargs", "error", "message"),
    [
        (3.5, {}, TypeError, "random_split takes an int n, an array, or a tuple/list of arrays"),
        (True, {}, TypeError, "got bool True"),
        ("abc", {}, TypeError, "got str 'abc'"),
        ((), {}, TypeError, "got tuple ()"),
        (np.array(3), {}, TypeError, "random_split takes"),
        ((np.zeros(3), 5), {}, TypeError, "must have a first axis"),
        (10, {"fractions": ("a", "b")}, ValueError, "fractions must be positive numbers"),
        (10, {"fractions": (0.5, float("nan"))}, ValueError, "fractions must be positive"),
        (10, {"seed": "x"}, TypeError, "random_split: seed must be None or an int >= 0"),
        (10, {"seed": -1}, ValueError, "random_split: seed must be None or an int >= 0"),
    ],
)
def test_random_split_names_bad_inputs(first, kwargs, error, message):
    with pytest.raises(error, match=message):
        random_split(first, **kwargs)


def test_random_split_rejects_arrays_of_different_lengths():
    with pytest.raises(ValueError, match=r"equal lengths, got \[3, 4\]"):
        random_split((np.zeros(3), np.zeros(4)))


@pytest.mark.parametrize(("drop_last", "expected"), [(False, 4), (True, 3)])
def test_len_is_the_number_of_batches(drop_last, expected):
    loader = DataLoader(_images(10), np.arange(10), batch_size=3, drop_last=drop_last)
    assert len(loader) == expected == len(list(loader))


def test_every_epoch_visits_each_item_once_in_a_new_order():
    loader = DataLoader(_images(100), np.arange(100), batch_size=16, seed=0)
    orders = [np.concatenate([yb for _, yb in loader]) for _ in range(3)]
    for order in orders:
        assert np.array_equal(np.sort(order), np.arange(100))
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])


def test_the_epoch_sequence_is_reproducible_from_the_seed():
    def epochs(seed):
        loader = DataLoader(_images(50), np.arange(50), batch_size=8, seed=seed)
        return [np.concatenate([yb for _, yb in loader]) for _ in range(3)]

    assert all(np.array_equal(a, b) for a, b in zip(epochs(5), epochs(5), strict=True))
    assert not np.array_equal(epochs(5)[0], epochs(6)[0])


def test_without_shuffle_batches_come_in_order():
    loader = DataLoader(_images(10), np.arange(10), batch_size=4, shuffle=False)
    assert [yb.tolist() for _, yb in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_uint8_images_become_float32_in_0_1_batch_by_batch():
    x = np.random.default_rng(0).integers(0, 256, (20, 3, 4, 4), dtype=np.uint8)
    loader = DataLoader(x, np.arange(20), batch_size=6, shuffle=False)
    xb, yb = next(iter(loader))
    assert xb.dtype == np.float32 and xb.flags.c_contiguous and yb.dtype == np.int64
    np.testing.assert_array_equal(xb, x[:6].astype(np.float32) / np.float32(255))
    assert loader.x is x  # kept as uint8: nothing converted up front


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_images_keep_their_dtype_and_values(dtype):
    x = np.random.default_rng(0).standard_normal((9, 1, 3, 3)).astype(dtype)
    batches = list(DataLoader(x, np.arange(9), batch_size=4, shuffle=False))
    assert all(xb.dtype == dtype and xb.flags.c_contiguous for xb, _ in batches)
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches]), x)


def test_labels_come_out_int64_whatever_integer_type_goes_in():
    loader = DataLoader(_images(5), np.arange(5, dtype=np.uint8), batch_size=5)
    assert next(iter(loader))[1].dtype == np.int64


def test_the_transform_gets_each_uint8_batch_and_the_loader_generator():
    seen = []

    def spy(batch, generator):
        seen.append((batch.dtype, batch.shape, generator))
        return batch

    loader = DataLoader(_images(10), np.arange(10), batch_size=4, transform=spy, seed=0)
    for xb, _ in loader:
        assert xb.dtype == np.float32
    assert [s[:2] for s in seen] == [(np.uint8, (4, 1, 2, 2))] * 2 + [(np.uint8, (2, 1, 2, 2))]
    assert all(s[2] is loader.generator for s in seen)


def test_a_transform_returning_float_is_passed_through():
    x = _images(4)
    loader = DataLoader(x, np.arange(4), 4, shuffle=False, transform=lambda b, g: b * 2.0)
    xb, _ = next(iter(loader))
    assert xb.dtype == np.float64
    np.testing.assert_array_equal(xb, x * 2.0)


def test_a_transform_never_changes_the_data_set():
    x = _images(6)
    original = x.copy()

    def vandal(batch, generator):
        batch[...] = 0
        return batch

    for _ in DataLoader(x, np.arange(6), 3, shuffle=False, transform=vandal):
        pass
    np.testing.assert_array_equal(x, original)


def test_replacing_the_generator_drives_shuffle_and_transforms_from_it():
    def noisy(batch, generator):
        return batch + generator.random(len(batch))[:, None, None, None]

    def run(loader):
        return [(xb.copy(), yb.copy()) for xb, yb in loader]

    fresh = DataLoader(_images(20, np.float64), np.arange(20), 6, transform=noisy, seed=11)
    replaced = DataLoader(_images(20, np.float64), np.arange(20), 6, transform=noisy, seed=0)
    replaced.generator = np.random.default_rng(11)
    for (xa, ya), (xb, yb) in zip(run(fresh), run(replaced), strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_restoring_the_generator_state_replays_the_same_epoch():
    def augment(batch, generator):
        return batch + generator.integers(0, 5, size=len(batch))[:, None, None, None]

    loader = DataLoader(_images(30, np.float32), np.arange(30), 7, transform=augment, seed=2)
    list(loader)  # epoch 1
    saved = copy.deepcopy(loader.generator.bit_generator.state)
    epoch2 = [(xb.copy(), yb.copy()) for xb, yb in loader]
    restored = np.random.default_rng()
    restored.bit_generator.state = saved
    resumed = DataLoader(_images(30, np.float32), np.arange(30), 7, transform=augment)
    resumed.generator = restored
    for (xa, ya), (xb, yb) in zip(epoch2, resumed, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_the_epoch_permutation_is_drawn_when_iteration_starts():
    loader = DataLoader(_images(10), np.arange(10), 10, seed=0)
    iterator = iter(loader)
    loader.generator = np.random.default_rng(99)  # too late for this epoch
    expected = np.random.default_rng(0).permutation(10)
    assert np.array_equal(next(iterator)[1], expected)


@pytest.mark.parametrize(
    ("x", "y", "batch_size", "error", "message"),
    [
        (np.zeros((4, 2, 2), np.uint8), np.arange(4), 2, ValueError, r"x must be an \(N, C"),
        (np.zeros((4, 1, 2, 2), np.int32), np.arange(4), 2, TypeError, "uint8, float32 or float64"),
        (np.zeros((4, 1, 2, 2), np.uint8), np.arange(3), 2, ValueError, "y must hold 4 integer"),
        (np.zeros((4, 1, 2, 2), np.uint8), np.zeros(4), 2, ValueError, "y must hold 4 integer"),
        (np.zeros((4, 1, 2, 2), np.uint8), np.arange(4), 0, ValueError, "batch_size must be"),
        (np.zeros((4, 1, 2, 2), np.uint8), np.arange(4), True, TypeError, "batch_size must be"),
    ],
)
def test_bad_loader_arguments_are_named(x, y, batch_size, error, message):
    with pytest.raises(error, match=message):
        DataLoader(x, y, batch_size)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shuffle": "no"}, "DataLoader: shuffle must be True or False, got 'no'"),
        ({"drop_last": 1}, "DataLoader: drop_last must be True or False, got 1"),
        ({"seed": "abc"}, "DataLoader: seed must be None or an int >= 0, got 'abc'"),
        ({"seed": 1.5}, "DataLoader: seed must be None or an int >= 0"),
    ],
)
def test_bad_loader_options_are_named(kwargs, message):
    with pytest.raises(TypeError, match=message):
        DataLoader(_images(4), np.arange(4), 2, **kwargs)


@pytest.mark.parametrize(
    ("transform", "error", "message"),
    [
        (lambda b, g: list(b), TypeError, "returned a list, expected an \\(N, C, H, W\\) numpy"),
        (lambda b, g: b[:1], ValueError, "returned shape \\(1, 1, 2, 2\\) for a batch of 2"),
        (lambda b, g: b[0], ValueError, "it must return \\(N, C, H, W\\) with the same N"),
    ],
)
def test_a_transform_that_changes_the_batch_into_something_else_is_named(
    transform, error, message
):
    loader = DataLoader(_images(4), np.arange(4), 2, transform=transform)
    with pytest.raises(error, match=message):
        next(iter(loader))


def test_a_generator_that_is_not_a_generator_is_rejected_at_iteration():
    loader = DataLoader(_images(4), np.arange(4), 2)
    loader.generator = 42
    with pytest.raises(TypeError, match="DataLoader.generator must be a numpy Generator"):
        iter(loader)


def test_a_transform_returning_an_unsupported_dtype_is_an_error():
    loader = DataLoader(_images(4), np.arange(4), 2, transform=lambda b, g: b.astype(np.int16))
    with pytest.raises(TypeError, match="must return uint8, float32 or float64, got int16"):
        next(iter(loader))


def test_an_mnist_split_feeds_a_loader(mnist):
    (x_train, y_train), (x_val, _) = random_split((mnist[0], mnist[1]), seed=0)
    loader = DataLoader(x_train, y_train, batch_size=512, seed=0)
    assert len(loader) == 94 and len(x_val) == 12000
    xb, yb = next(iter(loader))
    assert xb.shape == (512, 1, 28, 28) and xb.dtype == np.float32 and 0 <= xb.min() < xb.max() <= 1
