"""When predict.py says it is unsure of an answer: the rule, the statistics it needs, and its words.

A model must name one of its 10 classes for anything, a cat or a mug included, and often
does so with a high top probability. So the rule does not ask the softmax how sure it is;
it asks whether the image looks like the garments the model was trained on: the 128
values of the model's `dense` layer (the last layer before the classes, what the model
"sees" in the image) are compared with those of up to 10,000 training images, and the
mean cosine distance to the 10 nearest (the k-NN distance) is the score. A threshold
that only 8% of garment images exceed (training images, and the same images as product
photos through predict.py's preprocessing, the higher of the two) separates the garments
from the rest; past it the answer is called unsure.

SIGNALS lists the other signals benchmarks/predict_unsure.py measures against it (the
top probability, the energy, the Mahalanobis and cosine distance to the class means, the
pixels' PCA reconstruction error); RULE is the one it chose on generated images of no
garment (docs/predict.md), and flagged() takes any of them.

The statistics (reference features, class means, the pixel patterns, the garments'
scores) are saved beside the model by save_statistics, e.g. cnn_unsure.npz beside
cnn.keras; a plain .npz that numpy reads, no pickle. `python -m convlab.unsure MODEL`
writes them for a saved model. Without them, predict.py computes them from the training
data if at hand (once: it saves them beside the model), else falls back to the softmax
rule (top class below 75%).

Used by predict.py and benchmarks/predict_unsure.py. numpy, Pillow and the model only.
"""

import os
import time
from pathlib import Path

import numpy as np

from convlab import preprocess
from convlab.data import DATA_DIR_ENV, NUM_CLASSES, DataError, cached_files, load_fashion_mnist

# --- the rule ----------------------------------------------------------------------------

# Signals that call an image unsure, each past the share QUANTILE of the garment images'
# scores. Chosen with benchmarks/predict_unsure.py on generated non-garments of some kinds,
# and reported on the others too (docs/predict.md).
RULE = ("feature k-NN distance",)
QUANTILE = 0.92
# The rule of a model with no statistics and no training data at hand: the softmax alone.
UNSURE_BELOW = 0.75

SIGNALS = ("top probability", "energy", "feature Mahalanobis distance", "feature cosine distance",
           "feature k-NN distance", "pixel reconstruction error")
NEIGHBOURS = 10  # the k-NN distance: the mean cosine distance to the 10 nearest training images' features
REFERENCE_IMAGES = 10000  # training images whose features the k-NN distance compares with, at most
PIXEL_COMPONENTS = 40  # PCA patterns of the training pixels
FIT_IMAGES = 20000  # training images the statistics are fitted on, at most
CALIBRATION_IMAGES = 2000  # garment images (and as many photos of them) whose scores set the thresholds
FALLBACK_TRAINING_IMAGES = 10000  # training images predict.py uses when no statistics file is saved
STATISTICS_SUFFIX = "_unsure.npz"
FORMAT = 2

UNSURE = "(unsure)"
UNSURE_WHY = (f"{UNSURE}: it looks like no garment the model was trained on (what the model sees in it is further "
              f"from the training garments than for {QUANTILE:.0%} of garment photos). The model can only choose "
              f"among its {NUM_CLASSES} classes of clothing, so this may be none of them.")
UNSURE_WHY_SOFTMAX = (f"{UNSURE}: its top class has less than {UNSURE_BELOW:.0%}. The model can only choose among "
                      f"its {NUM_CLASSES} classes of clothing, so this may be none of them, or one it cannot "
                      "tell apart.")


class StatisticsError(Exception):
    """A statistics file that cannot be used; the message says what to do."""


def statistics_path(model_file):
    """Where the statistics of a model file are kept: cnn.keras -> cnn_unsure.npz beside it."""
    model_file = Path(model_file)
    return model_file.with_name(model_file.stem + STATISTICS_SUFFIX)


def softmax_unsure(probabilities):
    """The fallback rule: True where the top class is below UNSURE_BELOW. probabilities: (..., 10)."""
    return np.asarray(probabilities).max(axis=-1) < UNSURE_BELOW


