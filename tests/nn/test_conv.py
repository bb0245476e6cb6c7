import numpy as np
import pytest

from minigrad import nn
from minigrad.nn import conv_winograd
from minigrad.testing import gradcheck
from tests.nn.cases import generator, random_input
from tests.parity import assert_torch_parity

# (C_in, C_out, kernel, stride, padding, bias, input shape)
CASES = [
    (1, 2, 5, 1, 0, True, (3, 1, 12, 12)),
    (3, 4, 3, 2, 1, True, (1, 3, 9, 7)),           # batch 1, odd sizes, stride 2
    (2, 5, (3, 2), (1, 2), (2, 1), False, (2, 2, 7, 8)),  # non-square, padding 2, no bias
    (4, 3, 5, 1, 0, True, (2, 4, 5, 5)),           # kernel as large as the input
    (3, 8, 3, 1, 1, True, (2, 3, 6, 6)),           # C_in != C_out, padding 1
    (2, 2, 1, 1, 0, True, (2, 2, 5, 3)),           # 1x1
]
IDS = [f"case{i}" for i in range(len(CASES))]
# Winograd needs 3x3, stride 1, padding <= 2; odd outputs leave half-empty tiles
WINOGRAD_CASES = [
    (3, 8, 3, 1, 1, True, (2, 3, 6, 6)),
    (2, 3, 3, 1, 0, True, (1, 2, 7, 9)),           # odd output 5x7, batch 1
    (4, 2, 3, 1, (2, 1), False, (3, 4, 5, 6)),     # padding (2, 1), no bias
    (3, 3, 3, 1, 2, True, (2, 3, 3, 3)),           # input as small as the kernel, padding 2
    (2, 4, 3, 1, 1, True, (2, 2, 1, 1)),           # 1x1 input
]
ALL_CASES = [(case, algorithm) for case in CASES for algorithm in ("im2col", "direct")] + [
    (case, "winograd") for case in WINOGRAD_CASES]
ALL_IDS = [f"{algorithm}-{i}" for i, (_, algorithm) in enumerate(ALL_CASES)]


def make(case, algorithm, seed=0):
    c_in, c_out, k, s, p, bias, _ = case
    return nn.Conv2d(c_in, c_out, k, stride=s, padding=p, bias=bias, algorithm=algorithm,
                     generator=generator(seed))


def torch_twin(case):
    from torch import nn as tnn

    c_in, c_out, k, s, p, bias, _ = case
    return tnn.Conv2d(c_in, c_out, k, stride=s, padding=p, bias=bias)


@pytest.mark.parametrize(("case", "algorithm"), ALL_CASES, ids=ALL_IDS)
def test_conv2d_gradients_match_finite_differences(case, algorithm):
    x = random_input(case[-1])
    assert gradcheck(make(case, algorithm).double(), x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("case", "algorithm"), ALL_CASES, ids=ALL_IDS)
def test_conv2d_matches_torch(case, algorithm, dtype):
    pytest.importorskip("torch")
    assert_torch_parity(make(case, algorithm), torch_twin(case), random_input(case[-1]), dtype)


def test_conv2d_chunked_im2col_matches_torch(monkeypatch):
    pytest.importorskip("torch")
    case = (3, 4, 3, 1, 1, True, (7, 3, 6, 6))
    conv = make(case, "im2col")
    # 27 column entries and their gradient * 36 output positions * 8 bytes per sample:
    # 2 samples a chunk
    conv.scratch_bytes = 2 * (2 * 27) * 36 * 8
    assert conv._im2col_chunk_size(random_input(case[-1]), 6, 6) == 2
    assert_torch_parity(conv, torch_twin(case), random_input(case[-1]))


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_chunked_winograd_matches_torch(train, dtype):
    """Several chunks (the last one short) with odd sides, in train mode (one chunk's
    transformed input would be kept) and eval mode."""
    pytest.importorskip("torch")
    case = (4, 5, 3, 1, 1, True, (7, 4, 23, 21))  # 36 tiles a sample: planes over 4 KiB
    conv = make(case, "winograd")
    conv.scratch_bytes = (conv_winograd.fixed_bytes(4, 5, 8)
                          + conv_winograd.chunk_bytes(4, 5, (23, 21), 3, 8))
    assert conv._winograd_chunk_size(case[-1], 8) == 3
    assert_torch_parity(conv, torch_twin(case), random_input(case[-1]), dtype, train=train)


