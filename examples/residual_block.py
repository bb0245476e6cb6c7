"""Write a block with a skip connection, forward and backward side by side, and train it.

    python examples/residual_block.py [--epochs 5]

ResidualBlock is torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + x), with
one ReLU module called twice, as torchvision's is. There is no autograd: the block writes
its backward as its forward read backwards. Each child's backward is called once per
forward call, in reverse order, so the ReLU's second use gets its backward first; the skip
path's gradient is added to the main path's. minigrad.testing.gradcheck checks the block
against finite differences (train and eval mode), then a small residual network learns to
tell the orientation of noisy stripes (generated here: no download) through the Trainer.
"""

from __future__ import annotations

import argparse

import numpy as np

from minigrad import nn, optim
from minigrad.data import DataLoader
from minigrad.testing import gradcheck
from minigrad.train import Trainer


class ResidualBlock(nn.Module):
    """(N, C, H, W) -> (N, C, H, W): two 3x3 convolutions and an identity skip."""

    def __init__(self, channels: int, generator: np.random.Generator):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False, generator=generator)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()  # used twice: each call keeps its own context
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False, generator=generator)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self.relu(self.bn1(self.conv1(x)))   # relu, first use
        out = self.bn2(self.conv2(out))
        out += x                                   # the skip (in place: outputs are ours)
        return self.relu(out)                      # relu, second use

    def backward(self, dy: np.ndarray) -> np.ndarray:
        d_sum = self.relu.backward(dy)             # relu's second use first
        d_main = self.conv2.backward(self.bn2.backward(d_sum))
        d_main = self.conv1.backward(self.bn1.backward(self.relu.backward(d_main)))
        return d_main + d_sum                      # main path + skip path


class ResidualNet(nn.Module):
    """(N, 1, 8, 8) -> (N, 3) logits: a stem, two residual blocks, global average pooling."""

    def __init__(self, channels: int = 8, generator: np.random.Generator | None = None):
        super().__init__()
        g = np.random.default_rng(0) if generator is None else generator
        self.stem = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1, bias=False, generator=g),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.blocks = nn.ModuleList([ResidualBlock(channels, g) for _ in range(2)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(channels, 3, generator=g))

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self.head.backward(dy)
        for block in reversed(self.blocks):
            dy = block.backward(dy)
        return self.stem.backward(dy)


def stripes(n: int, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(n, 1, 8, 8) float32 images of horizontal (0), vertical (1) or checkerboard (2)
    stripes (+-1) of random phase under Gaussian noise of std 2."""
    rows, cols = np.mgrid[0:8, 0:8]
    patterns = np.stack([rows % 2, cols % 2, (rows + cols) % 2]).astype(np.float32)
    labels = generator.integers(0, 3, n)
    flip = generator.integers(0, 2, n)[:, None, None]
    images = np.abs(patterns[labels] - flip) * 2 - 1
    images = images + 2 * generator.standard_normal(images.shape)
    return images[:, None].astype(np.float32), labels


def check_gradients() -> None:
    block = ResidualBlock(2, np.random.default_rng(1)).double()
    x = np.random.default_rng(2).standard_normal((3, 2, 4, 4))
    for mode in ("train", "eval"):
        getattr(block, mode)()
        gradcheck(block, x)
        print(f"gradcheck passed ({mode} mode): {type(block).__name__}, relu used twice")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    check_gradients()

    g = np.random.default_rng(0)
    x_train, y_train = stripes(2000, g)
    x_val, y_val = stripes(500, g)
    model = ResidualNet(generator=g)
    print(model)
    print(f"{model.num_parameters():,} parameters; keys such as",
          ", ".join(list(model.state_dict())[5:8]))
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.003),
                      seed=0)
    history = trainer.fit(DataLoader(x_train, y_train, 64, seed=0),
                          DataLoader(x_val, y_val, 250, shuffle=False), epochs=args.epochs)
    print(f"train loss {history['train_loss'][0]:.3f} -> {history['train_loss'][-1]:.3f}, "
          f"best validation accuracy {max(history['val_acc']):.3f}")


if __name__ == "__main__":
    main()
