"""Probe: the course CNN's training throughput under whichever Keras backend KERAS_BACKEND names.

    python benchmarks/probe_backend.py                       # TensorFlow, this project's venv
    KERAS_BACKEND=jax /path/to/jax-venv/bin/python benchmarks/probe_backend.py   # jax[cpu] + keras installed

Random float32 images, batch 128, one warm-up fit, then 3 timed epochs of 7,680 images;
run the two backends one after the other, twice, so a disturbance of the host hits both.
Keras only: it runs where TensorFlow is not installed.
"""

import sys
import time

import keras
import numpy as np
from keras import layers

BATCH = int(sys.argv[1]) if len(sys.argv) > 1 else 128
STEPS = 60

keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((28, 28, 1)),
    layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
    layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
    layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
x = np.random.rand(BATCH * STEPS, 28, 28, 1).astype("float32")
y = np.random.randint(0, 10, BATCH * STEPS)
model.fit(x[: BATCH * 10], y[: BATCH * 10], batch_size=BATCH, epochs=1, verbose=0)  # compile, warm up
rates = []
for _ in range(3):
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    rates.append(BATCH * STEPS / (time.perf_counter() - start))
print(f"{keras.backend.backend()} batch {BATCH}: best {max(rates):,.0f} images/s, all {[round(r) for r in rates]}")
