"""minigrad.interop.safe_pickle: the documented path of the pickle machine still imports it."""

import minigrad.safe_pickle
from minigrad.interop import safe_pickle


def test_the_documented_interop_path_gives_the_one_pickle_machine():
    assert safe_pickle.SafeUnpickler is minigrad.safe_pickle.SafeUnpickler
    assert safe_pickle.Function is minigrad.safe_pickle.Function
    assert safe_pickle.PickleRefused is minigrad.safe_pickle.PickleRefused
