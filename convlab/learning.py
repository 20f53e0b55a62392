"""Watching it learn: a trained model at each epoch its snapshots kept (snapshots.py), from random
weights (epoch 0) to the last.

Computes what visualize.py learning draws and the notebook shows: the first conv layer's
filters at each epoch, one image's feature maps at each epoch, and how much the filters
changed from one epoch to the next. The weights are the snapshots' own (float16, rounded),
put into the saved model's network, so epoch N is the saved model to within that rounding.
"""

from typing import NamedTuple

import numpy as np

from convlab import feature_maps, snapshots
from convlab.snapshots import SnapshotError

SHOWN_EPOCHS = 8  # rows of the figure at most: the first and last epochs always, evenly between


class Learning(NamedTuple):
    """A model's first conv layer and one image's maps at several epochs."""

    epochs: list  # the epochs shown, e.g. [0, 1, 2, 3, 4, 5]
    layer: str  # the first conv layer, e.g. conv_1
    kernels: np.ndarray  # (epochs, 3, 3, filters): that layer's filters at each epoch shown
    maps: dict  # {layer name: (epochs, height, width, filters)}: the image through each conv layer
    change: np.ndarray  # (epochs kept - 1,): mean |change| of the first layer's weights, epoch to epoch
    all_epochs: np.ndarray  # every epoch the snapshots kept


def shown_epochs(kept, count=SHOWN_EPOCHS):
    """At most `count` of the kept epochs, first and last included, the rest evenly between."""
    kept = [int(epoch) for epoch in kept]
    if len(kept) <= count:
        return kept
    return sorted({kept[round(i * (len(kept) - 1) / (count - 1))] for i in range(count)})


def follow(model, kept, image):
    """What the model's network made of `image` (uint8 28x28) at the epochs `kept` (snapshots.Snapshots) holds.

    The weights at each epoch go into the network of the saved model (its float32 copy, as
    saved_models.load_model gives it); SnapshotError where they are another model's.
    """
    from convlab.saved_models import network

    inside = network(model)
    names = [weight.path for weight in inside.weights]
    if names != kept.names:
        raise SnapshotError(f"the snapshots hold the weights of another model ({len(kept.names)} weights, "
                            f"this one has {len(names)}): {snapshots.HOW_TO_GET}")
    layers = [layer for layer in feature_maps.feature_layers(model) if feature_maps.is_conv(layer)]
    first = layers[0]
    kernel_index = names.index(first.kernel.path)
    epochs = shown_epochs(kept.epochs)
    final = inside.get_weights()
    maps = {layer.name: [] for layer in layers}
    try:
        for epoch in epochs:
            inside.set_weights(kept.at(epoch))
            found, _ = feature_maps.extract(model, layers, image[None])
            for layer in layers:
                maps[layer.name].append(found[layer.name][0])
    finally:
        inside.set_weights(final)
    kernels = np.stack([kept.at(epoch)[kernel_index][:, :, 0, :] for epoch in epochs])
    every = kept.weights[kernel_index].astype(np.float32)
    change = np.abs(np.diff(every, axis=0)).mean(axis=tuple(range(1, every.ndim)))
    return Learning(epochs, first.name, kernels, {name: np.stack(m) for name, m in maps.items()}, change, kept.epochs)


def passes(history, target):
    """The first epoch whose validation accuracy reaches `target`; None if none does."""
    for row in history:
        if row.get("val_accuracy", 0) >= target:
            return row["epoch"]
    return None
