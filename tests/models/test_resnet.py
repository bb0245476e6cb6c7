"""ResNet-18/34/50 against torchvision: keys, counts, repr, loaded weights, gradients."""

import numpy as np
import pytest

from minigrad import nn
from minigrad.models import BasicBlock, Bottleneck, resnet18, resnet34, resnet50
from minigrad.models.resnet import conv1x1
from minigrad.testing import gradcheck
from tests.models.helpers import assert_same_structure, assert_same_weights
from tests.nn.cases import random_input
from tests.parity import assert_torch_parity

# torchvision's published parameter counts (its model documentation, 1000 classes)
PUBLISHED_PARAMETERS = {resnet18: 11_689_512, resnet34: 21_797_672, resnet50: 25_557_032}


def torchvision_twin(name, **kwargs):
    torchvision = pytest.importorskip("torchvision")
    return getattr(torchvision.models, name)(**kwargs)


def small_input_twin(name, num_classes):
    """torchvision's model with the usual 32x32 stem: 3x3 stride-1 conv1, no max-pool."""
    torch = pytest.importorskip("torch")
    model = torchvision_twin(name, num_classes=num_classes)
    model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model


@pytest.mark.parametrize("builder", [resnet18, resnet34, resnet50])
def test_parameter_count_is_torchvisions_published_number(builder):
    assert builder(generator=np.random.default_rng(0)).num_parameters() == \
        PUBLISHED_PARAMETERS[builder]


@pytest.mark.parametrize("builder", [resnet18, resnet34, resnet50])
def test_keys_shapes_count_and_repr_equal_torchvision(builder):
    ours = builder(num_classes=10, generator=np.random.default_rng(0))
    assert_same_structure(ours, torchvision_twin(builder.__name__, num_classes=10))


def test_small_input_changes_only_the_stem():
    ours = resnet18(num_classes=10, small_input=True, generator=np.random.default_rng(0))
    assert ours.conv1.kernel_size == (3, 3) and ours.conv1.stride == (1, 1)
    assert isinstance(ours.maxpool, nn.Identity)
    assert_same_structure(ours, small_input_twin("resnet18", 10))
    standard = resnet18(num_classes=10, generator=np.random.default_rng(0)).state_dict()
    assert list(ours.state_dict()) == list(standard)


def torchvision_state_with_running_statistics(model):
    """A torchvision model after two training-mode forwards: non-trivial BatchNorm buffers."""
    import torch

    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 32, 32, generator=generator))
    return model.state_dict()


@pytest.mark.parametrize("train", [True, False])
def test_torchvision_resnet18_state_loads_as_is_and_matches_torch(train):
    theirs = torchvision_twin("resnet18", num_classes=10)
    state = torchvision_state_with_running_statistics(theirs)
    ours = resnet18(num_classes=10, generator=np.random.default_rng(0))
    ours.load_state_dict(state)  # torch tensors, exactly as torchvision returns them
    for key, value in state.items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy(), err_msg=key)
    # outputs, dL/dx, every parameter gradient and every BatchNorm buffer, in float64
    # 4 x 64x64 through the standard stem: layer4 sees 2x2 maps, 16 values per BatchNorm
    # channel. (At 2 x 32x32 it sees two values per channel: train-mode BatchNorm of two
    # values is so ill-conditioned that the float64 dL/dx of the two frameworks parted by
    # 1e-6 relative as soon as OMP_NUM_THREADS was set, to 1 or to 2.)
    assert_torch_parity(ours, theirs, random_input((4, 3, 64, 64)), np.float64, train=train)


def test_small_input_resnet18_matches_torch():
    ours = resnet18(num_classes=10, small_input=True, generator=np.random.default_rng(1))
    assert_torch_parity(ours, small_input_twin("resnet18", 10), random_input((2, 3, 16, 16)),
                        np.float64, train=True)


def test_resnet50_bottlenecks_match_torch():
    """Training mode (the eval-mode path of the same layers: the resnet18 test)."""
    theirs = torchvision_twin("resnet50", num_classes=10)
    ours = resnet50(num_classes=10, generator=np.random.default_rng(0))
    # batch 4: layer4's 1x1 maps give each BatchNorm channel 4 values (with 2, a channel
    # whose two values nearly coincide amplifies float64 rounding past 1e-10)
    assert_torch_parity(ours, theirs, random_input((4, 3, 32, 32)), np.float64, train=True)


