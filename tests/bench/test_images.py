"""One train pipeline for every benchmark recipe, its steps in one order."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from minigrad_bench.accuracy.baselines import baseline_loaders, baseline_recipe
from minigrad_bench.images import eval_transform, train_transform
from minigrad_bench.reference import Recipe, reference_loaders


def step_names(compose) -> list[str]:
    return [type(step).__name__ for step in compose.transforms]


def test_the_train_pipeline_keeps_its_order_and_leaves_out_what_is_off():
    everything = train_transform("cifar10", rotation_degrees=5.0, crop_padding=4, flip=True,
                                 cutout_length=16)
    assert step_names(everything) == ["RandomRotation", "RandomCrop", "RandomHorizontalFlip",
                                      "ToFloat", "Normalize", "Cutout"]
    assert step_names(train_transform("mnist", crop_padding=2)) == ["RandomCrop", "ToFloat",
                                                                    "Normalize"]
    assert step_names(eval_transform("mnist")) == ["ToFloat", "Normalize"]


def test_the_reference_and_the_baselines_build_their_pipelines_from_it():
    x = np.zeros((20, 1, 28, 28), np.uint8)
    y = np.zeros(20, np.int64)
    train, val = reference_loaders("mnist", x, y, Recipe())
    assert step_names(train.transform) == ["RandomRotation", "RandomCrop", "ToFloat", "Normalize"]
    assert repr(val.transform) == repr(eval_transform("mnist"))
    plain, _ = reference_loaders("mnist", x, y, replace(Recipe(), augment=False))
    assert repr(plain.transform) == repr(eval_transform("mnist"))
    seed, _ = baseline_loaders(x, y, baseline_recipe("mnist", epochs=1))
    assert step_names(seed.transform) == ["RandomCrop", "RandomHorizontalFlip", "ToFloat",
                                          "Normalize"]
    improved, _ = baseline_loaders(x, y, baseline_recipe("mnist", "improved", epochs=1))
    assert step_names(improved.transform) == ["RandomRotation", "RandomCrop", "ToFloat",
                                              "Normalize"]
