"""The stronger CNN: it learns, and its augmentation touches training batches only."""

import json

import keras
import numpy as np

from conftest import run_script
from model import build_model


def before_and_after_augmentation(model, images, training):
    """The images as rescaled, and as the first conv layer receives them after augmentation."""
    layers = keras.Model(model.inputs, [model.get_layer("rescale").output, model.get_layer("random_shift").output])
    return [keras.ops.convert_to_numpy(x) for x in layers([images], training=training)]


def test_augmentation_never_touches_evaluation_images(fashion_mnist):
    model = build_model("cnn_plus")
    images = fashion_mnist[1][0][:64, ..., None]
    # predict(), evaluate() and validation inside fit() all call the model with training=False.
    np.testing.assert_array_equal(*before_and_after_augmentation(model, images, training=False))
    np.testing.assert_array_equal(model.predict(images, verbose=0), model.predict(images, verbose=0))


def test_augmentation_changes_training_images(fashion_mnist):
    images = fashion_mnist[0][0][:64, ..., None]
    before, after = before_and_after_augmentation(build_model("cnn_plus"), images, training=True)
    changed = np.abs(after - before).max(axis=(1, 2, 3))
    assert (changed > 0.1).mean() > 0.5  # most images shifted or flipped


def test_cnn_plus_learns_on_a_subset(tmp_path):
    result = run_script("train.py", "--models", "cnn_plus", "--limit", "4000", "--validation-size", "1000",
                        "--epochs", "2", "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    cnn_plus = json.loads((tmp_path / "results.json").read_text())["models"]["cnn_plus"]
    assert cnn_plus["parameters"] <= 1_500_000
    assert cnn_plus["test_accuracy"] > 0.65, cnn_plus["test_accuracy"]  # chance is 0.10
