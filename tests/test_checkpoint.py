"""Checkpoints: exact round trips, atomic writes, refusal of pickles, all-or-nothing loads."""

import json
import os
import pickle
import tempfile
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad
from minigrad import checkpoint, nn
from minigrad.checkpoint import CheckpointError, load, read, restore, save
from minigrad.optim import SGD, Adam
from minigrad.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from minigrad.train import EarlyStopping, Trainer
from tests.crafted_zip import Entry, deflated_zeros, npy_bytes, zip_bytes
from tests.train.helpers import ArrayLoader, Net, SoftmaxCrossEntropy, blobs

GIB = 1 << 30


def trained_parts(seed=0):
    """A model, Adam and a scheduler with non-trivial state after a few steps."""
    model = Net(seed=seed)
    optimizer = Adam(model.parameters(), lr=0.01)
    scheduler = StepLR(optimizer, step_size=2, gamma=0.5)
    loss = SoftmaxCrossEntropy()
    x, y = blobs(32)
    for _ in range(3):
        optimizer.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward())
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


def assert_state_equal(a, b):
    if isinstance(a, dict):  # an OrderedDict comes back as a dict, in the same order
        assert isinstance(b, dict) and list(a) == list(b)
        for key in a:
            assert_state_equal(a[key], b[key])
        return
    assert type(a) is type(b), (a, b)
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_state_equal(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b or (a != a and b != b), (a, b)


def test_round_trip_restores_model_optimizer_and_scheduler_exactly(tmp_path):
    model, optimizer, scheduler = trained_parts()
    path = tmp_path / "ckpt.npz"
    save(path, model=model, optimizer=optimizer, scheduler=scheduler, note="hello", step=3)
    model2, optimizer2, scheduler2 = Net(seed=5), None, None
    optimizer2 = Adam(model2.parameters(), lr=0.5)
    scheduler2 = StepLR(optimizer2, step_size=7)
    result = load(path, model=model2, optimizer=optimizer2, scheduler=scheduler2)
    assert_state_equal(model2.state_dict(), model.state_dict())
    assert_state_equal(optimizer2.state_dict(), optimizer.state_dict())
    assert_state_equal(scheduler2.state_dict(), scheduler.state_dict())
    assert result["note"] == "hello" and result["step"] == 3
    assert result["minigrad_version"] == minigrad.__version__


def test_plain_data_keeps_its_types(tmp_path):
    generator = np.random.default_rng(3)
    generator.random(5)
    value = {
        "tuple": (0.9, 0.999),
        "int_keys": {0: {"step": 3}, 7: [1, 2]},
        "big_int_state": generator.bit_generator.state,
        "numpy_scalar": np.float32(0.1),
        "floats": [float("inf"), -0.0, 0.1 + 0.2, float("nan")],
        "nested_arrays": [np.arange(3, dtype=np.int16), {"__odd": np.ones((2, 0))}],
        "none": None,
        "flag": True,
    }
    save(tmp_path / "c.npz", value=value)
    loaded = load(tmp_path / "c.npz")["value"]
    assert_state_equal(loaded, value)
    assert isinstance(loaded["numpy_scalar"], np.float32)
    assert loaded["big_int_state"]["state"]["state"] > 2**64  # exact 128-bit integers
    restored = np.random.default_rng()
    restored.bit_generator.state = loaded["big_int_state"]
    assert restored.random() == generator.random()


def test_saving_objects_that_need_pickle_is_refused(tmp_path):
    with pytest.raises(TypeError, match="object array at 'extra/bad'"):
        save(tmp_path / "c.npz", bad=np.array([{}, 1], dtype=object))
    with pytest.raises(TypeError, match="cannot store set at 'extra/bad'"):
        save(tmp_path / "c.npz", bad={1, 2})
    with pytest.raises(ValueError, match="may not be named"):
        save(tmp_path / "c.npz", minigrad_version="0")
    assert not os.listdir(tmp_path)


class Boom:
    """Unpickling this runs code: it would create the file ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_crafted_with_a_pickled_object_is_refused(tmp_path):
    model, optimizer, _ = trained_parts()
    path = tmp_path / "crafted.npz"
    save(path, model=model)
    marker = tmp_path / "code-ran"
    # Add an object array (pickled by numpy) to an otherwise valid checkpoint.
    with np.load(path) as npz:
        entries = dict(npz)
    entries["model/0.weight"] = np.array([Boom(str(marker))], dtype=object)
    with open(path, "wb") as file:
        np.savez(file, **entries)
    before = model.state_dict()
    with pytest.raises(CheckpointError, match="'model/0.weight' holds pickled Python objects"):
        load(path, model=model)
    assert not marker.exists()
    assert_state_equal(model.state_dict(), before)


def test_a_raw_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(Boom(str(marker))))
    with pytest.raises(CheckpointError, match="pickled data"):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda file: np.savez(file, weights=np.ones(3)), "no __meta__ entry"),
        (lambda file: np.save(file, np.ones(3)), "single .npy array"),
        (lambda file: file.write(b"not a zip"), "not an .npz archive"),
    ],
)
def test_files_that_are_not_checkpoints_are_refused(tmp_path, make, message):
    path = str(tmp_path / "x.npz")
    with open(path, "wb") as file:
        make(file)
    with pytest.raises(CheckpointError, match=message):
        load(path)


def test_a_newer_format_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", 99)
    save(tmp_path / "c.npz", model=Net())
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="format version 99"):
        load(tmp_path / "c.npz")


def test_loading_into_another_architecture_lists_the_mismatches_and_changes_nothing(tmp_path):
    model, optimizer, scheduler = trained_parts()
    save(tmp_path / "c.npz", model=model, optimizer=optimizer, scheduler=scheduler)
    other = nn.Sequential(Net(fan_in=5, hidden=8, classes=3), nn.Identity())
    other_optimizer = SGD(other.parameters(), lr=0.1, momentum=0.9)
    before = other.state_dict()
    with pytest.raises(KeyError) as error:
        load(tmp_path / "c.npz", model=other, optimizer=other_optimizer)
    text = str(error.value)
    assert "nothing was changed" in text
    assert "missing keys: 0.0.weight" in text
    assert "unexpected keys: 0.weight" in text
    smaller = Net(hidden=6)
    with pytest.raises(
        KeyError, match=r"mis-shaped entries: 0.weight: expected \(6, 4\), got \(8, 4\)"
    ):
        load(tmp_path / "c.npz", model=smaller)
    assert_state_equal(other.state_dict(), before)
    assert other_optimizer.state_dict()["param_groups"][0]["lr"] == 0.1


def test_a_later_failure_rolls_back_what_was_already_loaded(tmp_path):
    model, optimizer, _ = trained_parts()
    save(tmp_path / "c.npz", model=model, optimizer=optimizer)
    target = Net(seed=9)
    wrong_optimizer = Adam([*target.parameters()][:2], lr=0.3)  # fewer parameters
    before = target.state_dict()
    with pytest.raises(ValueError, match="parameters"):
        load(tmp_path / "c.npz", model=target, optimizer=wrong_optimizer)
    assert_state_equal(target.state_dict(), before)


def test_asking_for_a_component_the_file_lacks_changes_nothing(tmp_path):
    model, optimizer, _ = trained_parts()
    save(tmp_path / "c.npz", model=model)
    target = Net(seed=4)
    before = target.state_dict()
    with pytest.raises(KeyError, match=r"no state for \['optimizer'\]"):
        load(tmp_path / "c.npz", model=target, optimizer=Adam(target.parameters()))
    assert_state_equal(target.state_dict(), before)


def test_trainer_checkpoint_includes_its_model_optimizer_scheduler_and_state(tmp_path):
    model = Net()
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = ReduceLROnPlateau(optimizer, mode="max", patience=1)
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        optimizer,
        scheduler,
        callbacks=[EarlyStopping(patience=3)],
        seed=4,
    )
    x, y = blobs(40)
    trainer.fit(ArrayLoader(x, y), ArrayLoader(x, y), epochs=2, verbose=False)
    save(tmp_path / "t.npz", trainer=trainer)
    saved = load(tmp_path / "t.npz")
    assert sorted(saved) == ["minigrad_version", "model", "optimizer", "scheduler", "trainer"]
    assert saved["trainer"]["epoch"] == 2
    assert saved["trainer"]["generator"] == trainer.generator.bit_generator.state
    assert saved["trainer"]["history"] == trainer.history.to_dict()
    best = saved["trainer"]["callbacks"][0]["state"]["best_weights"]
    assert_state_equal(best, trainer.callbacks[0].best_weights)


def test_a_save_killed_half_way_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    model = Net()
    save(path, model=model)
    original = path.read_bytes()

    def dies_half_way(file, **arrays):
        file.write(b"PK\x03\x04 partial zip")
        raise KeyboardInterrupt  # as if killed while writing

    monkeypatch.setattr(np, "savez", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save(path, model=Net(seed=3))
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["c.npz"]  # the temp file is gone
    monkeypatch.undo()
    assert zipfile.is_zipfile(path)
    assert_state_equal(load(path)["model"], dict(model.state_dict()))


# -- reliability: every malformed, forged or truncated file is refused before any change ----
def checkpoint_entries(path) -> dict[str, np.ndarray]:
    with np.load(path) as npz:  # a file this test wrote: np.load is fine here
        return dict(npz)


def write_entries(path, entries: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as file:
        np.savez(file, **entries)


def rewrite_meta(path, edit) -> None:
    """Re-saves the checkpoint with ``edit(tree)``'s metadata (a tree, or raw bytes)."""
    entries = checkpoint_entries(path)
    tree = json.loads(entries["__meta__"].tobytes())
    new = edit(tree)
    new = tree if new is None else new
    raw = new if isinstance(new, bytes) else json.dumps(new).encode()
    entries["__meta__"] = np.frombuffer(raw, np.uint8)
    write_entries(path, entries)


@pytest.fixture
def saved(tmp_path):
    """A checkpoint of a trained model and Adam, and fresh targets with their states."""
    model, optimizer, scheduler = trained_parts()
    path = tmp_path / "c.npz"
    save(path, model=model, optimizer=optimizer, scheduler=scheduler, note="n", steps=np.ones(2))
    target = Net(seed=7)
    target_optimizer = Adam(target.parameters(), lr=0.5)
    before = (target.state_dict(), target_optimizer.state_dict())
    return path, target, target_optimizer, before


def assert_unchanged(target, target_optimizer, before):
    assert_state_equal(target.state_dict(), before[0])
    assert_state_equal(target_optimizer.state_dict(), before[1])


def _deep(depth: int):
    node = 0
    for _ in range(depth):
        node = [node]
    return node


def _pop(key):
    return lambda tree: tree.pop(key) and None


def _set(where: tuple, value):
    def edit(tree):
        node = tree
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = value

    return edit


MALFORMED_META = [
    (_pop("minigrad_version"), "expected"),
    (_pop("extra"), "expected"),
    (_set(("extra", "note"), {"__ndarray__": "nowhere"}), "array entry 'nowhere' is missing"),
    (_set(("format_version",), True), "format version True"),
    (_set(("format_version",), "1"), "format version 1"),
    (_set(("minigrad_version",), 5), "minigrad_version"),
    (_set(("components",), []), "components must be"),
    (_set(("components", "weights"), {}), "components must be"),
    (_set(("extra",), [1]), "extra is not a dict"),
    (_set(("extra", "model"), 1), r"extra entries named \['model'\]"),
    (_set(("extra", "steps", "__ndarray__"), 5), "malformed array reference"),
    (_set(("extra", "steps", "scalar"), "yes"), "malformed array reference"),
    (_set(("extra", "steps"), {"__ndarray__": "extra/steps", "x": 1}), "malformed array"),
    (_set(("extra", "steps", "scalar"), True), "should hold a scalar"),
    (_set(("extra", "dup"), {"__ndarray__": "model/0.weight"}), "referenced twice"),
    (_set(("extra", "meta"), {"__ndarray__": "__meta__"}), "referenced twice"),
    (_set(("extra", "t"), {"__tuple__": 3}), "malformed tuple"),
    (_set(("extra", "m"), {"__items__": [[1]]}), "not a \\[key, value\\] pair"),
    (_set(("extra", "m"), {"__items__": [[[1, 2], 3]]}), "mapping key that is not"),
    (_set(("extra", "m"), {"__items__": [[1, 2], [1, 3]]}), "key 1 appears twice"),
    (_set(("extra", "m"), {"__foo__": 1}), "unknown reserved key"),
    (_set(("extra", "deep"), _deep(100)), "nested deeper than 64"),
    (lambda tree: b"{", "corrupt checkpoint metadata"),
    (lambda tree: b"\xff\xfe", "corrupt checkpoint metadata"),
    (lambda tree: b"[" * 100_000 + b"]" * 100_000, "corrupt checkpoint metadata"),
    (lambda tree: b'{"a": 1' + b"0" * 100_000 + b"}", "corrupt checkpoint metadata"),
    (lambda tree: b"[1, 2]", "format tag missing"),
]


@pytest.mark.parametrize(("edit", "message"), MALFORMED_META)
def test_malformed_metadata_is_a_checkpoint_error_before_anything_is_loaded(saved, edit, message):
    path, target, target_optimizer, before = saved
    rewrite_meta(path, edit)
    with pytest.raises(CheckpointError, match=message) as error:
        load(path, model=target, optimizer=target_optimizer)
    assert str(path) in str(error.value)
    assert_unchanged(target, target_optimizer, before)


def test_metadata_that_is_not_uint8_text_is_refused(saved):
    path, target, target_optimizer, before = saved
    entries = checkpoint_entries(path)
    entries["__meta__"] = np.zeros(3)
    write_entries(path, entries)
    with pytest.raises(CheckpointError, match="is not text"):
        load(path, model=target, optimizer=target_optimizer)
    assert_unchanged(target, target_optimizer, before)


def test_a_state_that_a_loader_refuses_is_a_value_error_and_rolls_back(saved):
    path, target, target_optimizer, before = saved
    rewrite_meta(path, _set(("components", "optimizer", "param_groups"), 5))
    with pytest.raises(ValueError, match="Adam.load_state_dict: param_groups must be a list"):
        load(path, model=target, optimizer=target_optimizer)
    assert_unchanged(target, target_optimizer, before)


def test_a_missing_file_is_a_file_not_found_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="typo.npz"):
        load(tmp_path / "typo.npz", model=Net())


