"""TensorBoard for train.py --tensorboard: per-epoch scalars, and the CNN's feature maps as images.

    python train.py --tensorboard           # logs into logs/ in the run's folder
    tensorboard --logdir runs               # then open http://localhost:6006

Each model logs into its own sub-folder (logs/dnn, logs/cnn) of its run's folder,
which TensorBoard shows as runs, so the models' curves overlay in one chart per
metric, and --logdir runs shows every run beside the others. A model
with convolutions also logs, once per epoch, what its Conv2D and MaxPooling2D
layers make of one fixed test image: the filters sharpening as training goes on.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from data import CLASS_NAMES

PROBE_IMAGE = 0  # an ankle boot of the test set, the first image of visualize.py's figures
TILE = 56  # pixels: each feature map is enlarged to about this size, so 26x26 and 5x5 maps read alike
EVENT_FILES = "events.out.tfevents.*"


def probe_image(test):
    """(image, caption) of the fixed test image whose feature maps are logged; test: data.Images."""
    return test.images[PROBE_IMAGE], f"test image {PROBE_IMAGE}: {CLASS_NAMES[test.labels[PROBE_IMAGE]]}"


def callbacks(log_dir, probe=None, fresh=True):
    """Keras' TensorBoard callback, and the feature-map images of `probe` (image, caption).

    fresh: a new run, so a previous run's event files in log_dir are removed; without
    that TensorBoard would draw both runs' epochs as one zigzagging curve. A resumed
    run keeps them and adds the epochs it trains.
    """
    if fresh:
        for old in log_dir.glob(f"*/{EVENT_FILES}"):
            old.unlink()
    # No graph and no steps/s: the scalars a learner compares, light to write.
    scalars = keras.callbacks.TensorBoard(str(log_dir), write_graph=False, write_steps_per_second=False)
    return [scalars] if probe is None else [scalars, FeatureMapImages(log_dir / "feature_maps", *probe)]


class FeatureMapImages(keras.callbacks.Callback):
    """Once per epoch, one TensorBoard image per Conv2D and MaxPooling2D layer: its maps of one image.

    Does nothing for a model without such layers (the dnn).
    """

    def __init__(self, log_dir, image, caption):
        super().__init__()
        self.log_dir, self.caption = log_dir, caption
        self.image = image[None, ..., None]  # a batch of one (1, 28, 28, 1), uint8 as the model takes it
        self.layers = []

    def on_train_begin(self, logs=None):
        self.layers = [layer for layer in self.model.layers
                       if isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D))]
        if not self.layers:
            return
        self.extractor = keras.Model(self.model.inputs, [layer.output for layer in self.layers])
        logged_before = any(self.log_dir.glob(EVENT_FILES))  # a resumed run: the input is there already
        self.writer = tf.summary.create_file_writer(str(self.log_dir))
        if not logged_before:
            with self.writer.as_default():
                tf.summary.image("input", feature_map_grid(self.image[0]), step=0, description=self.caption)

    def on_epoch_end(self, epoch, logs=None):
        if not self.layers:
            return
        # training=False: random augmentation layers (cnn_plus) default to on when a model is called.
        maps = self.extractor([self.image], training=False)
        maps = maps if isinstance(maps, (list, tuple)) else [maps]  # Keras unwraps a list of one output
        with self.writer.as_default():
            for layer, layer_maps in zip(self.layers, maps):
                tf.summary.image(layer.name, feature_map_grid(layer_maps[0]), step=epoch,
                                 description=f"{layer.name} of {self.caption}, each map scaled to 0..1 on its own")
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.layers:
            self.writer.close()


def feature_map_grid(maps, gap=2):
    """A layer's maps (height, width, filters) as one grayscale image (1, H, W, 1) for tf.summary.image.

    Each map is scaled to 0..1 on its own (a weak filter's pattern stays visible) and
    enlarged to about TILE pixels; the maps fill a near-square grid with white gaps.
    """
    # float32: a mixed-precision model answers in bfloat16, which tf.summary.image refuses.
    maps = np.asarray(maps, dtype=np.float32)
    low, high = maps.min(axis=(0, 1)), maps.max(axis=(0, 1))
    maps = (maps - low) / np.where(high > low, high - low, 1)  # a constant map (a dead filter) is black
    zoom = max(1, TILE // maps.shape[0])
    maps = maps.repeat(zoom, axis=0).repeat(zoom, axis=1)
    height, width, count = maps.shape
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.ones((rows * (height + gap) - gap, columns * (width + gap) - gap), np.float32)
    for index in range(count):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[top:top + height, left:left + width] = maps[..., index]
    return grid[None, ..., None]