def test_float32_stays_float32_through_forward_and_backward():
    model = resnet18(num_classes=10, small_input=True, generator=np.random.default_rng(0))
    y = model(random_input((2, 3, 8, 8), dtype=np.float32))
    dx = model.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_float64_builds_float64_parameters_and_buffers():
    model = resnet18(generator=np.random.default_rng(0), dtype=np.float64)
    assert {v.dtype for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")} == {np.dtype(np.float64)}


def test_same_generator_seed_gives_the_same_weights():
    assert_same_weights(resnet18(generator=np.random.default_rng(5)),
                        resnet18(generator=np.random.default_rng(5)))
    a = resnet18(generator=np.random.default_rng(5)).fc.weight.data
    assert not np.array_equal(a, resnet18(generator=np.random.default_rng(6)).fc.weight.data)


def test_initialisation_is_torchvisions():
    model = resnet50(generator=np.random.default_rng(0))
    conv = model.layer4[0].conv2.weight.data  # (512, 512, 3, 3): fan_out 4608
    assert conv.std() == pytest.approx(np.sqrt(2 / (512 * 9)), rel=0.01)
    assert abs(conv.mean()) < 1e-4
    for name, p in model.named_parameters():
        if ".bn" in name or name.startswith("bn") or ".downsample.1." in name:
            expected = 1.0 if name.endswith("weight") else 0.0
            assert np.all(p.data == expected), name
    bound = 1 / np.sqrt(2048)  # torch's Linear default: U(+-1/sqrt(fan_in)) for both
    assert np.abs(model.fc.weight.data).max() <= bound
    assert np.abs(model.fc.bias.data).max() <= bound


@pytest.mark.parametrize("builder, last_bn", [(resnet18, "bn2"), (resnet50, "bn3")])
def test_zero_init_residual_zeroes_each_blocks_last_batchnorm(builder, last_bn):
    model = builder(zero_init_residual=True, generator=np.random.default_rng(0))
    blocks = [m for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck))]
    assert len(blocks) == (8 if builder is resnet18 else 16)
    assert all(np.all(getattr(b, last_bn).weight.data == 0) for b in blocks)
    assert np.all(model.bn1.weight.data == 1)


def test_zero_init_residual_block_starts_as_relu_of_its_shortcut():
    block = BasicBlock(4, 4, generator=np.random.default_rng(0))
    nn.init.zeros_(block.bn2.weight)
    x = random_input((2, 4, 5, 5), dtype=np.float32)
    np.testing.assert_array_equal(block(x), np.maximum(x, 0))


def test_in_channels_sets_the_stems_input_width():
    model = resnet18(num_classes=7, in_channels=1, small_input=True,
                     generator=np.random.default_rng(0))
    assert model.conv1.weight.shape == (64, 1, 3, 3)
    assert model(random_input((2, 1, 8, 8), dtype=np.float32)).shape == (2, 7)


def downsampling_block(block_type, inplanes, planes, g):
    out = planes * block_type.expansion
    downsample = nn.Sequential(conv1x1(inplanes, out, 2, generator=g), nn.BatchNorm2d(out))
    return block_type(inplanes, planes, 2, downsample, generator=g).double()


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("block_type", [BasicBlock, Bottleneck])
def test_blocks_pass_finite_differences_with_and_without_downsample(block_type, train):
    g = np.random.default_rng(0)
    plain_width = 3 * block_type.expansion
    for block, x in [(downsampling_block(block_type, 2, 3, g), random_input((2, 2, 5, 5))),
                     (block_type(plain_width, 3, generator=g).double(),
                      random_input((2, plain_width, 4, 4)))]:
        block.train(train)
        if not train:
            block.train()(random_input(x.shape, seed=1))
            block.eval()
        assert gradcheck(block, x)


def test_backward_without_a_forward_names_the_module():
    model = resnet18(num_classes=10, small_input=True, generator=np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="Linear"):
        model.backward(np.ones((2, 10), np.float32))


def test_inference_loop_does_not_grow_the_kept_contexts():
    model = resnet18(num_classes=10, small_input=True, generator=np.random.default_rng(0))
    model.eval()

    def pending():
        return [m.pending_forwards() for m in model.modules()]

    model(random_input((2, 3, 8, 8), dtype=np.float32))
    after_one = pending()
    for seed in range(1, 4):
        model(random_input((2, 3, 8, 8), seed=seed, dtype=np.float32))
    assert pending() == after_one
    assert max(after_one) <= 2  # at most one per call of the latest forward (relu: two)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(num_classes=0), ValueError, "num_classes must be a positive int, got 0"),
    (dict(in_channels=2.5), ValueError, "in_channels must be a positive int, got 2.5"),
    (dict(generator=0), TypeError, "generator must be a numpy.random.Generator"),
    (dict(dtype=np.int32), TypeError, "float32 or float64"),
])
def test_bad_arguments_are_named(kwargs, error, words):
    with pytest.raises(error, match=words.replace(".", r"\.").replace("(", r"\(")):
        resnet18(**kwargs)


def test_wrong_input_channels_name_the_stem():
    model = resnet18(generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 64.*expected input of shape \(N, 3, H, W\)"):
        model(np.zeros((1, 1, 32, 32), np.float32))
