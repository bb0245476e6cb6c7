"""Train ResNet-20 (He et al. 2016) on Fashion-MNIST or CIFAR-10 through the Trainer.

    python examples/resnet.py --dataset fashion-mnist                  # 28x28 grey images
    python examples/resnet.py --dataset cifar10                        # 32x32 colour images
    python examples/resnet.py --dataset cifar10 --subset 1000 --epochs 2   # a quick look

The network: ``minigrad.models.resnet20``, a 3x3 convolution to 16 channels, three stages
of three residual blocks at 16, 32 and 64 channels with parameter-free (option A)
shortcuts, global average pooling and a linear classifier: 269,722 parameters at 10
classes (the first convolution has 1 or 3 input channels).
The recipe: a seeded 4:1 split of the training images into train and validation; pad and
random crop (4 pixels for CIFAR-10, 2 for Fashion-MNIST) and a random horizontal flip per
sample; SGD with momentum 0.9, lr 0.1, weight decay 1e-4 and batch 128 (the paper's), the
lr annealed by a cosine over the run (or divided by 10 at 50% and 75% of it); the best
validation epoch's checkpoint evaluated once on the test images at the end.

CIFAR-10: the official files (``<data root>/cifar10/``) when present; else the partial set
``<data root>/cifar10-partial/cifar10_partial.npz`` (the first 4,000 training and 1,000
test images of the official files), which the output then names as what it is.

Writes into --out (default runs/resnet20-<dataset>-<timestamp>/): history.json, best.npz
(the best checkpoint), last.npz (for --resume), curves.png and summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from minigrad import checkpoint, nn, optim
from minigrad.data import DataLoader, load_cifar10, load_fashion_mnist, random_split
from minigrad.data.files import resolve_root
from minigrad.data.transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    ToFloat,
)
from minigrad.fileio import atomic_write
from minigrad.models import resnet20
from minigrad.optim.lr_scheduler import CosineAnnealingLR, MultiStepLR
from minigrad.plot import plot_history
from minigrad.train import ModelCheckpoint, Trainer

# Per-channel means and standard deviations of the official training images, in [0, 1]
STATISTICS = {"fashion-mnist": ((0.2860,), (0.3530,)),
              "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))}
CROP_PADDING = {"fashion-mnist": 2, "cifar10": 4}
PARTIAL_CIFAR = Path("cifar10-partial") / "cifar10_partial.npz"
PARTIAL_MAX_BYTES = 64 * 2**20  # the partial set is ~15 MB; refuse anything far larger


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=sorted(STATISTICS), default="fashion-mnist")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", choices=["cosine", "multistep"], default="cosine")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None,
                   help="data root (default: $MINIGRAD_DATA, else ~/.cache/minigrad)")
    p.add_argument("--out", default=None,
                   help="output folder (default runs/resnet20-<dataset>-<timestamp>)")
    p.add_argument("--subset", type=int, default=None,
                   help="use only the first N training images (split 4:1 as usual)")
    p.add_argument("--test-subset", type=int, default=None,
                   help="evaluate only the first N test images")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    args = p.parse_args(argv)
    if args.resume and args.out is None:
        p.error("--resume needs --out, the folder of the run to continue")
    for name in ("subset", "test_subset"):
        value = getattr(args, name)
        if value is not None and value < 10:
            p.error(f"--{name.replace('_', '-')} must be at least 10 images, got {value}")
    if args.epochs < 1 or args.batch_size < 1:
        p.error(f"--epochs and --batch-size must be >= 1, got {args.epochs}, {args.batch_size}")
    return args


def load_partial_cifar10(path: Path) -> tuple[np.ndarray, ...]:
    """The partial CIFAR-10 set: uint8 (n, 3, 32, 32) images, int64 labels in [0, 10)."""
    if path.stat().st_size > PARTIAL_MAX_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size:,} bytes, more than the partial set's "
                         f"{PARTIAL_MAX_BYTES:,}-byte bound")
    with np.load(path, allow_pickle=False) as npz:
        arrays = [npz[name] for name in ("x_train", "y_train", "x_test", "y_test")]
    for x, y in (arrays[0:2], arrays[2:4]):
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or y.shape != (len(x),) \
                or not np.isin(y, np.arange(10)).all():
            raise ValueError(f"{path}: expected uint8 (n, 3072) images and n labels in "
                             f"[0, 10), got {x.dtype} {x.shape} and {y.shape}")
    x_train, y_train, x_test, y_test = arrays
    return (x_train.reshape(-1, 3, 32, 32), y_train.astype(np.int64),
            x_test.reshape(-1, 3, 32, 32), y_test.astype(np.int64))


def load_data(dataset: str, root) -> tuple[tuple[np.ndarray, ...], str]:
    """(x_train, y_train, x_test, y_test) and a sentence saying what they are."""
    if dataset == "fashion-mnist":
        return load_fashion_mnist(root), "Fashion-MNIST (official files)"
    try:
        return load_cifar10(root, download=False), "CIFAR-10 (official files)"
    except FileNotFoundError:
        partial = resolve_root(root)[0] / PARTIAL_CIFAR
        if not partial.is_file():
            return load_cifar10(root), "CIFAR-10 (official files, downloaded)"
    arrays = load_partial_cifar10(partial)
    return arrays, (f"CIFAR-10 PARTIAL SET, not the full data set: the first {len(arrays[0]):,} "
                    f"training and {len(arrays[2]):,} test images of the official files "
                    f"({partial})")


def transforms(dataset: str, size: int) -> tuple[Compose, Compose]:
    """(training, evaluation) transforms: crop and flip per sample, then normalisation."""
    normalise = [ToFloat(), Normalize(*STATISTICS[dataset])]
    train = Compose([RandomCrop(size, padding=CROP_PADDING[dataset]), RandomHorizontalFlip(),
                     *normalise])
    return train, Compose(normalise)


def build_trainer(args: argparse.Namespace, in_channels: int, out: str) -> Trainer:
    model = resnet20(num_classes=10, in_channels=in_channels,
                     generator=np.random.default_rng(args.seed))
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    if args.schedule == "cosine":
        scheduler = CosineAnnealingLR(optimizer, T_max=args.epochs)
    else:  # He et al.: /10 at 32k and 48k of 64k iterations
        milestones = [max(1, args.epochs // 2), max(1, args.epochs * 3 // 4)]
        scheduler = MultiStepLR(optimizer, milestones, 0.1)
    callbacks = [
        ModelCheckpoint(os.path.join(out, "best.npz"), monitor="val_acc", mode="max"),
        ModelCheckpoint(os.path.join(out, "last.npz"), monitor="val_acc", mode="max",
                        save_best_only=False),
    ]
    return Trainer(model, nn.CrossEntropyLoss(), optimizer, scheduler, callbacks=callbacks,
                   seed=args.seed)


def print_summary(model: nn.Module) -> None:
    """Parameters per top-level part of the network (``print(model)`` shows it all)."""
    print(f"{'part':<44}{'parameters':>12}")
    for name, part in model.named_children():
        count = sum(p.data.size for p in part.parameters())
        print(f"{name + ': ' + type(part).__name__:<44}{count:>12,}")
    print(f"{'total':<44}{model.num_parameters():>12,}\n")


def report(rows: dict) -> str:
    width = max(len(k) for k in rows)
    return "\n".join(f"| {key:<{width}} | {value:>12} |" for key, value in rows.items())


def main(argv=None) -> int:
    args = parse_args(argv)
    out = args.out or os.path.join(
        "runs", time.strftime(f"resnet20-{args.dataset}-%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)

    (x, y, x_test, y_test), description = load_data(args.dataset, args.data_dir)
    x, y = x[:args.subset], y[:args.subset]
    x_test, y_test = x_test[:args.test_subset], y_test[:args.test_subset]
    (x_train, y_train), (x_val, y_val) = random_split((x, y), (0.8, 0.2), seed=args.seed)
    train_transform, eval_transform = transforms(args.dataset, x.shape[-1])
    train = DataLoader(x_train, y_train, args.batch_size, transform=train_transform,
                       seed=args.seed)
    val = DataLoader(x_val, y_val, 512, shuffle=False, transform=eval_transform)
    print(f"{description}\n{len(x_train):,} train / {len(x_val):,} validation "
          f"(seed {args.seed}), {len(x_test):,} test held out\n")

    trainer = build_trainer(args, x.shape[1], out)
    print_summary(trainer.model)
    start = time.perf_counter()
    history = trainer.fit(train, val, epochs=args.epochs,
                          resume_from=os.path.join(out, "last.npz") if args.resume else None)
    wall = time.perf_counter() - start
    if history.epochs == 0:
        print(f"\nno epoch completed ({history.stop_reason}); nothing written to {out}/",
              file=sys.stderr)
        return 1

    # The test images are evaluated once, on the best validation epoch's weights.
    checkpoint.load(os.path.join(out, "best.npz"), model=trainer.model)
    test = trainer.evaluate(DataLoader(x_test, y_test, 512, shuffle=False,
                                       transform=eval_transform))
    best = history.best_epoch
    train_seconds = float(np.sum(history["epoch_time"]))
    summary = {
        "model": "resnet20", "parameters": trainer.model.num_parameters(),
        "data": description, "settings": vars(args), "best_epoch": best,
        "best_val_acc": history["val_acc"][best - 1], "test_acc": test["acc"],
        "test_loss": test["loss"], "epochs_run": history.epochs, "wall_seconds": wall,
        "train_seconds": train_seconds, "seconds_per_epoch": train_seconds / history.epochs,
        "images_per_second": history.epochs * len(x_train) / train_seconds,
        "n_train": len(x_train), "n_val": len(x_val), "n_test": len(x_test),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }
    history.to_json(os.path.join(out, "history.json"))
    plot_history(history, os.path.join(out, "curves.png"))
    with atomic_write(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)

    print()
    print(report({
        "best epoch": f"{best}",
        "best validation accuracy": f"{100 * summary['best_val_acc']:.2f}%",
        "test accuracy": f"{100 * test['acc']:.2f}%",
        "epochs run": f"{history.epochs}",
        "total time": f"{wall:.1f} s",
        "time per epoch": f"{summary['seconds_per_epoch']:.1f} s",
        "images / second": f"{summary['images_per_second']:,.0f}",
    }))
    print(f"\nwrote {out}/: history.json, best.npz, last.npz, curves.png, summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
