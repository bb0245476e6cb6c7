"""The ONNX form of the networks and blocks of ``minigrad.models``, node for node their
forward: the residual sum of a block is an ``Add`` of its two paths.

``seed_net`` and ``vgg_baseline`` are Sequentials and need nothing here.
"""

from __future__ import annotations

from minigrad import models
from minigrad.interop.onnx_registry import converts

INT64_MAX = 2**63 - 1  # Slice's "to the end"


# -- residual blocks ----------------------------------------------------------------------
@converts(models.BasicBlock)
def _basic_block(graph, block, x):
    # relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
    out = graph.emit(block.relu, graph.emit(block.bn1, graph.emit(block.conv1, x)))
    out = graph.emit(block.bn2, graph.emit(block.conv2, out))
    return graph.emit(block.relu, graph.add_node("Add", [out, _shortcut(graph, block, x)]))


@converts(models.Bottleneck)
def _bottleneck(graph, block, x):
    # relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))
    out = graph.emit(block.relu, graph.emit(block.bn1, graph.emit(block.conv1, x)))
    out = graph.emit(block.relu, graph.emit(block.bn2, graph.emit(block.conv2, out)))
    out = graph.emit(block.bn3, graph.emit(block.conv3, out))
    return graph.emit(block.relu, graph.add_node("Add", [out, _shortcut(graph, block, x)]))


def _shortcut(graph, block, x) -> str:
    return x if block.downsample is None else graph.emit(block.downsample, x)


@converts(models.ZeroPadShortcut)
def _zero_pad_shortcut(graph, shortcut, x):
    # x[:, :, ::s, ::s], then zero channels: pad before, the rest after
    s = shortcut.stride
    if s > 1:
        x = graph.add_node("Slice", [
            x, graph.constant([0, 0], "starts"), graph.constant([INT64_MAX] * 2, "ends"),
            graph.constant([2, 3], "axes"), graph.constant([s, s], "steps")])
    after = shortcut.out_channels - shortcut.in_channels - shortcut.pad
    # ONNX pads: the starts of (N, C, H, W), then their ends
    pads = graph.constant([0, shortcut.pad, 0, 0, 0, after, 0, 0], "pads")
    return graph.add_node("Pad", [x, pads], mode="constant")


# -- networks -----------------------------------------------------------------------------
@converts(models.ResNet)
def _resnet(graph, net, x):
    x = graph.emit(net.relu, graph.emit(net.bn1, graph.emit(net.conv1, x)))
    x = graph.emit(net.maxpool, x)  # (N, 64, H/4, W/4), an Identity with small_input
    for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
        x = graph.emit(stage, x)
    return _pool_and_classify(graph, net, x)


@converts(models.CifarResNet)
def _cifar_resnet(graph, net, x):
    x = graph.emit(net.relu, graph.emit(net.bn1, graph.emit(net.conv1, x)))
    for stage in (net.layer1, net.layer2, net.layer3):
        x = graph.emit(stage, x)
    return _pool_and_classify(graph, net, x)


def _pool_and_classify(graph, net, x) -> str:
    # avgpool to (N, C, 1, 1), x.reshape(N, -1), fc
    pooled = graph.add_node("Flatten", [graph.emit(net.avgpool, x)], axis=1)
    return graph.emit(net.fc, pooled)


@converts(models.LeNet5)
def _lenet5(graph, net, x):
    x = graph.emit(net.pool, graph.emit(net.tanh, graph.emit(net.conv1, x)))  # (N, 6, 14, 14)
    x = graph.emit(net.pool, graph.emit(net.tanh, graph.emit(net.conv2, x)))  # (N, 16, 5, 5)
    x = graph.emit(net.tanh, graph.emit(net.fc1, graph.emit(net.flatten, x)))  # (N, 120)
    return graph.emit(net.fc3, graph.emit(net.tanh, graph.emit(net.fc2, x)))  # (N, classes)
