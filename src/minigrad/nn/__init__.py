"""Layers, containers and losses with torch.nn's names, shapes and initialisation."""

from minigrad.nn import init, utils
from minigrad.nn.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from minigrad.nn.container import ModuleDict, ModuleList, Sequential
from minigrad.nn.conv import Conv2d
from minigrad.nn.conv_transpose import ConvTranspose2d
from minigrad.nn.dropout import Dropout, Dropout2d
from minigrad.nn.embedding import Embedding
from minigrad.nn.linear import Flatten, Identity, Linear
from minigrad.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss
from minigrad.nn.module import Module, Parameter
from minigrad.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from minigrad.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from minigrad.nn.regression_loss import HuberLoss, L1Loss, MSELoss, SmoothL1Loss
from minigrad.nn.upsampling import Upsample

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d",
    "Conv2d", "ConvTranspose2d", "CrossEntropyLoss", "Dropout", "Dropout2d", "ELU", "Embedding",
    "Flatten", "GELU", "GroupNorm", "HuberLoss", "Identity", "L1Loss", "LayerNorm", "LeakyReLU",
    "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "Module", "ModuleDict", "ModuleList",
    "NLLLoss", "Parameter", "ReLU", "Sequential", "SiLU", "Sigmoid", "SmoothL1Loss", "Softmax",
    "Tanh", "Upsample", "init", "utils",
]
