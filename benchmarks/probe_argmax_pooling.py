"""Probe: the course CNN with MaxPooling2D vs max pooling by tf.nn.max_pool_with_argmax, interleaved.

    python benchmarks/probe_argmax_pooling.py

max_pool_with_argmax records where each maximum was, so its gradient scatters to those
positions instead of searching each 2x2 window again (MaxPoolGrad, 17.8% of a training
step in benchmarks/profile_step.py). Same function: the script checks the outputs agree.
Random float32 images, batch 128, 4 rounds of one timed epoch of 7,680 images per model.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

BATCH, STEPS, ROUNDS = 128, 60, 4


class ArgmaxPooling(layers.Layer):
    def call(self, x):
        return tf.nn.max_pool_with_argmax(x, 2, 2, "VALID")[0]

    def compute_output_shape(self, shape):
        return (shape[0], shape[1] // 2, shape[2] // 2, shape[3])


def course_cnn(pooling):
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(64, 3, activation="relu"), pooling(),
        layers.Conv2D(64, 3, activation="relu"), pooling(),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="timed epochs per model, interleaved (default: %(default)s)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    x = np.random.rand(BATCH * STEPS, 28, 28, 1).astype("float32")
    y = np.random.randint(0, 10, BATCH * STEPS)
    models = {"MaxPooling2D": course_cnn(lambda: layers.MaxPooling2D(2)),
              "max_pool_with_argmax": course_cnn(ArgmaxPooling)}
    for model in models.values():
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x[: BATCH * 10], y[: BATCH * 10], batch_size=BATCH, verbose=0)  # compile, warm up
    standard, argmax = models.values()
    argmax.set_weights(standard.get_weights())
    difference = np.abs(standard.predict(x[:256], verbose=0) - argmax.predict(x[:256], verbose=0)).max()
    print(f"largest output difference: {difference}")
    rates = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
            rates[name].append(round(BATCH * STEPS / (time.perf_counter() - start)))
    for name, measured in rates.items():
        print(f"{name}: best {max(measured):,} images/s, all {measured}")


if __name__ == "__main__":
    main()
