"""The state of a run that a checkpoint saves besides the model, optimizer and scheduler:
the epoch, the Generator's state, the History and every callback's state.

Loading it is all or nothing: everything that can be checked is checked first (the
callbacks' classes and each one's state, the Generator's kind, the History), and if a
callback still refuses its state, what was already set is put back.
"""

from __future__ import annotations

from collections.abc import Mapping

from minigrad.checks import check_int
from minigrad.train.history import History


def run_state_dict(run) -> dict:
    """Epoch, Generator state, History and callbacks' state of ``run`` (an ``EpochLoop``)."""
    return {
        "epoch": run.epoch,
        "generator": run.generator.bit_generator.state,
        "history": run.history.to_dict(),
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
    epoch = check_int(state["epoch"], "trainer state: epoch", minimum=0)
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
