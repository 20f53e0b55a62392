"""Probe: the course CNN's training throughput under whichever Keras backend KERAS_BACKEND names.

    python benchmarks/probe_backend.py                       # TensorFlow, this project's venv
    KERAS_BACKEND=jax /path/to/jax-venv/bin/python benchmarks/probe_backend.py   # jax[cpu] + keras installed

Random float32 images, batch 128, one warm-up fit, then 3 timed epochs of 7,680 images;
run the two backends one after the other, twice, so a disturbance of the host hits both.
Keras only: it runs where TensorFlow is not installed.
"""

import argparse
import time

STEPS = 60  # per timed epoch: 60 batches of 128 are 7,680 images


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=128, help="images per step (default: %(default)s)")
    args = parser.parse_args()
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")

    import keras  # after the flags: --help answers without starting a backend
    import numpy as np
    from keras import layers

    batch = args.batch_size
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.rand(batch * STEPS, 28, 28, 1).astype("float32")
    y = np.random.randint(0, 10, batch * STEPS)
    model.fit(x[: batch * 10], y[: batch * 10], batch_size=batch, epochs=1, verbose=0)  # compile, warm up
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        rates.append(batch * STEPS / (time.perf_counter() - start))
    print(f"{keras.backend.backend()} batch {batch}: best {max(rates):,.0f} images/s, all {[round(r) for r in rates]}")


if __name__ == "__main__":
    main()