def test_conv2d_winograd_keeps_transformed_tiles_only_for_a_single_training_chunk():
    """Training keeps the transformed weights, and the transformed input when the batch is
    one chunk, for backward; eval mode and no_grad keep neither (backward recomputes)."""
    import minigrad

    conv = nn.Conv2d(4, 4, 3, padding=1, algorithm="winograd").double()
    x = random_input((2, 4, 6, 6))
    conv(x)
    (_, shape, x_last, (u, v, _)), = conv._saved
    assert shape == x.shape and u.shape == (36, 4, 4) and v.shape == (36, 2 * 4, 4)
    np.testing.assert_array_equal(x_last, x.transpose(0, 2, 3, 1))
    conv.eval()(x)
    assert conv._saved[-1][3] is None
    conv.train().scratch_bytes = 1  # one sample a chunk
    conv(x)
    assert conv._saved[-1][3][1] is None
    conv.clear_saved()
    with minigrad.no_grad():
        conv(x)
    assert conv.pending_forwards() == 0


def test_conv2d_winograd_copies_an_nchw_input_one_chunk_at_a_time():
    """No channels-last copy of the whole batch, of the input or of an NCHW output gradient:
    the saved input is x itself, and forward and backward stay within scratch_bytes (a
    chunk's copies included) beyond their result."""
    import tracemalloc

    from minigrad.nn import workspace

    conv = nn.Conv2d(8, 8, 3, padding=1, algorithm="winograd").double()
    x = random_input((16, 8, 12, 12))  # NCHW memory
    per_sample_copy = 8 * 12 * 12 * 8
    conv.scratch_bytes = (conv_winograd.fixed_bytes(8, 8, 8) + 2 * 2 * per_sample_copy
                          + conv_winograd.chunk_bytes(8, 8, (12, 12), 2, 8))
    assert conv._winograd_chunk_size(x.shape, 8, False, False) == 2

    def peak_beyond_result(call):
        workspace.release()
        tracemalloc.start()
        try:
            result = call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return peak - result.nbytes

    conv.backward(np.ones_like(conv(x)))  # compiled and warm: only the arrays are traced
    assert peak_beyond_result(lambda: conv(x)) <= conv.scratch_bytes
    conv.clear_saved()
    y = conv(x)
    assert np.shares_memory(conv._saved[-1][2], x)  # the input itself, not a copy
    dy = random_input(y.shape, seed=1)  # NCHW memory too: copied a chunk at a time
    dx_peak = peak_beyond_result(lambda: conv.backward(dy))
    assert dx_peak <= conv.scratch_bytes + 4096  # + the float64 bias sums and small arrays
    conv(x)
    dx = conv.backward(dy)
    reference = nn.Conv2d(8, 8, 3, padding=1, algorithm="im2col").double()
    reference.load_state_dict(conv.state_dict())
    np.testing.assert_allclose(y, reference(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, reference.backward(dy), rtol=1e-12, atol=1e-12)


def test_conv2d_winograd_returns_channels_last_memory_under_the_nchw_shape():
    conv = nn.Conv2d(4, 6, 3, padding=1, algorithm="winograd").double()
    x = random_input((2, 4, 6, 5))
    y = conv(x)
    assert y.shape == (2, 6, 6, 5) and y.transpose(0, 2, 3, 1).flags.c_contiguous
    dx = conv.backward(np.ones_like(y))
    assert dx.shape == x.shape and dx.transpose(0, 2, 3, 1).flags.c_contiguous
    reference = nn.Conv2d(4, 6, 3, padding=1, algorithm="im2col").double()
    reference.load_state_dict(conv.state_dict())
    np.testing.assert_allclose(y, reference(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, reference.backward(np.ones_like(y)), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("algorithm", ["im2col", "winograd"])
def test_conv2d_backward_recomputes_when_scratch_shrank_after_forward(algorithm):
    """Columns or tiles kept by a one-chunk forward are not reused by a chunked backward."""
    pytest.importorskip("torch")
    case = (3, 4, 3, 1, 1, True, (5, 3, 6, 6))
    conv, twin = make(case, algorithm), torch_twin(case)

    class Shrinking(type(conv)):
        def backward(self, dy):
            self.scratch_bytes = 1  # one sample per chunk from here on
            return super().backward(dy)

    conv.__class__ = Shrinking
    assert_torch_parity(conv, twin, random_input(case[-1]))


def test_conv2d_chunks_whole_batch_if_it_fits_else_cache_sized_but_not_skinny():
    conv = nn.Conv2d(8, 8, 3, padding=1)
    x = np.zeros((16, 8, 10, 10), np.float32)
    per_sample = 2 * 72 * 100 * 4
    conv.scratch_bytes = 16 * per_sample
    assert conv._im2col_chunk_size(x, 10, 10) == 16  # fits: one chunk, columns kept for backward
    conv.scratch_bytes, conv.chunk_bytes = 15 * per_sample, 3 * per_sample
    assert conv._im2col_chunk_size(x, 10, 10) == 8  # 3 fit the cache, but 768 columns need 8
    conv.MIN_GEMM_COLUMNS = 100
    assert conv._im2col_chunk_size(x, 10, 10) == 3
    conv.scratch_bytes = 2 * per_sample
    assert conv._im2col_chunk_size(x, 10, 10) == 2  # the hard bound wins


def test_conv2d_auto_picks_direct_for_few_channels_then_winograd_where_it_applies():
    assert nn.Conv2d(1, 2, 5).chosen_algorithm() == "direct"
    assert nn.Conv2d(64, 128, 3, padding=1).chosen_algorithm() == "winograd"
    assert nn.Conv2d(8, 128, 3, padding=1).chosen_algorithm() == "im2col"  # too few channels
    assert nn.Conv2d(128, 256, 3, stride=2).chosen_algorithm() == "im2col"
    assert nn.Conv2d(64, 128, 5).chosen_algorithm() == "im2col"
    assert nn.Conv2d(64, 128, 3, padding=3).chosen_algorithm() == "im2col"


def test_conv2d_rejects_winograd_where_it_does_not_apply():
    with pytest.raises(ValueError, match=r"winograd.*kernel_size=3.*got kernel_size=\(5, 5\)"):
        nn.Conv2d(2, 2, 5, algorithm="winograd")
    with pytest.raises(ValueError, match=r"winograd.*stride=\(2, 2\)"):
        nn.Conv2d(2, 2, 3, stride=2, algorithm="winograd")


@pytest.mark.parametrize("algorithm", ["im2col", "winograd", "direct"])
def test_conv2d_empty_batch_gives_empty_output_and_zero_gradients(algorithm):
    conv = nn.Conv2d(3, 4, 3, padding=1, algorithm=algorithm)
    y = conv(np.zeros((0, 3, 6, 5), np.float32))
    assert y.shape == (0, 4, 6, 5) and y.dtype == np.float32
    dx = conv.backward(np.zeros_like(y))
    assert dx.shape == (0, 3, 6, 5)
    assert not conv.weight.grad.any() and not conv.bias.grad.any()


def test_conv2d_default_init_has_torch_bounds():
    conv = nn.Conv2d(16, 32, 3, generator=generator())
    bound = 1 / np.sqrt(16 * 9)
    assert conv.weight.data.dtype == np.float32
    assert np.abs(conv.weight.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.95 * bound
    assert np.abs(conv.bias.data).max() <= bound


def test_conv2d_keeps_float32():
    conv = nn.Conv2d(2, 3, 3)
    y = conv(random_input((2, 2, 5, 5), dtype=np.float32))
    dx = conv.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == conv.weight.grad.dtype == np.float32


def test_conv2d_errors_name_layer_and_shapes():
    conv = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*\(N, 3, H, W\).*\(2, 1, 5, 5\)"):
        conv(random_input((2, 1, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="smaller than"):
        conv(random_input((1, 3, 2, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="float32 parameters but got float64"):
        conv(random_input((1, 3, 5, 5)))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.Conv2d(1, 1, 1).backward(np.ones((1, 1, 1, 1), np.float32))
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        nn.Conv2d(1, 1, "3")


def test_conv2d_repr_matches_torch():
    assert repr(nn.Conv2d(1, 2, 5)) == "Conv2d(1, 2, kernel_size=(5, 5), stride=(1, 1))"
    assert repr(nn.Conv2d(3, 8, 3, 2, 1, bias=False)) == (
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)")


def test_conv2d_rejects_bad_channel_counts_and_bias():
    with pytest.raises(ValueError, match="Conv2d: in_channels must be an int >= 1, got 0"):
        nn.Conv2d(0, 2, 3)
    with pytest.raises(TypeError, match="Conv2d: out_channels must be an int >= 1, got 2.0"):
        nn.Conv2d(1, 2.0, 3)
    with pytest.raises(TypeError, match="Conv2d: bias must be True or False, got 'False'"):
        nn.Conv2d(1, 2, 3, bias="False")


# A ResNet's downsampling: a 3x3 stride-2 convolution and the 1x1 stride-2 shortcut, both
# without bias, and a 1x1 stride-1 (a GEMM on the input itself), on odd sides
RESNET_CASES = [
    (4, 6, 3, 2, 1, False, (3, 4, 9, 7)),
    (4, 6, 1, 2, 0, False, (3, 4, 9, 7)),
    (5, 3, 1, 1, 0, True, (2, 5, 4, 3)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", RESNET_CASES, ids=["3x3-s2", "1x1-s2", "1x1-s1"])
def test_conv2d_resnet_downsampling_and_pointwise_convolutions_match_torch(case, dtype):
    pytest.importorskip("torch")
    assert_torch_parity(make(case, "im2col"), torch_twin(case), random_input(case[-1]), dtype)
    assert gradcheck(make(case, "im2col").double(), random_input(case[-1]))


def test_conv2d_winograd_at_a_real_width_matches_torch_in_float32():
    """F(4x4, 3x3)'s float32 error grows with the channels summed (about 1e-5 of the
    output's scale at 512 channels, docs/design.md): still within the parity tolerance."""
    pytest.importorskip("torch")
    case = (128, 128, 3, 1, 1, True, (2, 128, 14, 14))
    assert_torch_parity(make(case, "winograd"), torch_twin(case), random_input(case[-1]),
                        np.float32)


def test_conv2d_winograd_eval_mode_reuses_transformed_weights_until_any_weight_changes():
    conv = nn.Conv2d(3, 4, 3, padding=1, algorithm="winograd", generator=generator()).double()
    reference = nn.Conv2d(3, 4, 3, padding=1, algorithm="im2col").double()
    x = random_input((2, 3, 5, 5))
    conv.eval()(x)
    first = conv._eval_weights.u
    conv(x)
    assert conv._eval_weights.u is first
    conv.weight.data[1, 2, 0, 1] += 1e-9  # one weight, changed in place
    y = conv(x)
    assert conv._eval_weights.u is not first
    reference.load_state_dict(conv.state_dict())
    np.testing.assert_allclose(y, reference(x), rtol=1e-12, atol=1e-12)
    conv.train()(x)
    assert conv._eval_weights.u is None  # training drops it
