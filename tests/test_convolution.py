"""The hand-made convolution and max pooling: worked by hand, then against TensorFlow and Keras."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from convlab import convolution
from convlab.convolution import EDGES, FILTERS, HORIZONTAL_LINES, VERTICAL_LINES

rng = np.random.default_rng(0)
# (image shape, kernel shape): the course's 28x28 and 3x3, then shapes that catch swapped axes.
CONV_SHAPES = [((28, 28), (3, 3)), ((9, 13), (3, 3)), ((10, 7), (2, 4)), ((5, 5), (5, 5))]
POOL_SHAPES = [(28, 28), (26, 26), (13, 13), (7, 10), (2, 2)]


def tf_conv2d(image, kernel):
    """tf.nn.conv2d on one image with one channel and one filter, VALID padding."""
    output = tf.nn.conv2d(image[None, :, :, None], kernel[:, :, None, None], strides=1, padding="VALID")
    return output.numpy()[0, :, :, 0]


def keras_max_pool(image):
    output = keras.layers.MaxPooling2D(2, dtype="float32")(image[None, :, :, None])
    return keras.ops.convert_to_numpy(output)[0, :, :, 0]


# --- small examples a reader can check by hand --------------------------------------


def test_a_vertical_edge_lights_up_the_vertical_filter_only():
    dark_then_bright = np.array([[0, 0, 9, 9]] * 3)
    # Each window: rows (-1*0 + 1*9) + (-2*0 + 2*9) + (-1*0 + 1*9) = 36.
    assert convolution.convolve(dark_then_bright, VERTICAL_LINES).tolist() == [[36, 36]]
    # Every row is the same, so the top row (-1 -2 -1) cancels the bottom row (1 2 1).
    assert convolution.convolve(dark_then_bright, HORIZONTAL_LINES).tolist() == [[0, 0]]


def test_the_edge_filter_is_zero_on_flat_areas_and_not_on_a_spot():
    flat = np.full((3, 3), 7)
    spot = np.zeros((3, 3))
    spot[1, 1] = 1
    assert convolution.convolve(flat, EDGES).tolist() == [[0]]  # 4 x 7 - 4 x 7
    assert convolution.convolve(spot, EDGES).tolist() == [[-4]]


def test_max_pooling_keeps_the_largest_of_each_four():
    image = np.array([[1, 2, 5, 6],
                      [3, 4, 7, 8],
                      [0, 0, 1, 0],
                      [0, 9, 0, 0]])
    assert convolution.max_pool(image).tolist() == [[4, 8],
                                                    [9, 1]]


def test_uint8_pixels_do_not_wrap_around():
    """255 x -1 in uint8 would wrap to 1; the convolution computes in float."""
    image = np.full((3, 3), 255, np.uint8)
    assert convolution.convolve(image, -np.ones((3, 3))).tolist() == [[-9 * 255]]


# --- the loops against TensorFlow and Keras, on random inputs ------------------------


@pytest.mark.parametrize("image_shape, kernel_shape", CONV_SHAPES)
def test_convolve_equals_tf_conv2d(image_shape, kernel_shape):
    image = rng.normal(size=image_shape).astype(np.float32)
    kernel = rng.normal(size=kernel_shape).astype(np.float32)
    np.testing.assert_allclose(convolution.convolve(image, kernel), tf_conv2d(image, kernel), atol=1e-5)


@pytest.mark.parametrize("name", FILTERS)
def test_each_named_filter_equals_tf_conv2d(name):
    image = rng.uniform(0, 255, size=(28, 28)).astype(np.float32)
    kernel = FILTERS[name].astype(np.float32)
    # Pixels up to 255: the same float32 rounding is relatively 1e-5 of values in the hundreds.
    np.testing.assert_allclose(convolution.convolve(image, kernel), tf_conv2d(image, kernel), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("shape", POOL_SHAPES)
def test_max_pool_equals_keras_max_pooling2d_exactly(shape):
    image = rng.normal(size=shape).astype(np.float32)
    assert np.array_equal(convolution.max_pool(image), keras_max_pool(image))


@pytest.mark.parametrize("image_shape, kernel_shape", CONV_SHAPES)
def test_vectorised_convolution_equals_the_loops(image_shape, kernel_shape):
    image, kernel = rng.normal(size=image_shape), rng.normal(size=kernel_shape)
    np.testing.assert_allclose(convolution.convolve_fast(image, kernel), convolution.convolve(image, kernel),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", POOL_SHAPES)
def test_vectorised_pooling_equals_the_loops_exactly(shape):
    image = rng.normal(size=shape)
    assert np.array_equal(convolution.max_pool_fast(image), convolution.max_pool(image))


def test_filter_and_pool_follows_the_course_cnn_sizes():
    filtered, pooled = convolution.filter_and_pool(rng.uniform(0, 255, (28, 28)), EDGES)
    assert filtered.shape == (26, 26) and pooled.shape == (13, 13)
    assert filtered.min() >= 0  # the ReLU


# --- the worked example of --explain -------------------------------------------------


def number_after(text, label):
    line = next(line for line in text.splitlines() if label in line)
    return float(line.split(label)[1].split()[0])


@pytest.mark.parametrize("row, col", [(10, 12), (0, 0), (25, 25)])
def test_explain_shows_the_sum_that_convolve_computes(row, col):
    image = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    text = convolution.explain(image, VERTICAL_LINES, row, col, filter_name="vertical")
    assert number_after(text, "sum =") == convolution.convolve(image, VERTICAL_LINES)[row, col]
    assert text.count(" x ") == 9
    assert "cross-correlation" in text


def test_explain_pools_the_4x4_block_around_the_pixel():
    image = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    text = convolution.explain(image, EDGES, 25, 25)
    # The last even-aligned block that fits in 26x26, and the pooled pixels it becomes.
    assert "rows 22-25, columns 22-25" in text
    assert "pooled rows 11-12, columns 11-12" in text
    _, pooled = convolution.filter_and_pool(image, EDGES)
    # The 2x2 pooled grid is printed at the right end of the block's first two lines.
    printed = [line.split()[-2:] for line in text.splitlines()[-5:-3]]
    assert np.array_equal(np.array(printed, dtype=float), pooled[11:13, 11:13])
