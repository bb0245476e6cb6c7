"""``compare`` and ``torch``: train the models side by side and report them in one table.

For each seed, ``compare`` trains (1) the minigrad reference net with the reference recipe
(``reference.build_trainer``), (2) its torch twin with the identical recipe, initial weights,
split, batches and dropout masks (see ``torch_train``), and (3) the torch VGG baseline with the
reference's torch recipe, all on the same seeded 4:1 split; every model's test accuracy is
measured once, on its best epoch's weights. ``torch`` trains the VGG baseline alone.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from minigrad import checkpoint
from minigrad.checks import check_choice
from minigrad.fileio import atomic_write
from minigrad_bench.accuracy import datasets, results
from minigrad_bench.accuracy.baselines import baseline_recipe, describe
from minigrad_bench.accuracy.profiles import Profile
from minigrad_bench.reference import (
    Recipe,
    build_trainer,
    official_test_loader,
    reference_loaders,
    reference_model,
    split,
)
from minigrad_bench.report import environment


class DeviceUnavailable(Exception):
    """The requested torch device does not exist on this machine."""


def resolve_device(name: str) -> str:
    """"cpu" or "cuda" for ``name`` in auto/cpu/cuda; raises if CUDA is asked for and absent."""
    import torch

    check_choice(name, "device", ("auto", "cpu", "cuda"))
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(
            f"--device cuda was requested, but torch {torch.__version__} sees no CUDA GPU "
            "here; use --device cpu (or auto)")
    return name


class Session:
    """One command's runs: the results so far and the model in training (for Ctrl-C)."""

    def __init__(self, out: Path, payload: dict, verbose: bool):
        self.out, self.payload, self.verbose = out, payload, verbose
        self.runs: list[dict] = []
        self.active: results.ActiveRun | None = None

    def say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def finish(self) -> dict:
        """Writes results.json and curves.png, prints the table; returns the payload."""
        rows = results.summary_rows(self.runs)
        table = results.format_table(rows)
        self.payload.update(complete=True, runs=self.runs, summary=rows, table=table)
        results.write_results(self.out, self.payload)
        print(f"\n{self.payload['title']}\n\nData: {self.payload['data']['set']}\n{table}\n\n"
              f"results: {self.out / 'results.json'}, curves: {self.out / 'curves.png'}",
              flush=True)
        return self.payload

    def interrupted(self) -> Path:
        self.payload["runs"] = self.runs
        return results.write_incomplete(self.out, self.payload, self.active)


def _header(command: str, profile: Profile, device: str, data: datasets.DataSource,
            seeds) -> dict:
    """What results.json says before any run: ``dataset`` and the title name the set used
    (``data.name``, ``data.label``: the partial CIFAR-10 set is never called CIFAR-10)."""
    n = len(data.x_train)
    n_train = len(split(n, 0)[0])
    return {
        "command": command, "dataset": data.name, "profile": profile.to_dict(), "device": device,
        "seeds": list(seeds), "data": {"set": data.label, "source": data.description,
                                       **data.sizes(), "train": n_train,
                                       "validation": n - n_train},
        "environment": environment(device), "complete": False,
        "title": f"{command}, {data.label}, {profile.name} profile on {device}: "
                 f"{profile.summary}. Data: {data.description}.",
    }


def _print_header(session: Session) -> None:
    p = session.payload
    d, env = p["data"], p["environment"]
    session.say(f"== {p['command']} | {d['set']} | profile {p['profile']['name']}: "
                f"{p['profile']['summary']}")
    session.say(f"== data: {d['source']}; {d['train']:,} train / {d['validation']:,} validation "
                f"/ {d['test']:,} test images")
    session.say(f"== device {p['device']}, torch {env['torch']} ({env['torch_threads']} threads), "
                f"numpy {env['numpy']}, {env['blas']}, seeds {p['seeds']}")
    if p["profile"]["name"] == "full" and p["device"] == "cpu":
        session.say("== note: the full recipes on a CPU take days (the VGG alone costs ~3 GFLOP "
                    "per image per training step); --device cuda runs them in minutes")


def _reference_recipe(profile: Profile, seed: int) -> Recipe:
    recipe = replace(Recipe(), seed=seed)
    return replace(recipe, epochs=profile.reference_epochs or recipe.epochs)


def run_minigrad(session: Session, dataset: str, recipe: Recipe, images) -> dict:
    """The numpy reference net through ``reference.build_trainer``; returns its initial weights."""
    x, y, x_test, y_test = images
    model = reference_model(dataset, recipe)
    initial = model.state_dict()
    trainer = build_trainer(recipe, model=model)
    session.active = results.ActiveRun(
        "minigrad reference net", lambda: trainer.history,
        lambda path: checkpoint.save(path, trainer=trainer, complete=False))
    session.say(f"\n-- minigrad reference net (numpy), seed {recipe.seed}")
    started = time.perf_counter()
    train, val = reference_loaders(dataset, x, y, recipe)
    history = trainer.fit(train, val, epochs=recipe.epochs, verbose=session.verbose,
                          progress=False)
    test = trainer.evaluate(official_test_loader(dataset, x_test, y_test, recipe.batch_size))
    session.runs.append(results.run_result(
        "minigrad reference net (numpy)", "minigrad", recipe.seed, model.num_parameters(),
        history, test, time.perf_counter() - started, recipe.to_dict(), "cpu"))
    return initial


