"""Layers, containers and losses with torch.nn's names, shapes and initialisation."""

from minigrad.nn.module import Module, Parameter, Sequential

__all__ = ["Module", "Parameter", "Sequential"]
