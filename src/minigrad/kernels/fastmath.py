"""The fast-math flags the reduction kernels are compiled with."""

# Reassociation lets LLVM vectorise the dot-product reductions, and contraction fuses
# multiply-adds. No nnan/ninf: a NaN in the data still propagates (the Trainer relies on it
# to stop on a NaN loss).
REASSOCIATE = {"reassoc", "contract"}  # a set: numba accepts a bool, a dict or a set
