"""Speed: minigrad against torch on the same work and threads.

``targets`` (the timed rows: the seed net's training step with its GEMM floor, inference,
the VGG convolution and training step, per-layer times, the cold start), ``epoch`` (one
epoch of the reference recipe through the Trainer), ``timing`` (alternating rounds),
``processes`` (the run repeated in fresh processes: medians and ranges), ``table`` (the
report) and ``suite`` (``run`` and the ``speed`` command's ``main``).
"""
