"""The state of a run that a checkpoint saves besides the model, optimizer and scheduler:
the epoch, the Generator's state, the History and every callback's state; and how ``fit``
resets it (and resumes it from a checkpoint) at its start.

Loading it is all or nothing: everything that can be checked is checked first (the
callbacks' classes and each one's state, the Generator's kind, the History), and if a
callback still refuses its state, what was already set is put back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from minigrad import checkpoint
from minigrad.checks import check_int
from minigrad.train.history import History


def begin_run(run, metrics, monitor, keeper, saved: Mapping | None, source) -> None:
    """Resets the run state of ``run`` (an ``EpochLoop`` at ``fit`` start), gives it the
    run's ``monitor`` and best ``keeper``, lets the hooks reset theirs, then resumes
    ``saved`` (a ``checkpoint.read`` result of ``source``) if given.

    All or nothing: if a hook or the resume fails (a checkpoint of another model or other
    callbacks), the run state and the callbacks' state are put back as they were
    (``checkpoint.restore`` puts back the model, optimizer and scheduler).
    """
    before = (run.history, run.epoch, run.monitor, run._best_keeper, run.has_validation,
              run.stop_training, run._stop_reason, run._metrics,
              [callback.state_dict() for callback in run.callbacks])
    try:
        run.has_validation, run._metrics = metrics.has_validation, metrics
        run.monitor, run._best_keeper = monitor, keeper
        run.history = History(monitor.metric, monitor.mode)
        run.epoch = 0
        run.stop_training = False
        run._stop_reason = None
        for callback in run._hooks:
            callback.on_train_begin(run)
        if saved is not None:
            checkpoint.restore(saved, trainer=run, source=os.fspath(source))
            run.stop_training = run.history.stopped_epoch is not None
    except BaseException:
        (run.history, run.epoch, run.monitor, run._best_keeper, run.has_validation,
         run.stop_training, run._stop_reason, run._metrics, states) = before
        for callback, state in zip(run.callbacks, states, strict=True):
            callback.load_state_dict(state)
        raise


def run_state_dict(run) -> dict:
    """Epoch, Generator state, History and callbacks' state of ``run`` (an ``EpochLoop``)."""
    history = run.history.to_dict()
    if "steps" in history:  # arrays: binary in a checkpoint, not JSON text per value
        history["steps"] = {k: np.asarray(v) for k, v in history["steps"].items()}
    return {
        "epoch": run.epoch,
        "generator": run.generator.bit_generator.state,
        "history": history,
        "callbacks": [
            {"type": type(c).__name__, "state": c.state_dict()} for c in run.callbacks
        ],
    }


def load_run_state(run, state: Mapping) -> None:
    """Restores ``run_state_dict()`` output into ``run``, all or nothing.

    The callbacks must be of the same classes in the same order, and each must accept its
    state (``Callback.check_state``: EarlyStopping's best weights must fit the model); the
    Generator must be of the same kind and the History well formed.

    Raises:
        ValueError: any of these does not hold; nothing was changed.
    """
    saved = [entry["type"] for entry in state["callbacks"]]
    current = [type(c).__name__ for c in run.callbacks]
    if saved != current:
        raise ValueError(f"checkpoint was saved with callbacks {saved}, this Trainer has {current}")
    generator_kind = type(run.generator.bit_generator).__name__
    if state["generator"].get("bit_generator") != generator_kind:
        raise ValueError(
            f"checkpoint Generator is {state['generator'].get('bit_generator')!r}, "
            f"this Trainer's is {generator_kind!r}"
        )
    history = History.from_dict(state["history"])
    try:
        epoch = check_int(state["epoch"], "trainer state: epoch", minimum=0)
    except TypeError as error:  # a malformed file, not a caller's bad argument
        raise ValueError(str(error)) from None
    for callback, entry in zip(run.callbacks, state["callbacks"], strict=True):
        callback.check_state(entry["state"], run)
    generator_before = run.generator.bit_generator.state
    callbacks_before = [callback.state_dict() for callback in run.callbacks]
    try:
        # Set the state in place: the model and loaders hold this same Generator object.
        run.generator.bit_generator.state = state["generator"]
        for callback, entry in zip(run.callbacks, state["callbacks"], strict=True):
            callback.load_state_dict(entry["state"])
    except BaseException:
        run.generator.bit_generator.state = generator_before
        for callback, callback_state in zip(run.callbacks, callbacks_before, strict=True):
            callback.load_state_dict(callback_state)
        raise
    run.history = history
    run.epoch = epoch