def assert_refused_in_bounded_memory(path, target, target_optimizer, match: str) -> None:
    """``load`` refuses the file with ``match``, its Python allocations peaking under 4 MiB."""
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=match):
            load(path, model=target, optimizer=target_optimizer)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_an_unreferenced_gibibyte_bomb_is_refused_without_being_inflated(saved):
    path, target, target_optimizer, before = saved
    entries = [Entry(f"{k}.npy", npy_bytes(v)) for k, v in checkpoint_entries(path).items()]
    bomb = Entry("bomb.npy", deflated_zeros(GIB), file_size=GIB, method=zipfile.ZIP_DEFLATED)
    entries.append(bomb)
    path.write_bytes(zip_bytes(entries))
    assert path.stat().st_size < 2 << 20
    assert_refused_in_bounded_memory(path, target, target_optimizer,
                                     "'bomb' is not referenced by __meta__")
    assert_unchanged(target, target_optimizer, before)


def test_a_referenced_entry_is_never_inflated_beyond_its_declared_array(saved):
    path, target, target_optimizer, before = saved
    found = checkpoint_entries(path)
    weight = npy_bytes(found["model/0.weight"])
    header_size = len(weight) - found["model/0.weight"].nbytes
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(weight[:header_size]) + compressor.flush(zlib.Z_FULL_FLUSH)
    bomb += deflated_zeros(GIB)
    entries = [Entry(f"{k}.npy", npy_bytes(v)) for k, v in found.items() if k != "model/0.weight"]
    entries.append(
        Entry("model/0.weight.npy", bomb, file_size=header_size + GIB, method=zipfile.ZIP_DEFLATED)
    )
    path.write_bytes(zip_bytes(entries))
    assert_refused_in_bounded_memory(path, target, target_optimizer,
                                     "model/0.weight.*truncated or forged")
    assert_unchanged(target, target_optimizer, before)


