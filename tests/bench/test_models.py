"""The benchmark's torch twins: the keys, shapes and outputs of their minigrad networks."""

import numpy as np
import pytest

from minigrad.models import resnet18, resnet20

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
from minigrad_bench.models import torch_resnet18_small, torch_resnet20  # noqa: E402


@pytest.mark.parametrize("ours, theirs", [
    (lambda: resnet20(10, generator=np.random.default_rng(0)), torch_resnet20),
    (lambda: resnet18(10, small_input=True, generator=np.random.default_rng(0)),
     torch_resnet18_small),
])
def test_resnet_twins_take_the_minigrad_weights_and_give_its_outputs(ours, theirs):
    ours, theirs = ours(), theirs()
    state = ours.state_dict()
    assert {k: v.shape for k, v in state.items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(x), expected, rtol=1e-4, atol=1e-4)
