"""TensorBoard for train.py --tensorboard: per-epoch scalars, and the CNN's feature maps as images.

    python train.py --tensorboard           # logs into logs/ in the run's folder
    tensorboard --logdir runs               # then open http://localhost:6006

Each model logs into its own sub-folder (logs/dnn, logs/cnn) of its run's folder,
which TensorBoard shows as runs, so the models' curves overlay in one chart per
metric, and --logdir runs shows every run beside the others. A model
with convolutions also logs, once per epoch, what its Conv2D and MaxPooling2D
layers make of one fixed test image: the filters sharpening as training goes on.
"""

import importlib.util

import keras
import tensorflow as tf

from convlab import feature_maps, files
from convlab.data import CLASS_NAMES
from convlab.hardware import float32_copy
from convlab.recipe import TrainingError

PROBE_IMAGE = 0  # an ankle boot of the test set, the first image of visualize.py's figures
TILE = 56  # pixels: each feature map is enlarged to about this size, so 26x26 and 5x5 maps read alike
EVENT_FILES = "events.out.tfevents.*"


class LogDirError(TrainingError):
    """TensorBoard's logs cannot be written; the message says what to do."""


def check_log_dir(log_dir):
    """Refuse --tensorboard before any work if its logs cannot be written."""
    if importlib.util.find_spec("tensorboard") is None:
        raise LogDirError("--tensorboard needs the tensorboard package, which TensorFlow 2.21 no longer "
                          "installs: pip install -r requirements.txt")
    problem = files.folder_problem(log_dir)
    if problem:
        raise LogDirError(f"cannot write TensorBoard logs to {log_dir}: {problem}.\n"
                          "Pass --tensorboard DIR with a folder you can write to.")


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
        self.image = image[None]  # a batch of one (1, 28, 28), uint8 as the model takes it
        self.layers = []

    def on_train_begin(self, logs=None):
        self.layers = feature_maps.feature_layers(self.model)
        if not self.layers:
            return
        # Drawn from a float32 copy, given the trained weights each epoch: a mixed-precision
        # model answers in bfloat16, which tf.summary.image refuses.
        self.copy = float32_copy(self.model)
        self.layers = feature_maps.feature_layers(self.copy)
        logged_before = any(self.log_dir.glob(EVENT_FILES))  # a resumed run: the input is there already
        self.writer = tf.summary.create_file_writer(str(self.log_dir))
        if not logged_before:
            with self.writer.as_default():
                tf.summary.image("input", feature_map_grid(self.image[0, ..., None]), step=0,
                                 description=self.caption)

    def on_epoch_end(self, epoch, logs=None):
        if not self.layers:
            return
        self.copy.set_weights(self.model.get_weights())
        maps, _ = feature_maps.extract(self.copy, self.layers, self.image)
        with self.writer.as_default():
            for layer in self.layers:
                tf.summary.image(layer.name, feature_map_grid(maps[layer.name][0]), step=epoch,
                                 description=f"{layer.name} of {self.caption}, each map scaled to 0..1 on its own")
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.layers:
            self.writer.close()


def feature_map_grid(maps):
    """A layer's maps (height, width, filters) as one grayscale image (1, H, W, 1) for tf.summary.image.

    Each map is scaled to 0..1 on its own (a weak filter's pattern stays visible) and
    enlarged to about TILE pixels, so 26x26 and 5x5 maps read alike; white gaps between.
    """
    zoom = max(1, TILE // maps.shape[0])
    return feature_maps.mosaic(maps, gap=2, gap_value=1.0, zoom=zoom)[None, ..., None]
