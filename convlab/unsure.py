"""When predict.py says it is unsure of an answer: the rule, the statistics it needs, and its words.

A model must name one of its 10 classes for anything, a cat or a mug included, and often
does so with a high top probability. So the rule does not ask the softmax how sure it is;
it asks whether the image looks like the garments the model was trained on: the 128
values of the model's `dense` layer (the last layer before the classes, what the model
"sees" in the image) are compared with those of up to 10,000 training images, and the
mean cosine distance to the 10 nearest (the k-NN distance) is the score. Past the
threshold that only 8% of garment images exceed (training images, and the same images
as product photos through predict.py's preprocessing, the higher of the two), the answer
is called unsure. benchmarks/predict_unsure.py chose this rule among six signals, on
generated images of no garment (docs/predict.md).

The statistics (the training images' features and the garments' scores) are kept beside
the model, e.g. cnn_unsure.npz beside cnn.keras: a plain .npz that numpy reads, no
pickle, written by `python predict.py --save-statistics`. Without them, a Judge computes
them from the training data if at hand, for its own use only (predicting writes
nothing), else falls back to the softmax rule (top class below 75%).

numpy, Pillow (preprocess.py) and the model only.
"""

import os
import time
from pathlib import Path

import numpy as np

from convlab import preprocess
from convlab.data import DATA_DIR_ENV, DataError, cached_files, load_fashion_mnist

QUANTILE = 0.92  # of the garments' k-NN distances: past it, unsure
NEIGHBOURS = 10  # the k-NN distance: the mean cosine distance to the 10 nearest training images' features
REFERENCE_IMAGES = 10000  # training images whose features the k-NN distance compares with, at most
CALIBRATION_IMAGES = 2000  # training images (and as many photos of them) whose scores set the threshold
UNSURE_BELOW = 0.75  # the rule of a model with no statistics and no training data at hand: the softmax alone
BATCH = 1000  # images per call of the model

SIGNAL = "feature k-NN distance"  # the statistics' keys name it, as benchmarks/predict_unsure.py does
STATISTICS_SUFFIX = "_unsure.npz"
FORMAT = 3  # format 2 files hold the same arrays among others, and are read as well
READABLE_FORMATS = (2, 3)
CALIBRATION_KEYS = [f"calibration {group}: {SIGNAL}" for group in ("images", "photos")]
SAVE_COMMAND = "python predict.py --save-statistics --model {model_file}"

# What predict.py says: what the model saw, not which classes it knows.
UNSURE = "(unsure)"
UNSURE_WHY = (f"{UNSURE}: it looks like no garment the model was trained on: what the model sees in it is further "
              f"from the training garments than for {QUANTILE:.0%} of garment photos. It may be no garment at all, "
              "or one drawn, worn or photographed unlike the product photos the model learned from; "
              "the answer is a guess.")
UNSURE_WHY_SOFTMAX = (f"{UNSURE}: the model is not sure what it sees: its top class has less than {UNSURE_BELOW:.0%}. "
                      "It may be no garment at all, or one the model cannot tell apart from another.")
UNSURE_NOTE = f"{UNSURE} it looks like no garment the model was trained on"  # under a prediction in a figure
UNSURE_NOTE_SOFTMAX = f"{UNSURE} its top class is below {UNSURE_BELOW:.0%}"


class StatisticsError(Exception):
    """A statistics file that cannot be used; the message says what to do."""


def statistics_path(model_file):
    """Where the statistics of a model file are kept: cnn.keras -> cnn_unsure.npz beside it."""
    model_file = Path(model_file)
    return model_file.with_name(model_file.stem + STATISTICS_SUFFIX)


def softmax_unsure(probabilities):
    """The fallback rule: True where the top class is below UNSURE_BELOW. probabilities: (..., 10)."""
    return np.asarray(probabilities).max(axis=-1) < UNSURE_BELOW


