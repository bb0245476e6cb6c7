"""Layers, containers and losses with torch.nn's names, shapes and initialisation."""

from minigrad.nn import init
from minigrad.nn.activation import GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from minigrad.nn.container import ModuleDict, ModuleList, Sequential
from minigrad.nn.conv import Conv2d
from minigrad.nn.dropout import Dropout
from minigrad.nn.linear import Flatten, Identity, Linear
from minigrad.nn.loss import CrossEntropyLoss, MSELoss
from minigrad.nn.module import Module, Parameter
from minigrad.nn.normalization import BatchNorm1d, BatchNorm2d
from minigrad.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d",
    "CrossEntropyLoss", "Dropout", "Flatten", "GELU", "Identity", "Linear", "LogSoftmax",
    "MSELoss", "MaxPool2d", "Module", "ModuleDict", "ModuleList", "Parameter", "ReLU",
    "Sequential", "Sigmoid", "Softmax", "Tanh", "init",
]
