"""load_torch_state_dict: torch's own files read exactly, and nothing else read at all."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from minigrad.interop import TorchFileError, load_torch_state_dict
from minigrad_bench.models import seed_net, torch_seed_net, torch_vgg, vgg
from tests.interop import helpers
from tests.parity import assert_close

TORCH_DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
                "uint8", "bool"]


def _torch():
    return pytest.importorskip("torch")


def _save(tmp_path, obj, name="sd.pt", **kwargs):
    torch = _torch()
    path = tmp_path / name
    torch.save(obj, path, **kwargs)
    return path


def _numpy(t):
    torch = _torch()
    return (t.float() if t.dtype == torch.bfloat16 else t).detach().numpy()


# -- torch's own files --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", TORCH_DTYPES)
def test_every_torch_dtype_loads_with_its_values(tmp_path, dtype):
    torch = _torch()
    t = (torch.randn(3, 4, generator=torch.Generator().manual_seed(0)) * 50).to(
        getattr(torch, dtype))
    loaded = load_torch_state_dict(_save(tmp_path, {"t": t}))
    expected = "float32" if dtype == "bfloat16" else dtype
    assert loaded["t"].dtype == np.dtype(expected)
    np.testing.assert_array_equal(loaded["t"], _numpy(t))


def test_views_keep_offset_strides_and_shared_storage(tmp_path):
    torch = _torch()
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    views = {"base": base, "transposed": base.t(), "rows": base[1:3], "strided": base[::2, 1::3],
             "column": base[:, 4], "scalar": base[2, 5], "empty": base[4:], "expanded":
             base[0, :1].expand(3, 5)}
    loaded = load_torch_state_dict(_save(tmp_path, views))
    assert list(loaded) == list(views)
    for name, view in views.items():
        assert loaded[name].shape == tuple(view.shape), name
        np.testing.assert_array_equal(loaded[name], view.numpy(), err_msg=name)
    assert loaded["transposed"].strides == (8, 48)
    # one storage in torch, one buffer here: writing through one view shows in the others
    loaded["base"][1, 0] = -1.0
    assert loaded["rows"][0, 0] == -1.0 and loaded["transposed"][0, 1] == -1.0


def test_tensors_sharing_one_storage_across_keys_stay_correct(tmp_path):
    torch = _torch()
    weight = torch.randn(5, 3)
    loaded = load_torch_state_dict(_save(tmp_path, {"a.weight": weight, "b.weight": weight,
                                                    "c": weight[2:, 1:]}))
    np.testing.assert_array_equal(loaded["a.weight"], weight.numpy())
    np.testing.assert_array_equal(loaded["b.weight"], weight.numpy())
    np.testing.assert_array_equal(loaded["c"], weight[2:, 1:].numpy())
    assert np.shares_memory(loaded["a.weight"], loaded["c"])


def test_parameters_saved_directly_and_pickle_protocol_4_load(tmp_path):
    torch = _torch()
    model = torch.nn.Linear(3, 2)
    params = dict(model.named_parameters())
    for protocol in (2, 4):
        loaded = load_torch_state_dict(_save(tmp_path, params, f"p{protocol}.pt",
                                             pickle_protocol=protocol))
        for name, p in params.items():
            np.testing.assert_array_equal(loaded[name], p.detach().numpy())


def test_seed_net_state_dict_from_torch_gives_torch_outputs(tmp_path):
    torch = _torch()
    torch.manual_seed(0)
    theirs = torch_seed_net().eval()
    ours = seed_net().eval()
    ours.load_state_dict(load_torch_state_dict(_save(tmp_path, theirs.state_dict())))
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x))
    assert_close("seed net logits", ours(x), expected, np.float32)


def test_vgg_state_dict_with_batchnorm_buffers_loads_exactly(tmp_path):
    torch = _torch()
    torch.manual_seed(0)
    widths = (8, 16, 32, 64)
    theirs = torch_vgg(widths=widths)
    theirs(torch.randn(6, 1, 16, 16))  # training-mode forward: non-trivial running statistics
    theirs.eval()
    state = theirs.state_dict()
    loaded = load_torch_state_dict(_save(tmp_path, state))
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert loaded[key].dtype == _numpy(value).dtype, key
        np.testing.assert_array_equal(loaded[key], _numpy(value), err_msg=key)
    assert loaded["1.num_batches_tracked"].shape == () and loaded["1.num_batches_tracked"] == 1
    ours = vgg(widths=widths).eval()
    ours.load_state_dict(loaded)
    x = np.random.default_rng(1).standard_normal((3, 1, 16, 16)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x))
    assert_close("vgg logits", ours(x), expected, np.float32)


def test_a_torchvision_resnet18_state_dict_reads_back_exactly(tmp_path):
    _torch()
    torchvision = pytest.importorskip("torchvision")
    state = torchvision.models.resnet18().state_dict()
    loaded = load_torch_state_dict(_save(tmp_path, state))
    assert list(loaded) == list(state) and len(loaded) == 122
    for key, value in state.items():
        assert loaded[key].dtype == value.numpy().dtype, key
        np.testing.assert_array_equal(loaded[key], value.numpy(), err_msg=key)


def test_a_torchvision_resnet18_checkpoint_gives_torchs_logits_in_minigrads_resnet18(tmp_path):
    torch = _torch()
    torchvision = pytest.importorskip("torchvision")
    from minigrad import models

    torch.manual_seed(0)
    theirs = torchvision.models.resnet18()
    rng = np.random.default_rng(0)
    with torch.no_grad():  # running statistics other than torchvision's 0 and 1
        for module in theirs.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                c = module.num_features
                module.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.1, c)))
                module.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, c)))
    path = _save(tmp_path, theirs.state_dict(), "resnet18.pt")
    ours = models.resnet18()
    ours.load_state_dict(load_torch_state_dict(path))
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = theirs.eval()(torch.from_numpy(x))
    assert_close("eval-mode logits", ours.eval()(x), expected, np.float32)
    # training mode: batch statistics, and the running statistics both update alike
    with torch.no_grad():
        expected = theirs.train()(torch.from_numpy(x))
    assert_close("train-mode logits", ours.train()(x), expected, np.float32)
    assert_close("updated running_var", ours.layer4[1].bn2.running_var,
                 theirs.layer4[1].bn2.running_var, np.float32)


def test_the_helpers_archives_are_what_torch_itself_reads(tmp_path):
    torch = _torch()
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(7, np.int64)}
    for byteorder in ("little", "big"):
        path = tmp_path / f"{byteorder}.pt"
        path.write_bytes(helpers.arrays_archive(arrays, byteorder))
        theirs = torch.load(path, weights_only=True)
        ours = load_torch_state_dict(path)
        for name, array in arrays.items():
            np.testing.assert_array_equal(theirs[name].numpy(), array)
            np.testing.assert_array_equal(ours[name], array)
            assert ours[name].dtype.isnative


def test_a_legacy_format_file_is_refused_saying_how_to_convert_it(tmp_path):
    path = _save(tmp_path, {"w": _torch().ones(2)}, _use_new_zipfile_serialization=False)
    with pytest.raises(TorchFileError, match=r"sd\.pt: .*legacy.*torch\.save\(torch\.load"):
        load_torch_state_dict(path)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_torchscript_archive_is_refused(tmp_path):
    torch = _torch()
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(TorchFileError, match="TorchScript"):
        load_torch_state_dict(path)


# -- files built here, byte by byte -------------------------------------------------------
def _write(tmp_path, payload: bytes, name="crafted.pt"):
    path = tmp_path / name
    path.write_bytes(payload)
    return path


def _pickle_archive(tmp_path, pickle: bytes, storages=None):
    return _write(tmp_path, helpers.archive(pickle, storages or {}))


def test_big_endian_archives_are_converted_to_native_order(tmp_path):
    arrays = {"x": np.linspace(-1, 1, 7), "i": np.arange(5, dtype=np.int64) - 2}
    loaded = load_torch_state_dict(_write(tmp_path, helpers.arrays_archive(arrays, "big")))
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype and loaded[name].dtype.isnative
        np.testing.assert_array_equal(loaded[name], array)


def test_not_a_zip_file_is_refused_naming_it(tmp_path):
    with pytest.raises(TorchFileError, match=r"notes\.txt: not a zip archive"):
        load_torch_state_dict(_write(tmp_path, b"hello", "notes.txt"))


def test_compressed_entries_are_refused(tmp_path):
    payload = helpers.archive(helpers.state_dict_pickle({}), {}, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(TorchFileError, match="compressed"):
        load_torch_state_dict(_write(tmp_path, payload))


def test_a_storage_entry_of_the_wrong_size_or_missing_is_refused(tmp_path):
    pickle = helpers.state_dict_pickle({"w": helpers.tensor("FloatStorage", "0", 4, 0, [4],
                                                            [1])})
    with pytest.raises(TorchFileError, match=r"declares 4 float32 elements \(16 bytes\) but "
                                             r"archive/data/0 holds 12 bytes"):
        load_torch_state_dict(_pickle_archive(tmp_path, pickle, {"0": bytes(12)}))
    with pytest.raises(TorchFileError, match="storage 0 has no entry archive/data/0"):
        load_torch_state_dict(_pickle_archive(tmp_path, pickle))


@pytest.mark.parametrize("offset, shape, stride", [
    (0, [5], [1]), (1, [4], [1]), (0, [2, 3], [3, 1]), (0, [2, 2], [1, 3]), (5, [0], [1]),
    (0, [1 << 30, 1 << 30], [0, 0]),
])
def test_a_view_reaching_beyond_its_storage_is_refused(tmp_path, offset, shape, stride):
    pickle = helpers.state_dict_pickle({"w": helpers.tensor("FloatStorage", "0", 4, offset,
                                                            shape, stride)})
    with pytest.raises(TorchFileError, match=r"tensor 'w' .* beyond its storage of 4 elements"):
        load_torch_state_dict(_pickle_archive(tmp_path, pickle, {"0": bytes(16)}))


def test_values_that_are_not_tensors_are_refused(tmp_path):
    nested = helpers.state_dict_pickle({"model": b"}", "epoch": helpers.integer(3)})
    with pytest.raises(TorchFileError, match="entry 'model' is a dict, not a tensor"):
        load_torch_state_dict(_pickle_archive(tmp_path, nested))
    with pytest.raises(TorchFileError, match="holds a list, not a state_dict"):
        load_torch_state_dict(_pickle_archive(tmp_path, b"\x80\x02]."))


def _refused(tmp_path, pickle: bytes, match: str):
    with pytest.raises(TorchFileError, match=r"crafted\.pt: refused, nothing was executed: .*" +
                       match):
        load_torch_state_dict(_pickle_archive(tmp_path, pickle))


def _shell(tmp_path) -> tuple[bytes, object]:
    """A command that would leave a file behind if anything ran it."""
    canary = tmp_path / "pwned"
    return helpers.text(f"touch {canary}"), canary


@pytest.mark.parametrize("module, name", [("os", "system"), ("posix", "system"),
                                          ("builtins", "eval"), ("subprocess", "call")])
def test_globals_beyond_a_state_dicts_are_refused_via_global_and_stack_global(tmp_path, module,
                                                                               name):
    command, canary = _shell(tmp_path)
    via_global = b"\x80\x02" + helpers.global_(module, name) + command + b"\x85R."
    via_stack = (b"\x80\x04" + helpers.text(module) + helpers.text(name) + b"\x93" + command +
                 b"\x85R.")
    for pickle in (via_global, via_stack):
        _refused(tmp_path, pickle, rf"refers to {module}\.{name} at byte \d+, which is not")
    assert not canary.exists()


def test_reduce_of_anything_but_an_allowed_function_is_refused(tmp_path):
    storage_type = helpers.global_("torch", "FloatStorage") + b")R."
    _refused(tmp_path, b"\x80\x02" + storage_type, "REDUCE at byte 23 applies a StorageType")
    _refused(tmp_path, b"\x80\x02" + helpers.text("os.system") + b")R.", "applies a str")
    bad_args = helpers.global_("collections", "OrderedDict") + helpers.integer(1) + b"\x85R."
    _refused(tmp_path, b"\x80\x02" + bad_args, r"collections\.OrderedDict called with 1 arg")


@pytest.mark.parametrize("opcode, name", [
    (b"(" + b"ios\nsystem\n", "INST"),
    (b"(" + helpers.global_("collections", "OrderedDict") + b"o", "OBJ"),
    (b"\x81", "NEWOBJ"), (b"\x92", "NEWOBJ_EX"), (b"\x82\x01", "EXT1"),
    (b"\x83\x01\x00", "EXT2"), (b"\x84\x01\x00\x00\x00", "EXT4"), (b"Pfoo\n", "PERSID"),
    (b"S'x'\n", "STRING"), (b"\x8f", "EMPTY_SET"), (b"\x97", "NEXT_BUFFER"), (b"I1\n", "INT"),
])
def test_opcodes_that_build_arbitrary_objects_are_refused(tmp_path, opcode, name):
    command, canary = _shell(tmp_path)
    _refused(tmp_path, b"\x80\x02" + command + opcode + b".", f"pickle opcode {name} at byte")
    assert not canary.exists()


def test_build_is_refused_except_for_an_ordered_dicts_attributes(tmp_path):
    _refused(tmp_path, b"\x80\x02}" + b"}b.", "BUILD is only accepted for an OrderedDict's")
    _refused(tmp_path, b"\x80\x02" + helpers.EMPTY_ORDERED_DICT + b"]b.",
             "got a list for a OrderedDict")


def test_tensor_rebuild_arguments_are_checked(tmp_path):
    rebuild = helpers.global_("torch._utils", "_rebuild_tensor_v2")
    _refused(tmp_path, b"\x80\x02" + rebuild + b"(" + helpers.integer(0) * 6 + b"tR.",
             "expects a storage as its first argument")
    hooks = helpers.state_dict_pickle({"w": helpers.tensor("FloatStorage", "0", 1, 0, [1], [1])
                                       .replace(b")R", helpers.text("x") + b"\x85R")})
    _refused(tmp_path, hooks, r"collections\.OrderedDict called with 1 arguments")
    negative = helpers.state_dict_pickle({"w": helpers.tensor("FloatStorage", "0", 4, 0, [4],
                                                              [-1])})
    _refused(tmp_path, negative, "stride must be a tuple of at most 32 non-negative ints")
    bad_key = helpers.state_dict_pickle({"w": helpers.tensor("FloatStorage", "../x", 4, 0, [4],
                                                             [1])})
    _refused(tmp_path, bad_key, "storage key '../x' is not a decimal number")


def test_memo_and_stack_bombs_fail_fast_without_large_allocations(tmp_path, monkeypatch):
    import tracemalloc

    from minigrad import safe_pickle

    far_memo = b"\x80\x02]r\xff\xff\xff\xffj\xff\xff\xff\xff0."  # C pickle would size a 4G memo
    tracemalloc.start()
    try:
        with pytest.raises(TorchFileError, match="memo index 4294967295 for a memo of 0 entries "
                                                 "is forged"):
            load_torch_state_dict(_pickle_archive(tmp_path, far_memo))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    _refused(tmp_path, b"\x80\x02]h\x05.", "memo entry 5, never stored")
    monkeypatch.setattr(safe_pickle, "MAX_ITEMS", 100)
    _refused(tmp_path, b"\x80\x02" + b"]\x940" * 101 + b".", "memo grows past 100 entries")
    _refused(tmp_path, b"\x80\x02" + b"(" * 102 + b".", "stack grows past 100 entries")
    _refused(tmp_path, b"\x80\x02" + b"N" * 102 + b".", "stack grows past 100 entries")


def test_shared_reference_towers_are_refused_without_being_walked(tmp_path):
    # t_k = (t_{k-1}, t_{k-1}): 2^200 leaves as a tree; hashing it as a key would never end
    tower = b")" + b"2\x86" * 200
    _refused(tmp_path, b"\x80\x02}" + tower + helpers.integer(1) + b"s.",
             "dict key of type tuple")
    with pytest.raises(TorchFileError, match="holds a tuple, not a state_dict"):
        load_torch_state_dict(_pickle_archive(tmp_path, b"\x80\x02" + tower + b"."))


@pytest.mark.parametrize("pickle, match", [
    (b"\x80\x02X\xff\xff\xff\x7f", "pickle ends early"),
    (b"\x80\x06N.", "pickle protocol 6; protocols 2 to 5"),
    (b"\x80\x02NN.", "malformed stack"), (b"\x80\x02t.", "closes a MARK it never opened"),
    (b"\x80\x02X\x02\x00\x00\x00\xff\xfe.", "not valid UTF-8"),
    (b"\x80\x020.", "pops an empty stack"),
    (b"\x80\x02N" + helpers.integer(1) + b"s.", "SETITEM at byte 8: needs a dict"),
    (b"\x80\x02cos" + b"x" * 300, "GLOBAL at byte 2: its name is not a short line"),
])
def test_malformed_pickles_are_refused_with_what_is_wrong(tmp_path, pickle, match):
    _refused(tmp_path, pickle, match)
