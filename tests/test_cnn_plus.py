"""The stronger CNN: it learns, its augmentation touches training batches only, it answers with its mirror,
and its experiments' variants start from the very same model."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from convlab import feature_maps
from convlab.saved_models import load_model, network
from helpers import run_script
from model import build_model, with_mirror

# A Python that imports nothing of this project: what a user's own script does with a saved model.
# Batches of 128, as train.py evaluates: in bfloat16 another batch size can round a near tie the other way.
PLAIN_KERAS = """
import sys, keras, numpy as np
model = keras.models.load_model(sys.argv[1])
images = np.load(sys.argv[2])
np.save(sys.argv[3], model.predict(images, batch_size=128, verbose=0))
(network,) = [layer for layer in model.layers if isinstance(layer, keras.Model)]  # the network inside
for path, views in ((sys.argv[4], images), (sys.argv[5], images[:, :, ::-1])):
    np.save(path, network.predict(views, batch_size=128, verbose=0))
"""


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


def test_augmentation_changes_training_images_by_whole_pixels(fashion_mnist):
    images = fashion_mnist[0][0][:64, ..., None]
    before, after = before_and_after_augmentation(build_model("cnn_plus"), images, training=True)
    changed = np.abs(after - before).max(axis=(1, 2, 3))
    assert (changed > 0.1).mean() > 0.5  # most images shifted or flipped
    # Whole-pixel shifts blend no neighbours: every pixel is one of the image's own, or the black fill.
    for image, augmented in zip(before, after):
        assert np.isin(augmented, np.append(image, 0)).all()


@pytest.mark.slow  # about 60 s: run with `python -m pytest -m slow` (CI does)
def test_cnn_plus_learns_on_a_subset_and_is_saved_with_its_mirror(tmp_path, fashion_mnist):
    result = run_script("train.py", "--models", "cnn_plus", "--limit", "4000", "--validation-size", "1000",
                        "--epochs", "2", "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    cnn_plus = json.loads((tmp_path / "results.json").read_text())["models"]["cnn_plus"]
    assert cnn_plus["parameters"] <= 1_500_000
    assert cnn_plus["test_accuracy"] > 0.65, cnn_plus["test_accuracy"]  # chance is 0.10

    # Plain keras.models.load_model(...).predict on raw uint8 images gives the reported test accuracy ...
    images, labels = fashion_mnist[1]
    np.save(tmp_path / "images.npy", images[..., None])
    outputs = [tmp_path / f"{name}.npy" for name in ("answers", "own", "mirrored")]
    subprocess.run([sys.executable, "-c", PLAIN_KERAS, tmp_path / "cnn_plus.keras", tmp_path / "images.npy",
                    *outputs], cwd=tmp_path, check=True, capture_output=True)
    answers, own, mirrored = (np.load(path) for path in outputs)
    assert np.sum(answers.argmax(axis=1) == labels) == round(cnn_plus["test_accuracy"] * len(labels))
    # ... each answer is the mean of the network's for the image and for its left-right mirror ...
    np.testing.assert_allclose(answers, (own + mirrored) / 2, atol=1e-5)
    assert (own.argmax(axis=1) != mirrored.argmax(axis=1)).any()  # the mirror changes answers: a real check
    # ... and results.json records the network's own accuracy beside it.
    assert np.sum(own.argmax(axis=1) == labels) == round(cnn_plus["test_accuracy_without_mirror"] * len(labels))


def test_a_mixed_precision_cnn_plus_loads_in_float32_inside_its_mirror(tmp_path, fashion_mnist):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # as train.py saves it on AVX512_BF16 CPUs
    try:
        model = with_mirror(build_model("cnn_plus"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.save(tmp_path / "cnn_plus.keras")
    loaded = load_model(tmp_path / "cnn_plus.keras")
    assert {layer.dtype_policy.name for layer in [*loaded.layers, *network(loaded).layers]} == {"float32"}
    images = fashion_mnist[1][0][:64, ..., None]
    answers = loaded.predict(images, verbose=0)
    assert answers.dtype == np.float32
    np.testing.assert_allclose(answers, model.predict(images, verbose=0), atol=0.02)  # bfloat16's rounding


def test_feature_maps_are_the_networks_for_the_image_itself(fashion_mnist):
    keras.utils.set_random_seed(0)
    model = with_mirror(build_model("cnn_plus"))
    images = fashion_mnist[1][0][:8]
    layers = feature_maps.feature_layers(model)
    assert [layer.name for layer in layers] == ["conv_1", "pool_1", "conv_2a", "conv_2b", "pool_2", "conv_3", "pool_3"]
    maps, probabilities = feature_maps.extract(model, layers, images)
    assert maps["conv_1"].shape == (8, 28, 28, 24) and maps["pool_3"].shape == (8, 3, 3, 96)
    first_conv = keras.Model(network(model).inputs, network(model).get_layer("conv_1").output)
    np.testing.assert_allclose(maps["conv_1"], first_conv([images[..., None]], training=False), atol=1e-5)
    np.testing.assert_allclose(probabilities, model.predict(images[..., None], verbose=0), atol=1e-6)


def test_the_experiments_without_flags_build_the_very_model_train_py_trains():
    from benchmarks import cnn_plus_experiments as experiments

    recipe, variant = build_model("cnn_plus"), experiments.variant(**experiments.RECIPE)
    assert variant.get_config() == recipe.get_config()  # every layer, its name, settings and inputs
    assert variant.count_params() == recipe.count_params() == 297_666
    # A lever moved is a model changed: the comparison above can fail.
    assert experiments.variant(interpolation="bilinear").get_config() != recipe.get_config()
    assert experiments.variant(conv3b=True).count_params() == 380_994  # docs/cnn_plus.md's conv3b at width 0.75