# --- the statistics ----------------------------------------------------------------------


def _feature_model(model):
    """A model from the image to the network's `dense` features and to the model's answer; the last layer's weights.

    For cnn_plus the answer averages the mirror image's (model.with_mirror), while the
    features are the network's for the image itself (saved_models.network).
    """
    import keras

    from convlab.saved_models import network

    inside = network(model)
    try:
        dense, head = inside.get_layer("dense"), inside.get_layer("predictions")
    except ValueError:
        raise StatisticsError(f"the model {model.name} has no layers named 'dense' and 'predictions', "
                              "as every model of this project has") from None
    features = dense.output if inside is model else keras.Model(inside.inputs, dense.output)(model.inputs[0])
    return keras.Model(model.inputs, [features, *model.outputs]), [w.astype(np.float32) for w in head.get_weights()]


def _features(feature_model, images):
    """The features (N, d) and the model's answers (N, 10) for uint8 images (N, 28, 28)."""
    images = np.asarray(images, np.uint8)
    features, answers = feature_model.predict(images[..., None], batch_size=1024, verbose=0)
    return np.asarray(features, np.float32), np.asarray(answers, np.float32)


def _unit(vectors):
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


def fit_statistics(model, images, labels, calibration=CALIBRATION_IMAGES):
    """The statistics of `model` on its training images (uint8 (N, 28, 28)) and labels: a dict of arrays.

    Class means and a shared covariance of the `dense` features and the pixels' PCA patterns,
    from at most FIT_IMAGES of the images; every signal's scores on `calibration` of them and
    on the same as product photos.
    """
    images, labels = np.asarray(images, np.uint8), np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels) or len(images) < 100:
        raise StatisticsError(f"need at least 100 training images of 28x28 and one label each, got images of "
                              f"shape {images.shape} and {len(labels)} labels")
    missing = sorted(set(range(NUM_CLASSES)) - set(np.unique(labels).tolist()))
    if missing:
        raise StatisticsError(f"the training labels hold no image of the classes {missing}")
    from convlab.hardware import float32_copy

    model = float32_copy(model)  # as predict.py loads it: a mixed-precision model's features in float32
    if len(images) > FIT_IMAGES:  # plenty for 10 means and a 128x128 covariance, and quick after training
        keep = np.sort(np.random.default_rng(0).permutation(len(images))[:FIT_IMAGES])
        images, labels = images[keep], labels[keep]
    feature_model, _ = _feature_model(model)
    features, _ = _features(feature_model, images)
    means = np.stack([features[labels == c].mean(axis=0) for c in range(NUM_CLASSES)])
    centred = features - means[labels]
    covariance = centred.T @ centred / len(features)
    covariance += 1e-3 * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255
    pixel_mean = pixels.mean(axis=0)
    _, _, patterns = np.linalg.svd(pixels - pixel_mean, full_matrices=False)
    statistics = {"format": np.array(FORMAT), "class_means": means.astype(np.float32),
                  "precision": np.linalg.inv(covariance).astype(np.float32),
                  "pixel_mean": pixel_mean, "pixel_patterns": patterns[:PIXEL_COMPONENTS].astype(np.float32)}
    # The k-NN reference and the calibration images are apart: an image is its own nearest neighbour.
    order = np.random.default_rng(0).permutation(len(images))
    calibration = min(calibration, len(images) // 3)
    garments, reference = images[order[:calibration]], order[calibration:][:REFERENCE_IMAGES]
    statistics["reference_features"] = _unit(features[reference]).astype(np.float16)
    photos = np.stack([preprocess.to_fashion_mnist(preprocess.as_product_photo(image)) for image in garments])
    for name, group in (("images", garments), ("photos", photos)):
        _, scores = signals(model, group, statistics)
        for signal, values in scores.items():
            statistics[f"calibration {name}: {signal}"] = values.astype(np.float32)
    return statistics


def save_statistics(model, images, labels, path):
    """Fit the statistics (fit_statistics) and write them to `path` (.npz); returns the path.

    train.py can call it after saving each model: the file beside the model, as statistics_path names it.
    """
    return write_statistics(fit_statistics(model, images, labels), path)


def write_statistics(statistics, path):
    """Write fitted statistics to `path` (.npz), whole or not at all; returns the path."""
    from convlab import files

    path = Path(path)
    with files.atomic_path(path) as temporary:
        with open(temporary, "wb") as file:  # a file object: np.savez would add .npz to the temporary name
            np.savez(file, **statistics)
    return path


def load_statistics(path):
    """The statistics saved at `path`; StatisticsError if it is not such a file."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            statistics = {key: saved[key] for key in saved.files}
    except FileNotFoundError:
        raise StatisticsError(f"no statistics file at {path}") from None
    except Exception:  # not a zip, damaged, pickled objects: numpy raises many kinds
        raise StatisticsError(f"{path} is not a statistics file that numpy can read") from None
    needed = ["format", "class_means", "precision", "pixel_mean", "pixel_patterns", "reference_features",
              *(f"calibration {name}: {signal}" for name in ("images", "photos") for signal in SIGNALS)]
    missing = [key for key in needed if key not in statistics]
    if missing or int(statistics["format"]) != FORMAT:
        raise StatisticsError(f"{path} is not a statistics file of this version of convlab "
                              f"(missing: {', '.join(missing) or 'none'}; format {statistics.get('format')})")
    return statistics


def thresholds(statistics, quantile=QUANTILE, signals_used=RULE):
    """Each signal's threshold: the `quantile` of the garment images' and of their photos' scores, the higher."""
    return {signal: max(float(np.quantile(statistics[f"calibration {name}: {signal}"], quantile))
                        for name in ("images", "photos"))
            for signal in signals_used}


# --- scoring -----------------------------------------------------------------------------


def signals(model, images, statistics):
    """The model's class probabilities (N, 10) and {signal: score (N,)}, a high score meaning unlike the garments.

    The signals are the network's, for the image itself (saved_models.network).

    images: uint8 (N, 28, 28), as the model receives them.
    """
    images = np.asarray(images, np.uint8)
    feature_model, (weights, bias) = _feature_model(model)
    features, answers = _features(feature_model, images)
    logits = features @ weights + bias  # the network's own, for the image itself
    top_logit = logits.max(axis=1, keepdims=True)
    exp = np.exp(logits - top_logit)
    probabilities = exp / exp.sum(axis=1, keepdims=True)
    apart = features[:, None, :] - statistics["class_means"][None]
    mahalanobis = np.einsum("nkd,de,nke->nk", apart, statistics["precision"], apart).min(axis=1)
    unit = _unit(features)
    cosine = 1 - (unit @ _unit(statistics["class_means"]).T).max(axis=1)
    similarity = unit @ statistics["reference_features"].astype(np.float32).T
    neighbours = min(NEIGHBOURS, similarity.shape[1])
    nearest = np.partition(similarity, similarity.shape[1] - neighbours, axis=1)[:, -neighbours:]
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255 - statistics["pixel_mean"]
    patterns = statistics["pixel_patterns"]
    leftover = pixels - (pixels @ patterns.T) @ patterns
    return answers, {
        "top probability": 1 - probabilities.max(axis=1),
        "energy": -(top_logit[:, 0] + np.log(exp.sum(axis=1))),
        "feature Mahalanobis distance": np.sqrt(np.maximum(mahalanobis, 0)),
        "feature cosine distance": cosine,
        "feature k-NN distance": 1 - nearest.mean(axis=1),
        "pixel reconstruction error": np.sqrt((leftover ** 2).mean(axis=1)),
    }


def flagged(scores, statistics, quantile=QUANTILE, signals_used=RULE):
    """True where any signal of the rule is past its threshold. scores: {signal: (N,)} from signals()."""
    limits = thresholds(statistics, quantile, signals_used)
    return np.any([scores[signal] > limits[signal] for signal in signals_used], axis=0)


# --- for predict.py ----------------------------------------------------------------------


def local_training_data(data_dir=None):
    """The training images and labels if they are on this machine (never downloaded), else None."""
    if not data_dir and not os.environ.get(DATA_DIR_ENV) and cached_files() is None:
        return None
    try:
        train, _ = load_fashion_mnist(data_dir)
    except DataError:
        return None
    return train.images, train.labels


class Judge:
    """Tells, for a model, which images it should be unsure of; `note` says how, if not the usual way."""

    def __init__(self, model, model_file, data_dir=None):
        self.model, self.note, self.statistics = model, None, None
        softmax_rule = f"{UNSURE} falls back to the top class below {UNSURE_BELOW:.0%}"
        try:
            feature_model, _ = _feature_model(model)
        except StatisticsError as error:
            self.note = f"{error}: {softmax_rule}."
            return
        path = statistics_path(model_file)
        if path.is_file():
            try:
                self.statistics = load_statistics(path)
                if self.statistics["class_means"].shape[1] != feature_model.outputs[0].shape[-1]:
                    raise StatisticsError(f"{path} holds the statistics of another model")
                return
            except StatisticsError as error:
                self.statistics, problem = None, str(error)
        else:
            problem = f"no {path.name} beside the model"
        training = local_training_data(data_dir)
        if training is None:
            self.note = f"{problem}, and no training data at hand: {softmax_rule}."
            return
        started = time.perf_counter()
        images, labels = (array[:FALLBACK_TRAINING_IMAGES] for array in training)
        self.statistics = fit_statistics(self.model, images, labels, calibration=1000)
        self.note = (f"{problem}: computed its statistics from {len(images):,} training images "
                     f"({time.perf_counter() - started:.0f} s)")
        try:  # once: the next predict.py with this model reads them
            write_statistics(self.statistics, path)
            self.note += f", saved as {path.name} beside it for next time."
        except OSError as error:
            self.note += f"; could not save them beside the model ({error.strerror or error})."

    @property
    def why(self):
        return UNSURE_WHY if self.statistics is not None else UNSURE_WHY_SOFTMAX

    def __call__(self, images):
        """Class probabilities (N, 10) and unsure (N,) bool, for uint8 images (N, 28, 28)."""
        images = np.asarray(images, np.uint8)
        if self.statistics is None:
            probabilities = np.asarray(self.model.predict(images[..., None], verbose=0), np.float32)
            return probabilities, softmax_unsure(probabilities)
        probabilities, scores = signals(self.model, images, self.statistics)
        return probabilities, flagged(scores, self.statistics)


def main(argv=None):
    """python -m convlab.unsure MODEL: write the statistics of a model that has none beside it."""
    import argparse
    import sys

    from convlab.data import DATA_DIR_HELP, VALIDATION_SIZE, load_splits
    from convlab.tensorflow_startup import import_tensorflow

    import_tensorflow()  # before recipe.py loads Keras: without TensorFlow's start-up notices
    from convlab.recipe import SEED
    from convlab.saved_models import ModelFileError, existing_model_file, load_model

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model", type=Path, help="a .keras model saved by train.py")
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    parser.add_argument("--seed", type=int, default=SEED, help="the --seed the model was trained with, for its "
                        "training split (default: train.py's, %(default)s)")
    args = parser.parse_args(argv)
    try:
        fix = "Pass the path of a .keras model saved by train.py, e.g. runs/RUN/cnn.keras."
        model = load_model(existing_model_file(args.model, fix), fix)
        data = load_splits(args.data_dir, VALIDATION_SIZE, args.seed)
        path = save_statistics(model, data.train.images, data.train.labels, statistics_path(args.model))
    except (DataError, ModelFileError, StatisticsError) as error:
        sys.exit(f"error: {error}")
    except OSError as error:
        sys.exit(f"error: cannot write {statistics_path(args.model)}: {error.strerror or error}")
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
