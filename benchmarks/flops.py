"""Training FLOPs of a model: the one counter, for speed.py and cnn_plus_experiments.py."""

import math

from keras import layers


def training_flops(model):
    """Multiply-adds x 2 per training image: forward, weight gradients, input gradients.

    Input gradients are not needed below the first layer with weights, so the total
    is 3 x forward minus that layer's forward (course CNN: 10.1 + 19.4 = 29.6 MFLOP).
    """
    forward = []
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            height, width, filters = layer.output.shape[1:]
            forward.append(2 * height * width * filters * math.prod(layer.kernel.shape[:3]))
        elif isinstance(layer, layers.Dense):
            forward.append(2 * math.prod(layer.kernel.shape))
    return 3 * sum(forward) - forward[0]
