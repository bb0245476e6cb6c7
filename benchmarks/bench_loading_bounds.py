"""Measures what crafted files cost the loaders: outcome, peak memory and time of each.

Each case builds a hostile file in a temporary folder, loads it the way a user would, and
prints the file's size, the first words of the error (or "loaded"), the peak of the
Python allocations during the load (tracemalloc: numpy's buffers included) and the
wall time. The figures in docs/reliability.md come from this script.

Usage::

    python benchmarks/bench_loading_bounds.py [--fuzz 2000]
"""

from __future__ import annotations

import argparse
import gzip
import io
import pickle
import random
import tarfile
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np

import minigrad
from minigrad import nn
from minigrad.data import load_cifar10
from minigrad.data.cifar import BATCH_FOLDER, MAX_BATCH_BYTES, _batch_pickle, parse_batch

MIB = 1 << 20


def measured(load) -> tuple[str, int, float]:
    """(outcome, peak traced bytes, seconds) of ``load()``."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        load()
        outcome = "loaded"
    except (ValueError, KeyError, OSError) as error:
        outcome = f"{type(error).__name__}: {str(error)[:70]}"
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, peak, seconds


def report(case: str, size: int, load) -> None:
    outcome, peak, seconds = measured(load)
    print(f"{case:<44} {size:>11,} B  peak {peak / MIB:8.2f} MiB  {seconds * 1e3:9.2f} ms")
    print(f"    {outcome}")


def memo_bomb() -> None:
    raw = b"\x80\x02}r" + (200_000_000).to_bytes(4, "little") + b"."
    report("CIFAR batch: LONG_BINPUT 200,000,000", len(raw), lambda: parse_batch(raw, "bomb"))


def fuzzed_batches(count: int) -> None:
    """Random byte edits of a one-image batch (3.2 KB): the worst time and peak seen."""
    seed = _batch_pickle(np.zeros((1, 3072), np.uint8), np.array([1]), "b", np.arange(1))
    rng, worst, outcomes = random.Random(0), (0, 0.0), {}
    for _ in range(count):
        raw = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        outcome, peak, seconds = measured(lambda raw=bytes(raw): parse_batch(raw, "fuzz"))
        kind = outcome.split(":")[0]
        outcomes[kind] = outcomes.get(kind, 0) + 1
        worst = (max(worst[0], peak), max(worst[1], seconds))
    print(f"{count} fuzzed 3.2 KB batches: {outcomes}; worst peak {worst[0] / MIB:.2f} MiB, "
          f"worst time {worst[1] * 1e3:.2f} ms")


def full_batch() -> None:
    """A valid 10,000-image batch in the official layout: restricted reader vs pickle."""
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, (10_000, 3072), dtype=np.uint8)
    raw = _batch_pickle(rows, rng.integers(0, 10, 10_000), "b", np.arange(10_000))
    report("CIFAR batch: valid, 10,000 images", len(raw), lambda: parse_batch(raw, "batch"))
    for name, load in (
        ("parse_batch", lambda: parse_batch(raw, "batch")),
        ("pickle.loads", lambda: pickle.loads(raw, encoding="bytes")),  # trusted: made here
    ):
        start = time.perf_counter()
        load()
        print(f"    {name} without tracemalloc: {(time.perf_counter() - start) * 1e3:.2f} ms")


def archive_member_too_large(folder: Path) -> None:
    info = tarfile.TarInfo(f"{BATCH_FOLDER}/data_batch_1")
    info.size = MAX_BATCH_BYTES + 1
    payload = gzip.compress(info.tobuf(tarfile.GNU_FORMAT) + bytes(4096))
    (folder / "cifar10").mkdir()
    (folder / "cifar10" / "cifar-10-python.tar.gz").write_bytes(payload)
    report("CIFAR archive: member declaring 128 MiB + 1", len(payload),
           lambda: load_cifar10(folder, download=False, verify=False))


def checkpoint_with_unreferenced_bomb(folder: Path) -> None:
    path = folder / "bomb.npz"
    minigrad.save(path, model=nn.Linear(4, 3))
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("bomb.npy", "w") as entry:
            for _ in range(1024):
                entry.write(bytes(MIB))
    report("checkpoint + unreferenced 1 GiB of zeros", path.stat().st_size,
           lambda: minigrad.load(path, model=nn.Linear(4, 3)))


def checkpoint_with_huge_shape(folder: Path) -> None:
    path = folder / "huge.npz"
    minigrad.save(path, model=nn.Linear(4, 3))
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    text = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1250000000000,), }"
    text += b" " * (117 - len(text)) + b"\n"  # padded to 128 bytes with the prefix, as numpy does
    header = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text
    entries["model/weight.npy"] = header + entries["model/weight.npy"][128:]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    report("checkpoint entry declaring a 10 TB shape", path.stat().st_size,
           lambda: minigrad.load(path, model=nn.Linear(4, 3)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=2000, help="fuzzed batches to try")
    args = parser.parse_args()
    memo_bomb()
    fuzzed_batches(args.fuzz)
    full_batch()
    with tempfile.TemporaryDirectory() as folder:
        archive_member_too_large(Path(folder))
        checkpoint_with_unreferenced_bomb(Path(folder))
        checkpoint_with_huge_shape(Path(folder))


if __name__ == "__main__":
    main()
