"""Checkpoints: exact round trips, atomic writes, refusal of pickles, all-or-nothing loads."""

import os
import pickle
import zipfile

import numpy as np
import pytest

import minigrad
from minigrad import checkpoint, nn
from minigrad.checkpoint import CheckpointError, load, save
from minigrad.optim import SGD, Adam
from minigrad.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from minigrad.train import EarlyStopping, Trainer
from tests.train.helpers import ArrayLoader, Net, SoftmaxCrossEntropy, blobs


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
        (lambda file: file.write(b"not a zip"), "not an .npz checkpoint"),
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