def _torch_result(session: Session, name: str, trainer, test: dict, seed: int, started: float,
                  recipe: dict, device: str) -> None:
    params = sum(p.numel() for p in trainer.model.parameters())
    session.runs.append(results.run_result(name, "torch", seed, params, trainer.history, test,
                                           time.perf_counter() - started, recipe, device))


def _watch(session: Session, name: str, trainer) -> None:
    def save(path: Path) -> None:
        with atomic_write(path, "wb") as file:
            np.savez(file, **trainer.state_arrays())

    session.active = results.ActiveRun(name, lambda: trainer.history, save)


def run_twin(session: Session, dataset: str, recipe: Recipe, images, initial: dict,
             device: str) -> None:
    from minigrad_bench.accuracy import torch_train

    name = "torch twin of the reference net"
    session.say(f"\n-- {name} (same initial weights, batches and dropout masks), "
                f"seed {recipe.seed}")
    started = time.perf_counter()
    runtime = torch_train.Runtime.for_model(device, fast=False)  # a twin: fp32, default layout
    trainer = torch_train.reference_twin(dataset, recipe, initial, runtime)
    _watch(session, name, trainer)
    test = torch_train.train_reference_twin(trainer, dataset, recipe, images, session.verbose)
    _torch_result(session, name, trainer, test, recipe.seed, started, recipe.to_dict(), device)


def run_vgg(session: Session, dataset: str, profile: Profile, variant: str, seed: int,
            images, device: str) -> None:
    from minigrad_bench.accuracy import torch_train

    recipe = baseline_recipe(dataset, variant, epochs=profile.vgg_epochs[dataset],
                             widths=profile.vgg_widths, seed=seed)
    name = f"torch VGG {'x'.join(map(str, recipe.widths))} ({variant} recipe)"
    session.say(f"\n-- {name}, seed {seed}: {describe(recipe)}")
    started = time.perf_counter()
    runtime = torch_train.Runtime.for_model(device, fast=True)
    trainer = torch_train.vgg_trainer(recipe, runtime)
    _watch(session, name, trainer)
    test = torch_train.train_vgg(trainer, recipe, images, session.verbose)
    _torch_result(session, name, trainer, test, seed, started, recipe.to_dict(), device)


def _guarded(session: Session, work) -> dict:
    """Runs ``work()``; on Ctrl-C saves what there is, marked incomplete, and re-raises."""
    try:
        work()
    except KeyboardInterrupt:
        folder = session.interrupted()
        print(f"\ninterrupted: partial results and the running model's state are in {folder}",
              flush=True)
        raise
    session.active = None
    return session.finish()


def compare(dataset: str, profile: Profile, device: str, seeds, out: Path, data_root=None,
            download: bool = False, verbose: bool = True, partial: bool = False) -> dict:
    """Trains the three models for every seed; writes results.json and curves.png into ``out``.

    ``partial`` (CIFAR-10): train on the partial set at any profile (``datasets.load``).

    Raises:
        datasets.DataMissing, DeviceUnavailable: before anything is written.
    """
    datasets.check_partial(dataset, partial)
    device = resolve_device(device)
    data = datasets.load(dataset, profile, data_root, download, partial)
    images = (data.x_train, data.y_train, data.x_test, data.y_test)
    session = Session(out, _header("compare", profile, device, data, seeds), verbose)
    _print_header(session)

    def work():
        for seed in seeds:
            recipe = _reference_recipe(profile, seed)
            initial = run_minigrad(session, dataset, recipe, images)
            run_twin(session, dataset, recipe, images, initial, device)
            run_vgg(session, dataset, profile, "seed", seed, images, device)

    return _guarded(session, work)


def torch_baseline(dataset: str, variant: str, profile: Profile, device: str, seeds, out: Path,
                   data_root=None, download: bool = False, verbose: bool = True,
                   partial: bool = False) -> dict:
    """One torch VGG baseline per seed with the ``variant`` recipe ("seed" or "improved");
    ``partial`` as for ``compare``."""
    baseline_recipe(dataset, variant, epochs=1)  # refuses a bad variant before any work
    datasets.check_partial(dataset, partial)
    device = resolve_device(device)
    data = datasets.load(dataset, profile, data_root, download, partial)
    images = (data.x_train, data.y_train, data.x_test, data.y_test)
    header = _header(f"torch --recipe {variant}", profile, device, data, seeds)
    session = Session(out, header, verbose)
    _print_header(session)

    def work():
        for seed in seeds:
            run_vgg(session, dataset, profile, variant, seed, images, device)

    return _guarded(session, work)
