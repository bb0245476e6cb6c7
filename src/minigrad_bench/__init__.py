"""minigrad_bench: reproduce the PyTorch baselines and compare minigrad against torch."""
