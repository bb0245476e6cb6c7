"""Accuracy: the reference net, its torch twin and the torch VGG baseline trained side by side.

``compare`` (the ``compare`` and ``torch`` commands), ``torch_train`` (the torch batch step on
minigrad's epoch loop, the twin and the VGG runs), ``tensor_batches`` (the VGG's on-device
augmentation), ``baselines`` (the VGG recipes), ``profiles`` (how big a run is),
``datasets`` (the images a run trains on) and ``results`` (results.json, the table, curves).
"""