def test_a_truncated_array_is_reported_as_truncated_and_changes_nothing(saved):
    path, target, target_optimizer, before = saved
    found = checkpoint_entries(path)
    entries = [Entry(f"{k}.npy", npy_bytes(v)) for k, v in found.items()]
    entries[1] = Entry(entries[1].name, entries[1].stored[:-5])
    path.write_bytes(zip_bytes(entries))
    with pytest.raises(CheckpointError, match="truncated") as error:
        load(path, model=target, optimizer=target_optimizer)
    assert "pickle" not in str(error.value)
    assert_unchanged(target, target_optimizer, before)


def test_duplicate_entries_are_refused(saved):
    path, target, target_optimizer, before = saved
    entries = [Entry(f"{k}.npy", npy_bytes(v)) for k, v in checkpoint_entries(path).items()]
    shadow = Entry("model/0.weight.npy", npy_bytes(np.zeros((8, 4), np.float32)))
    path.write_bytes(zip_bytes([*entries, shadow]))
    with pytest.raises(CheckpointError, match="'model/0.weight' appears twice"):
        load(path, model=target, optimizer=target_optimizer)
    assert_unchanged(target, target_optimizer, before)


# -- fuzzing ----------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["__ndarray__", "__tuple__", "__items__", "scalar", "a", "model"]),
            children,
            max_size=3,
        )
    ),
    max_leaves=10,
)
meta_places = st.sampled_from(
    [
        ("extra", "other"),
        ("extra", "steps"),
        ("components", "model"),
        ("components", "model", "0.weight"),
        ("components", "optimizer", "state"),
        ("components", "optimizer", "param_groups"),
        ("components", "scheduler"),
        ("minigrad_version",),
        ("format_version",),
        ("components",),
    ]
)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bounded_load(path, model, optimizer):
    """load(...) -> the result or the documented exception it raised; bounds asserted."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        try:
            return load(path, model=model, optimizer=optimizer)
        except (CheckpointError, KeyError, ValueError) as error:
            return error
    finally:
        assert time.perf_counter() - start < 5  # a hang guard, not a speed test
        assert tracemalloc.get_traced_memory()[1] < 8 << 20
        tracemalloc.stop()


@FUZZ
@given(place=meta_places, value=json_values)
def test_fuzz_metadata_shapes_load_or_raise_a_documented_error_changing_nothing(place, value):
    model, optimizer, scheduler = trained_parts()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "c.npz")
        save(path, model=model, optimizer=optimizer, scheduler=scheduler, steps=np.ones(2))
        rewrite_meta(path, _set(place, value))
        target = Net(seed=7)
        target_optimizer = Adam(target.parameters(), lr=0.5)
        before = (target.state_dict(), target_optimizer.state_dict())
        result = _bounded_load(path, target, target_optimizer)
    if isinstance(result, Exception):
        assert_unchanged(target, target_optimizer, before)


SMALL = {}


def _small_checkpoint() -> bytes:
    if not SMALL:
        model, optimizer, _ = trained_parts()
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "c.npz")
            save(path, model=model, optimizer=optimizer)
            SMALL["bytes"] = open(path, "rb").read()
            SMALL["state"] = load(path)
    return SMALL["bytes"]


@FUZZ
@given(position=st.integers(0, 2**31), flip=st.integers(1, 255), cut=st.booleans())
def test_fuzz_flipped_or_truncated_checkpoints_load_exactly_or_are_refused(position, flip, cut):
    payload = bytearray(_small_checkpoint())
    payload[position % len(payload)] ^= flip
    if cut:
        del payload[position % len(payload) :]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "c.npz")
        with open(path, "wb") as file:
            file.write(payload)
        target = Net(seed=7)
        target_optimizer = Adam(target.parameters(), lr=0.5)
        before = (target.state_dict(), target_optimizer.state_dict())
        result = _bounded_load(path, target, target_optimizer)
    if isinstance(result, Exception):
        assert isinstance(result, CheckpointError)
        assert_unchanged(target, target_optimizer, before)
    else:
        assert_state_equal(result["model"], SMALL["state"]["model"])
        assert_state_equal(result["optimizer"], SMALL["state"]["optimizer"])


def test_a_full_disk_while_saving_names_the_checkpoint_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    save(path, model=Net())
    original = path.read_bytes()

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=r"No space left on device.*c\.npz") as error:
        save(path, model=Net(seed=3))
    assert error.value.filename == str(path)
    monkeypatch.undo()
    assert path.read_bytes() == original and os.listdir(tmp_path) == ["c.npz"]


def test_read_checks_a_file_without_loading_it_and_restore_loads_it_all_or_nothing(saved):
    path, target, target_optimizer, before = saved
    checkpoint = read(path)
    assert {"minigrad_version", "model", "optimizer", "scheduler", "note", "steps"} == set(
        checkpoint
    )
    assert_unchanged(target, target_optimizer, before)
    wrong = Adam([*target.parameters()][:2], lr=0.3)
    with pytest.raises(ValueError, match="parameters"):
        restore(checkpoint, model=target, optimizer=wrong, source=str(path))
    assert_unchanged(target, target_optimizer, before)
    restore(checkpoint, model=target, optimizer=target_optimizer)
    assert_state_equal(target.state_dict(), checkpoint["model"])
    trainer = Trainer(target, SoftmaxCrossEntropy(), target_optimizer)
    with pytest.raises(KeyError, match=r"no state for \['optimizer', 'trainer'\]; it holds \['m"):
        restore({"model": checkpoint["model"]}, trainer=trainer)