def in_batches(model, images):
    """The outputs of a model of one input for uint8 images (N, 28, 28), BATCH images at a time, as float32 arrays.

    The layers are called directly, not through model.predict: no tf.function is traced,
    so however many calls of whatever size, TensorFlow has nothing to retrace.
    """
    import keras

    images = np.asarray(images, np.uint8)[..., None]
    model = keras.Model(model.inputs[0], model.outputs if len(model.outputs) > 1 else model.outputs[0])  # one tensor in
    batches = [model(images[start:start + BATCH], training=False) for start in range(0, len(images), BATCH)]
    if not isinstance(batches[0], (list, tuple)):
        return np.concatenate([keras.ops.convert_to_numpy(batch) for batch in batches]).astype(np.float32)
    return [np.concatenate([keras.ops.convert_to_numpy(batch[index]) for batch in batches]).astype(np.float32)
            for index in range(len(batches[0]))]


class Features:
    """What a model sees in images, its `dense` features, beside what it answers, built once per model.

    For cnn_plus the answer averages the mirror image's (model.with_mirror), while the
    features are the network's for the image itself (saved_models.network). A
    mixed-precision model is judged as predict.py loads it, in float32.
    """

    def __init__(self, model):
        import keras

        from convlab.hardware import float32_copy
        from convlab.saved_models import network

        model = float32_copy(model)
        inside = network(model)
        try:
            dense = inside.get_layer("dense")
        except ValueError:
            raise StatisticsError(f"the model {model.name} has no layer named 'dense', "
                                  "as every model of this project has") from None
        features = dense.output if inside is model else keras.Model(inside.inputs, dense.output)(model.inputs[0])
        self.model = keras.Model(model.inputs, [features, *model.outputs])
        self.size = dense.units

    def __call__(self, images):
        """The features (N, d) and the model's class probabilities (N, 10) for uint8 images (N, 28, 28)."""
        return in_batches(self.model, images)


def unit(vectors):
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


def knn_distance(features, reference):
    """1 - the mean cosine similarity of each feature vector (N, d) to its NEIGHBOURS nearest of `reference`
    (unit vectors, (M, d)): 0 for an image among the training garments, higher the further it is from them."""
    similarity = unit(features) @ np.asarray(reference, np.float32).T
    neighbours = min(NEIGHBOURS, similarity.shape[1])
    nearest = np.partition(similarity, similarity.shape[1] - neighbours, axis=1)[:, -neighbours:]
    return 1 - nearest.mean(axis=1)


