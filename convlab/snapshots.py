"""Snapshots: a model's weights as built (epoch 0) and after every epoch, to watch it learn.

train.py keeps them for every model it trains, one compressed file per model beside it
(cnn_snapshots.npz beside cnn.keras), rewritten whole after each epoch: for each of the
network's weights (`model.weights`, batch-normalisation statistics included), one float16
array holding it at every epoch kept. float16 keeps 3 significant digits, plenty for a
picture, at half the size; the figures and the explorer page compute with exactly these
rounded numbers. A plain .npz that numpy reads, no pickle.

Used by callbacks.py (keeping them, after each epoch), visualize.py learning and the
explorer page (reading them); results.json names the file. numpy only.
"""

from pathlib import Path
from typing import NamedTuple

import numpy as np

from convlab import files

FORMAT = 1
HOW_TO_GET = ("train.py keeps every epoch's weights since this version: train the model again, "
              "e.g. `python train.py`, to watch it learn")


class SnapshotError(Exception):
    """No usable snapshots; the message says why and how to get them."""


class Snapshots(NamedTuple):
    """A model's weights at several epochs: names[i] is model.weights[i]'s path, weights[i] is (epochs, *shape)."""

    epochs: np.ndarray  # (n,) int: 0 (as built), 1, 2, ...
    names: list
    weights: list

    def at(self, epoch):
        """The weights at `epoch` (float32, as Keras' set_weights takes them)."""
        row = int(np.flatnonzero(self.epochs == epoch)[0])
        return [w[row].astype(np.float32) for w in self.weights]

    def kept_upto(self, epoch):
        """These snapshots up to and including `epoch`: what a stopped run had finished."""
        keep = self.epochs <= epoch
        return Snapshots(self.epochs[keep], self.names, [w[keep] for w in self.weights])

    def with_epoch(self, epoch, model):
        return Snapshots(np.append(self.epochs, epoch), self.names,
                         [np.concatenate([kept, now[None].astype(np.float16)])
                          for kept, now in zip(self.weights, model.get_weights())])


def of(model, epoch):
    """The snapshot of a Keras model's weights now, as epoch `epoch`."""
    return Snapshots(np.array([epoch]), [w.path for w in model.weights],
                     [np.asarray(w, np.float16)[None] for w in model.get_weights()])


def save(snapshots, path):
    arrays = {f"weight_{i}": w for i, w in enumerate(snapshots.weights)}
    with files.atomic_path(path) as temporary:
        with open(temporary, "wb") as file:  # a file object: np.savez would add .npz to the temporary name
            np.savez_compressed(file, format=np.array(FORMAT), epochs=snapshots.epochs,
                                names=np.array(snapshots.names), **arrays)


def load(path):
    """The snapshots in `path`; SnapshotError saying how to get them where there are none or they are damaged."""
    path = Path(path)
    if not path.is_file():
        raise SnapshotError(f"no snapshots of this model ({path.name} is not beside it): {HOW_TO_GET}")
    try:
        with np.load(path, allow_pickle=False) as saved:
            names = saved["names"].tolist()
            return Snapshots(saved["epochs"], names, [saved[f"weight_{i}"] for i in range(len(names))])
    except Exception:  # not a zip, cut short, a key missing: numpy raises many kinds
        raise SnapshotError(f"{path} is damaged: {HOW_TO_GET}") from None
