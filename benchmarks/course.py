"""The course's notebook, as the course writes it: the peer that benchmarks/speed.py races.

DeepLearning.AI's week-3 notebook builds its models as keras.Sequential lists without a
Rescaling layer, feeds float64 arrays already divided by 255, and fits them with
`model.fit(x_train / 255.0, y_train, epochs=5)`: batch 32, Adam at 1e-3, float32.
Used by speed.py and whole_run.py.
"""

import keras
from keras import layers

from benchmarks import cpu_usage
from convlab.data import INPUT_SHAPE

BATCH_SIZE = 32  # model.fit's default
EPOCHS = 5  # the course notebook's model.fit(..., epochs=5)
MODELS = ("dnn", "cnn")


def course_model(name):
    """The course's models as the course writes them: images arrive already divided by 255."""
    convolutions = []
    if name == "cnn":
        convolutions = [layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
                        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2)]
    return keras.Sequential([
        keras.Input(shape=INPUT_SHAPE), *convolutions,
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
    ], name=f"course_{name}")


class Course:
    """The course's recipe: float64 arrays divided by 255, batch 32, Adam 1e-3, float32."""

    label = "course"

    def __init__(self, name, train, test, total_epochs):
        keras.mixed_precision.set_global_policy("float32")
        self.model = course_model(name)
        self.model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                           metrics=["accuracy"])
        self.x, self.y = train.images[..., None] / 255.0, train.labels
        self.test = (test.images[..., None] / 255.0, test.labels)
        self.precision, self.batch_size = "float32", BATCH_SIZE

    def train(self, epoch, images=None):
        """One epoch (or the first `images` of the data); returns its cpu_usage record."""
        x, y = (self.x, self.y) if images is None else (self.x[:images], self.y[:images])
        with cpu_usage.Window() as window:
            self.model.fit(x, y, batch_size=self.batch_size, initial_epoch=epoch, epochs=epoch + 1, verbose=0)
        return window.record