def calibration_split(images, calibration=None):
    """Training images (uint8 (N, 28, 28)) drawn apart, the same way each time: `calibration` garments
    (CALIBRATION_IMAGES unless given) whose scores set the threshold, at most a third of them, and up to
    REFERENCE_IMAGES others to compare with."""
    images = np.asarray(images, np.uint8)
    calibration = CALIBRATION_IMAGES if calibration is None else calibration
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) < 100:
        raise StatisticsError(f"need at least 100 training images of 28x28, got an array of shape {images.shape}")
    order = np.random.default_rng(0).permutation(len(images))
    calibration = min(calibration, len(images) // 3)
    return images[order[:calibration]], images[order[calibration:][:REFERENCE_IMAGES]]


def fit_statistics(features, images, calibration=None):
    """The statistics of a model (its Features) on its training images, uint8 (N, 28, 28): a dict of arrays.

    The features of up to REFERENCE_IMAGES of the images, and the k-NN distances of
    `calibration` others (CALIBRATION_IMAGES unless given; an image is its own nearest
    neighbour) and of the same as product photos, through predict.py's preprocessing.
    """
    garments, reference = calibration_split(images, calibration)
    reference_features = unit(features(reference)[0]).astype(np.float16)
    photos = np.stack([preprocess.to_fashion_mnist(preprocess.as_product_photo(image)) for image in garments])
    statistics = {"format": np.array(FORMAT), "reference_features": reference_features,
                  "training_images": np.array(len(garments) + len(reference))}
    for key, group in zip(CALIBRATION_KEYS, (garments, photos)):
        statistics[key] = knn_distance(features(group)[0], reference_features).astype(np.float32)
    return statistics


def write_statistics(statistics, path):
    """Write fitted statistics to `path` (.npz), whole or not at all; returns the path."""
    from convlab import files

    path = Path(path)
    with files.atomic_path(path) as temporary:
        with open(temporary, "wb") as file:  # a file object: np.savez would add .npz to the temporary name
            np.savez(file, **statistics)
    return path


def load_statistics(path):
    """The statistics saved at `path`; StatisticsError, saying what is wrong, if it is not such a file."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            statistics = {key: saved[key] for key in saved.files}
    except FileNotFoundError:
        raise StatisticsError(f"no statistics file at {path}") from None
    except Exception:  # not a zip, damaged, pickled objects: numpy raises many kinds
        raise StatisticsError(f"{path} is not a statistics file that numpy can read") from None
    needed = ["format", "reference_features", *CALIBRATION_KEYS]
    missing = [key for key in needed if key not in statistics]
    if missing or int(statistics["format"]) not in READABLE_FORMATS:
        raise StatisticsError(f"{path} is not a statistics file of this version of convlab "
                              f"(missing: {', '.join(missing) or 'none'}; format {statistics.get('format')})")
    return {key: statistics[key] for key in needed}


def threshold(statistics, quantile=QUANTILE):
    """The k-NN distance past which an image is unsure: the `quantile` of the training garments' distances
    and of their photos', the higher."""
    return max(float(np.quantile(statistics[key], quantile)) for key in CALIBRATION_KEYS)


def local_training_images(data_dir=None):
    """Fashion-MNIST's training images if they are on this machine (never downloaded), else None."""
    if not data_dir and not os.environ.get(DATA_DIR_ENV) and cached_files() is None:
        return None
    try:
        train, _ = load_fashion_mnist(data_dir)
    except DataError:
        return None
    return train.images


class Judge:
    """Tells, for a model, which images it should be unsure of; `note` says how, if not the usual way.

    It reads the statistics beside the model file; without them (or with a file it cannot
    use) it computes them from the training data if at hand, for this Judge only, and its
    note gives the command that saves them; else it falls back to the softmax rule.
    """

    def __init__(self, model, model_file, data_dir=None):
        self.model, self.note, self.statistics, self.features = model, None, None, None
        softmax_rule = f"{UNSURE} falls back to the top class below {UNSURE_BELOW:.0%}"
        try:
            self.features = Features(model)
        except StatisticsError as error:
            self.note = f"{error}: {softmax_rule}."
            return
        path = statistics_path(model_file)
        if path.is_file():
            try:
                self.statistics = load_statistics(path)
                if self.statistics["reference_features"].shape[1] != self.features.size:
                    raise StatisticsError(f"{path} holds the statistics of another model")
                self.threshold = threshold(self.statistics)
                return
            except StatisticsError as error:
                self.statistics, problem = None, str(error)
        else:
            problem = f"no {path.name} beside the model"
        images = local_training_images(data_dir)
        if images is None:
            self.note = f"{problem}, and no training data at hand: {softmax_rule}."
            return
        started = time.perf_counter()
        self.statistics = fit_statistics(self.features, images)
        self.threshold = threshold(self.statistics)
        images = int(self.statistics["training_images"])
        self.note = (f"{problem}: computed its statistics from {images:,} training images "
                     f"({time.perf_counter() - started:.0f} s) for this run; "
                     f"`{SAVE_COMMAND.format(model_file=model_file)}` saves them beside it.")

    @property
    def why(self):
        """The sentence under predict.py's table when an answer is unsure."""
        return UNSURE_WHY if self.statistics is not None else UNSURE_WHY_SOFTMAX

    @property
    def figure_note(self):
        """The line under an unsure prediction in predict.py's figure."""
        return UNSURE_NOTE if self.statistics is not None else UNSURE_NOTE_SOFTMAX

    def __call__(self, images):
        """Class probabilities (N, 10) and unsure (N,) bool, for uint8 images (N, 28, 28)."""
        if self.features is None:
            probabilities = in_batches(self.model, images)
            return probabilities, softmax_unsure(probabilities)
        features, probabilities = self.features(images)
        if self.statistics is None:
            return probabilities, softmax_unsure(probabilities)
        return probabilities, knn_distance(features, self.statistics["reference_features"]) > self.threshold
