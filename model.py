"""The models: a plain deep network, the course CNN, and a stronger CNN.

Builders only: no data, no files, no training (each model's recipe, its epochs and
learning rate, is convlab/recipe.py's). Every model takes raw uint8 images of shape (28, 28, 1), scales them to
[0, 1] itself (so the data can stay uint8 all the way into the model, and a saved
model needs no preprocessing recipe), starts with keras.Input, and names its layers
so that the feature maps can be read from `model.inputs` and `layer.output`.
The one place the models' layers are written: train.py, the notebook and the
benchmarks all build here, but for two measured peers (benchmarks/course.py, the
course's notebook as written; benchmarks/cnn_plus_experiments.py, cnn_plus's variants).
"""

import keras
from keras import layers, ops

from convlab.data import INPUT_SHAPE, NUM_CLASSES
from convlab.recipe import COURSE_CONV_FILTERS


def dense_classifier(x):
    """The classifier every model ends with: Flatten -> Dense 128 -> Dense 10.

    The softmax is kept in float32 so mixed precision never rounds the probabilities.
    """
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    return layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="predictions")(x)


def dnn():
    """The plain deep network: every pixel into one dense layer, no notion of space."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    return keras.Model(inputs, dense_classifier(x), name="dnn")


def cnn(conv_filters=COURSE_CONV_FILTERS):
    """The course CNN: [Conv2D 3x3 -> MaxPooling2D 2x2] per entry of conv_filters, then the DNN.

    Each 3x3 convolution trims a 1-pixel border, each pooling halves the size:
    28 -> 26 -> 13 -> 11 -> 5 -> 3 -> 1, so at most three blocks fit.
    """
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    for block, filters in enumerate(conv_filters, start=1):
        x = layers.Conv2D(filters, 3, activation="relu", name=f"conv_{block}")(x)
        x = layers.MaxPooling2D(2, name=f"pool_{block}")(x)
    return keras.Model(inputs, dense_classifier(x), name="cnn")


def conv_bn_relu(x, filters, name):
    """A 3x3 convolution that keeps the size, batch-normalised before its ReLU."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv_{name}")(x)
    # momentum 0.9 (Keras' default is 0.99): the running statistics that evaluation
    # uses settle within ~50 steps, so even a short run evaluates sensibly.
    x = layers.BatchNormalization(momentum=0.9, name=f"bn_{name}")(x)
    return layers.Activation("relu", name=f"relu_{name}")(x)


def cnn_plus():
    """A stronger CNN, still conv + pool blocks ahead of a dense classifier.

    What it adds to the course CNN, each for a reason: "same" padding so the edges
    of the garment are seen as often as its middle; a second convolution in the
    middle block to see 5x5 neighbourhoods before pooling; batch normalisation, so
    a high learning rate trains fast; dropout and training-only augmentation (left-right
    flips: a mirrored shirt is still a shirt; shifts by whole pixels, so strokes stay as
    sharp as in the test images) against the overfitting that caps the course CNN near
    92%. Its 24, 48, 48 and 96 filters are three quarters of a 32-64-64-128 stack, so
    that its 35 epochs cost the training FLOPs of 20 at full width: the trade that
    validated best. What each choice bought, and the variants measured against it:
    docs/cnn_plus.md.
    """
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    # Random layers act only inside fit(): validation and test images pass untouched.
    x = layers.RandomFlip("horizontal", name="random_flip")(x)
    x = layers.RandomTranslation(0.08, 0.08, fill_mode="constant", interpolation="nearest",  # up to 2 pixels
                                 name="random_shift")(x)
    x = conv_bn_relu(x, 24, "1")
    x = layers.MaxPooling2D(2, name="pool_1")(x)  # 28 -> 14
    x = conv_bn_relu(x, 48, "2a")
    x = conv_bn_relu(x, 48, "2b")
    x = layers.MaxPooling2D(2, name="pool_2")(x)  # 14 -> 7
    x = layers.Dropout(0.1, name="dropout_2")(x)
    x = conv_bn_relu(x, 96, "3")
    x = layers.MaxPooling2D(2, name="pool_3")(x)  # 7 -> 3
    x = layers.Dropout(0.1, name="dropout_3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, activation="relu", name="dense")(x)
    x = layers.Dropout(0.3, name="dropout_dense")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="cnn_plus")


def with_mirror(network):
    """The network's answer for an image averaged with its answer for the left-right mirror image.

    A mirrored shirt is still a shirt, and cnn_plus trains on both, so the two answers
    are two looks at one garment: averaging them removes some errors for twice the
    inference cost. Training is unchanged: train.py trains the network and saves it
    wrapped. Built from a Keras op and a standard layer only, so plain
    `keras.models.load_model` reads the saved file, and `saved_models.network` finds
    the network inside for the feature maps, filters and explorer.
    """
    image = keras.Input(shape=INPUT_SHAPE, name="image")
    mirror = ops.flip(image, axis=2)  # (batch, height, width, channels): reverse the width
    outputs = layers.Average(dtype="float32", name="mirror_average")([network(image), network(mirror)])
    return keras.Model(image, outputs, name=f"{network.name}_with_mirror")


# Each model by its name: train.py's --models, and recipe.RECIPES' keys.
BUILDERS = {"dnn": dnn, "cnn": cnn, "cnn_plus": cnn_plus}


def build_model(name, conv_filters=None):
    """Build a model by its name; conv_filters gives the cnn a conv stack of its own."""
    if conv_filters:
        return BUILDERS[name](tuple(conv_filters))
    return BUILDERS[name]()
