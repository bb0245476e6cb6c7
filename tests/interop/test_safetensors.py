"""state_dicts through safetensors: minigrad -> torch and torch -> minigrad, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad.interop import load_torch_state_dict, save_safetensors
from minigrad_bench.models import seed_net, torch_seed_net, torch_vgg, vgg
from tests.nn.cases import generator, random_input
from tests.parity import assert_close

safetensors_numpy = pytest.importorskip("safetensors.numpy")

WIDTHS = (8, 16, 16, 32)


def _torch():
    return pytest.importorskip("torch")


def _trained_vgg():
    model = vgg(widths=WIDTHS, generator=generator(0))
    model.train()(random_input((6, 1, 16, 16), seed=2, dtype=np.float32))
    return model.eval()


@pytest.mark.parametrize("save", ["safetensors.numpy.save_file", "save_safetensors"])
def test_minigrad_weights_load_into_the_torch_twin(tmp_path, save):
    torch = _torch()
    from safetensors.torch import load_file

    ours = _trained_vgg()
    path = tmp_path / "vgg.safetensors"
    if save == "save_safetensors":
        save_safetensors(ours.state_dict(), path)
    else:
        safetensors_numpy.save_file(ours.state_dict(), str(path))
    theirs = torch_vgg(widths=WIDTHS).eval()
    theirs.load_state_dict(load_file(path))  # strict: every key, num_batches_tracked too
    assert theirs[1].num_batches_tracked.dtype == torch.int64
    assert int(theirs[1].num_batches_tracked) == 1
    x = random_input((3, 1, 16, 16), seed=5, dtype=np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x))
    assert_close("torch twin logits", ours(x), expected, np.float32)


def test_torch_weights_load_into_minigrad(tmp_path):
    torch = _torch()
    from safetensors.torch import save_file

    torch.manual_seed(0)
    theirs = torch_seed_net().eval()
    path = tmp_path / "seed.safetensors"
    save_file(theirs.state_dict(), path)
    state = safetensors_numpy.load_file(str(path))
    assert {k: v.shape for k, v in state.items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours = seed_net().eval()
    ours.load_state_dict(state)
    x = random_input((4, 1, 28, 28), seed=1, dtype=np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x))
    assert_close("seed net logits", ours(x), expected, np.float32)


def test_minigrad_round_trip_keeps_values_dtypes_and_zero_dim_buffers(tmp_path):
    state = _trained_vgg().double().state_dict()
    path = tmp_path / "vgg.safetensors"
    save_safetensors(state, path, metadata={"format": "minigrad"})
    back = safetensors_numpy.load_file(str(path))
    assert set(back) == set(state)
    for key, value in state.items():
        assert back[key].dtype == value.dtype and back[key].shape == value.shape, key
        np.testing.assert_array_equal(back[key], value, err_msg=key)


def test_views_read_from_a_torch_file_are_saved_with_their_logical_values(tmp_path):
    torch = _torch()
    weight = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    torch.save({"w_t": weight.t(), "cols": weight[:, ::2]}, tmp_path / "views.pt")
    state = load_torch_state_dict(tmp_path / "views.pt")
    assert not state["w_t"].flags.c_contiguous
    save_safetensors(state, tmp_path / "views.safetensors")
    back = safetensors_numpy.load_file(str(tmp_path / "views.safetensors"))
    np.testing.assert_array_equal(back["w_t"], weight.t().numpy())
    np.testing.assert_array_equal(back["cols"], weight[:, ::2].numpy())


def test_save_safetensors_refuses_a_non_array_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(TypeError, match="entry 'epoch' must map a str to an ndarray, got a int"):
        save_safetensors({"w": np.zeros(2, np.float32), "epoch": 3}, path)
    assert list(tmp_path.iterdir()) == []
