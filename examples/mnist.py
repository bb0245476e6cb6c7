"""Train the course project's numpy network on MNIST with its recipe, and report as it did.

    python examples/mnist.py                              # the reference recipe
    python examples/mnist.py --subset 3000 --epochs 2     # a quick look
    python examples/mnist.py --momentum 0.9 --lr 0.05     # a better recipe (docs/results.md)
    python examples/mnist.py --schedule onecycle --lr 0.1 --epochs 30   # one cycle (results.md)

The network: Conv2d(1, 2, 5) -> GELU -> Flatten -> Linear(1152, 256) -> GELU -> Dropout(0.3)
-> Linear(256, 10), softmax fused into the cross-entropy loss (predictions apply it).
The recipe: a seeded 4:1 split of the 60,000 training images, rotation (+-10 degrees) and
pad-2 random crop per sample, plain SGD with batch 512, learning rate halved after a
5-epoch plateau of validation accuracy, early stopping after 20, best weights restored,
and the 10,000 test images evaluated once at the end.

Writes into --out (default runs/mnist-<timestamp>/): history.json, best.npz (the best
checkpoint), last.npz (for --resume), curves.png and summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from minigrad import nn, optim
from minigrad.data import DataLoader, load_mnist, random_split, transforms
from minigrad.fileio import atomic_write
from minigrad.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau
from minigrad.plot import plot_history
from minigrad.train import EarlyStopping, ModelCheckpoint, Trainer

# The recipe's fixed knobs; the command line sets the others.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # pixel statistics of the 60,000 training images
ROTATION_DEGREES = 10.0  # each training image rotated by an angle uniform in +-10 degrees,
CROP_PADDING = 2  # then padded by 2 and cropped back to 28x28 at a random offset
DROPOUT = 0.3
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 5  # lr halved after 5 epochs without a better val_acc
EARLY_STOPPING_PATIENCE = 20  # stop after 20; longer than the plateau's, so the lr can drop


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=300,
                   help="upper bound on epochs; early stopping usually ends the run first")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd")
    p.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--schedule", choices=["plateau", "cosine", "onecycle"], default="plateau",
                   help="onecycle: OneCycleLR over --epochs, stepped per batch, peak lr --lr, "
                        "SGD momentum cycled 0.95 -> 0.85 -> 0.95 (so --momentum stays 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None,
                   help="folder holding mnist/ (default: $MINIGRAD_DATA, else ~/.cache/minigrad)")
    p.add_argument("--out", default=None, help="output folder (default runs/mnist-<timestamp>)")
    p.add_argument("--no-augment", action="store_true", help="no rotation / crop")
    p.add_argument("--subset", type=int, default=None,
                   help="use only the first N training images (split 4:1 as usual)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    args = p.parse_args(argv)
    if args.resume and args.out is None:
        p.error("--resume needs --out, the folder of the run to continue")
    if args.subset is not None and args.subset < 10:
        p.error(f"--subset must be at least 10 images, got {args.subset}")
    if args.schedule == "onecycle" and args.momentum != 0:
        p.error("--schedule onecycle sets the SGD momentum itself (0.95 -> 0.85 -> 0.95); "
                "leave --momentum at 0")
    return args


def build_loaders(x: np.ndarray, y: np.ndarray, args) -> tuple[DataLoader, DataLoader]:
    """The seeded 4:1 split of (x, y); training batches augmented per sample, both normalised."""
    normalise = [transforms.ToFloat(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))]
    augment = [] if args.no_augment else [transforms.RandomRotation(ROTATION_DEGREES),
                                          transforms.RandomCrop(28, padding=CROP_PADDING)]
    train_idx, val_idx = random_split(len(x), fractions=(0.8, 0.2), seed=args.seed)
    train = DataLoader(x[train_idx], y[train_idx], args.batch_size, shuffle=True,
                       transform=transforms.Compose([*augment, *normalise]), seed=args.seed)
    val = DataLoader(x[val_idx], y[val_idx], args.batch_size, shuffle=False,
                     transform=transforms.Compose(normalise))
    return train, val


def build_trainer(args, checkpoints=(), steps_per_epoch: int | None = None) -> Trainer:
    """The network, its optimizer and lr schedule, and early stopping on val_acc.

    ``steps_per_epoch`` (the training loader's length) sizes the one-cycle schedule.
    """
    g = np.random.default_rng(args.seed)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 5, generator=g), nn.GELU(), nn.Flatten(),  # (N, 1, 28, 28) -> (N, 1152)
        nn.Linear(1152, 256, generator=g), nn.GELU(), nn.Dropout(DROPOUT),
        nn.Linear(256, 10, generator=g),  # logits: the softmax lives in the loss
    )
    if args.optimizer == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                              weight_decay=args.weight_decay)
    else:
        # Biases get no weight decay (nanoGPT's convention): decay is for the weight matrices.
        decay = [p for name, p in model.named_parameters() if name.endswith("weight")]
        rest = [p for name, p in model.named_parameters() if not name.endswith("weight")]
        optimizer = optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                 {"params": rest, "weight_decay": 0.0}], lr=args.lr)
    if args.schedule == "plateau":
        scheduler = ReduceLROnPlateau(optimizer, mode="max", factor=PLATEAU_FACTOR,
                                      patience=PLATEAU_PATIENCE)
    elif args.schedule == "cosine":
        scheduler = CosineAnnealingLR(optimizer, T_max=args.epochs)
    else:
        if steps_per_epoch is None:
            raise ValueError("the one-cycle schedule needs steps_per_epoch (len of the loader)")
        # One cycle over the whole run, torch's defaults: up from lr/25 for 30% of the
        # batches, then a cosine down to lr/25e4, momentum moving the opposite way.
        scheduler = OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                               steps_per_epoch=steps_per_epoch)
    stopper = EarlyStopping(monitor="val_acc", mode="max", patience=EARLY_STOPPING_PATIENCE,
                            restore_best_weights=True)
    return Trainer(model, nn.CrossEntropyLoss(), optimizer, scheduler,
                   callbacks=[stopper, *checkpoints], seed=args.seed, scheduler_monitor="val_acc",
                   scheduler_interval="batch" if args.schedule == "onecycle" else "epoch")


def recipe(args) -> dict:
    """Every knob of the run, as summary.json records it."""
    return {"optimizer": args.optimizer, "lr": args.lr, "momentum": args.momentum,
            "weight_decay": args.weight_decay, "batch_size": args.batch_size,
            "epochs": args.epochs, "schedule": args.schedule, "plateau_factor": PLATEAU_FACTOR,
            "plateau_patience": PLATEAU_PATIENCE,
            "early_stopping_patience": EARLY_STOPPING_PATIENCE, "augment": not args.no_augment,
            "rotation_degrees": ROTATION_DEGREES, "crop_padding": CROP_PADDING,
            "dropout": DROPOUT, "seed": args.seed}


def print_summary(model: nn.Module) -> None:
    """The torch-like repr, then every layer's parameter count."""
    print(model)
    print(f"{'layer':<52}{'parameters':>12}")
    for name, layer in model.named_children():
        count = sum(p.data.size for p in layer.parameters())
        print(f"{name + ': ' + type(layer).__name__:<52}{count:>12,}")
    print(f"{'total':<52}{model.num_parameters():>12,}\n")


def report(rows: dict) -> str:
    """The final table, in the reference's format."""
    width = max(len(k) for k in rows)
    return "\n".join(f"| {key:<{width}} | {value:>12} |" for key, value in rows.items())


def main(argv=None) -> int:
    args = parse_args(argv)
    out = args.out or os.path.join("runs", time.strftime("mnist-%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)

    x, y, x_test, y_test = load_mnist(root=args.data_dir)
    if args.subset:
        x, y = x[:args.subset], y[:args.subset]
    train, val = build_loaders(x, y, args)
    print(f"MNIST: {len(train.x):,} train / {len(val.x):,} validation (seed {args.seed}), "
          f"{len(x_test):,} test held out\n")

    trainer = build_trainer(args, checkpoints=[
        ModelCheckpoint(os.path.join(out, "best.npz"), monitor="val_acc", mode="max"),
        ModelCheckpoint(os.path.join(out, "last.npz"), monitor="val_acc", mode="max",
                        save_best_only=False),
    ], steps_per_epoch=len(train))
    print_summary(trainer.model)

    start = time.perf_counter()
    history = trainer.fit(train, val, epochs=args.epochs,
                          resume_from=os.path.join(out, "last.npz") if args.resume else None)
    wall = time.perf_counter() - start
    if history.epochs == 0:
        # Stopped inside the first epoch (a NaN loss, say): nothing to evaluate or plot
        print(f"\nno epoch completed ({history.stop_reason}); nothing written to {out}/",
              file=sys.stderr)
        return 1

    # EarlyStopping has restored the best weights: the test set is evaluated once, on them.
    test_loader = DataLoader(x_test, y_test, 1024, shuffle=False, transform=val.transform)
    test = trainer.evaluate(test_loader)
    best = history.best_epoch
    train_seconds = float(np.sum(history["epoch_time"]))
    summary = {
        "recipe": recipe(args), "best_epoch": best,
        "best_val_acc": history["val_acc"][best - 1], "test_acc": test["acc"],
        "test_loss": test["loss"], "epochs_run": history.epochs,
        "stopped_epoch": history.stopped_epoch, "wall_seconds": wall,
        "train_seconds": train_seconds, "seconds_per_epoch": train_seconds / history.epochs,
        "images_per_second": history.epochs * len(train.x) / train_seconds,
        "n_train": len(train.x), "n_val": len(val.x), "n_test": len(x_test),
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
        "time per epoch": f"{summary['seconds_per_epoch']:.2f} s",
        "images / second": f"{summary['images_per_second']:,.0f}",
    }))
    print(f"\nwrote {out}/: history.json, best.npz, last.npz, curves.png, summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
