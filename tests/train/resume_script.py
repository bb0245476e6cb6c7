"""A small training run for the kill-and-resume test (run as a subprocess).

usage: resume_script.py CHECKPOINT OUT EPOCHS [--resume] [--pause-after K]

Saves a full checkpoint to CHECKPOINT after every epoch and prints ``saved K`` once it is
on disk. With ``--pause-after K`` it then sleeps, so the test can ``kill -9`` it exactly
between epochs K and K+1. At the end it writes the final weights and the History to OUT.
"""

import json
import sys
import time

import numpy as np

from minigrad import nn
from minigrad.checkpoint import save
from minigrad.data import DataLoader
from minigrad.optim import SGD
from minigrad.optim.lr_scheduler import ReduceLROnPlateau
from minigrad.train import Callback, CSVLogger, EarlyStopping, ModelCheckpoint, Trainer


class Announce(Callback):
    """Prints after ModelCheckpoint (listed before it) has written the epoch's file."""

    def __init__(self, pause_after):
        self.pause_after = pause_after

    def after_epoch(self, trainer, epoch, logs):
        print(f"saved {epoch}", flush=True)
        if epoch == self.pause_after:
            time.sleep(120)  # the test kills the process here


def jitter(xb, generator):
    """Augmentation that draws from the loader's (the Trainer's) Generator."""
    return xb + generator.normal(0, 0.1, xb.shape).astype(xb.dtype)


def data(n, seed):
    centers = np.random.default_rng(100).normal(0, 1, (3, 1, 6, 6))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = centers[y] + rng.normal(0, 1.5, (n, 1, 6, 6))
    return x.astype(np.float32), y


def main():
    ckpt, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pause_after = (
        int(sys.argv[sys.argv.index("--pause-after") + 1]) if "--pause-after" in sys.argv else 0
    )
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(36, 32),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(32, 3),
    )
    model.reset_parameters(np.random.default_rng(0))
    optimizer = SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    scheduler = ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=1)
    callbacks = [
        EarlyStopping(monitor="val_acc", patience=20),
        CSVLogger(out + ".csv"),
        ModelCheckpoint(ckpt, save_best_only=False),
        Announce(pause_after),
    ]
    trainer = Trainer(model, nn.CrossEntropyLoss(), optimizer, scheduler, callbacks, seed=3)
    train = DataLoader(*data(300, 1), batch_size=32, transform=jitter)
    val = DataLoader(*data(150, 2), batch_size=64, shuffle=False)
    history = trainer.fit(
        train,
        val,
        epochs=epochs,
        resume_from=ckpt if "--resume" in sys.argv else None,
        verbose=False,
    )
    save(out, model=model, history=json.dumps(history.to_dict()))


if __name__ == "__main__":
    main()
