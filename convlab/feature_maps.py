"""Feature maps: which layers have them, what a model's layers make of some images, and how to tile them.

The one place they are computed, for visualize.py's figures, the TensorBoard images
of a model in training (tensorboard_logging.py) and the figures that tile them
(figures.py). The explorer page computes them itself, in JavaScript.

Keras is imported inside the functions that need it: figures.py tiles maps with
this module, and `visualize.py convolution` draws without TensorFlow.
"""

import math

import numpy as np


def is_conv(layer):
    import keras

    return isinstance(layer, keras.layers.Conv2D)


def feature_layers(model):
    """The Conv2D and MaxPooling2D layers of the model's network, in order: the layers whose outputs are maps."""
    import keras

    from convlab.saved_models import network

    return [layer for layer in network(model).layers
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D))]


def extractor(network, layers):
    """A model from the network's input to every given layer's output, then the network's predictions.

    Built from `network.inputs`, not `network.input`, which fails on Sequential models in Keras 3.
    """
    import keras

    return keras.Model(inputs=network.inputs, outputs=[layer.output for layer in layers] + list(network.outputs))


def extract(model, layers, images):
    """Every layer's maps for `images` (uint8, N x 28 x 28) in one batched call, and the model's predictions.

    Returns ({layer name: array (N, height, width, filters)}, probabilities (N, classes)),
    as numpy arrays in the model's output precision (saved_models.load_model gives float32).
    The maps are the network's for the image itself; the predictions the whole model's
    (with its mirror image's answer for cnn_plus). training=False: random augmentation
    layers (cnn_plus) default to on when a model is called.
    """
    from convlab.saved_models import network

    inside = network(model)
    *maps, probabilities = extractor(inside, layers)([images[..., None]], training=False)
    if inside is not model:
        probabilities = model(images[..., None], training=False)
    return {layer.name: np.asarray(m) for layer, m in zip(layers, maps)}, np.asarray(probabilities)


def conv_blocks(layers):
    """Split the layers after each pooling: [[conv_1, pool_1], [conv_2, pool_2]] for the course CNN."""
    blocks = [[]]
    for layer in layers:
        blocks[-1].append(layer)
        if not is_conv(layer):  # a pooling layer ends its block
            blocks.append([])
    return [block for block in blocks if block]


def mosaic(maps, gap=1, gap_value=np.nan, zoom=1):
    """Tile maps (height, width, n) into one near-square image, each map scaled to [0, 1] on its own.

    Scaling each map alone shows every filter's pattern, however weak its response; a
    constant map (a dead filter) stays 0. Each map is enlarged `zoom` times; the gaps of
    `gap` pixels between them hold gap_value (NaN: drawn white by figures.py's colours).
    """
    maps = np.asarray(maps, dtype=np.float32)
    low, high = maps.min(axis=(0, 1)), maps.max(axis=(0, 1))
    scaled = (maps - low) / np.where(high > low, high - low, 1)  # never 0/0
    scaled = scaled.repeat(zoom, axis=0).repeat(zoom, axis=1)
    height, width, count = scaled.shape
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    tiled = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), gap_value, np.float32)
    for index, (top, left) in enumerate(tile_corners(height, width, count, gap)):
        tiled[top: top + height, left: left + width] = scaled[:, :, index]
    return tiled


def tile_corners(height, width, count, gap=1):
    """(top, left) of each of `count` tiles of height x width, row by row in a near-square grid."""
    columns = math.ceil(math.sqrt(count))
    return [(index // columns * (height + gap), index % columns * (width + gap)) for index in range(count)]
