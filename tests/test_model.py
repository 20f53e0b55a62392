"""The models have the documented architecture: the lesson's shapes, the README's parameter counts."""

import keras
import numpy as np
import pytest

from convlab.recipe import RECIPES
from model import build_model


@pytest.mark.parametrize("name, parameters", [("dnn", 101_770), ("cnn", 243_786), ("cnn_plus", 297_666)])
def test_parameter_counts_are_the_readmes(name, parameters):
    assert build_model(name).count_params() == parameters


def test_cnn_plus_stays_small():
    assert build_model("cnn_plus").count_params() <= 1_500_000


@pytest.mark.parametrize("name", RECIPES)
def test_every_model_maps_uint8_images_to_class_probabilities(name):
    model = build_model(name)
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1), dtype=np.uint8)
    probabilities = keras.ops.convert_to_numpy(model(images, training=False))
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_course_cnn_layers_shrink_the_image_as_the_lesson_says():
    model = build_model("cnn")
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["conv_1"] == (26, 26, 64) and shapes["pool_1"] == (13, 13, 64)
    assert shapes["conv_2"] == (11, 11, 64) and shapes["pool_2"] == (5, 5, 64)
    assert [layer.name for layer in model.layers][-3:] == ["flatten", "dense", "predictions"]


@pytest.mark.parametrize("filters, last_pool", [
    ((32,), (13, 13, 32)), ((16, 16), (5, 5, 16)), ((32, 32, 32), (1, 1, 32)),
])
def test_the_course_exercises_conv_stacks_shrink_the_image_block_by_block(filters, last_pool):
    model = build_model("cnn", conv_filters=filters)
    assert tuple(model.get_layer(f"pool_{len(filters)}").output.shape[1:]) == last_pool
