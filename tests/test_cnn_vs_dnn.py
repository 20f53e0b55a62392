"""The project's point: with the same data, recipe and dense classifier, the CNN beats the plain DNN."""

import keras
import numpy as np

from convlab import recipe
from convlab.data import to_dataset
from model import build_model

IMAGES, EPOCHS, BATCH_SIZE, PEAK_LEARNING_RATE = 6000, 2, 32, 3e-3


def accuracy_after_training(name, fashion_mnist, seed):
    """Train `name` on the first IMAGES training images with the project's recipe; its test accuracy."""
    (x_train, y_train), (x_test, y_test) = fashion_mnist
    keras.utils.set_random_seed(seed)
    model = build_model(name)
    recipe.compile_for_training(model, PEAK_LEARNING_RATE, total_steps=-(-IMAGES // BATCH_SIZE) * EPOCHS)
    model.fit(to_dataset(x_train[:IMAGES], y_train[:IMAGES], BATCH_SIZE, shuffle_seed=seed), epochs=EPOCHS,
              shuffle=False, verbose=0)  # the dataset shuffles
    predicted = model.predict(to_dataset(x_test, y_test, 1000), verbose=0).argmax(axis=1)
    return float(np.mean(predicted == y_test))


def test_cnn_beats_dnn_on_a_small_subset(fashion_mnist):
    """6,000 images, 2 epochs, batch 32, peak learning rate 3e-3, float32, all 10,000 test images.

    Measured over seeds 1 to 8 on the 2-core AVX512_BF16 machine: the cnn led by 1.07 to
    2.18 points (mean 1.80, standard deviation 0.41; dnn 81.9% to 82.8%, cnn 83.7% to
    84.7%), so a lead of 0.5 points is more than three standard deviations below the mean.
    With fewer training steps the dnn can win: `train.py --limit 3000 --epochs 3` (72 steps
    of 128 images) gave the dnn 0.3 to 1.9 points more than the cnn on each of seeds 1 to 5.
    """
    dnn = accuracy_after_training("dnn", fashion_mnist, seed=1)
    cnn = accuracy_after_training("cnn", fashion_mnist, seed=1)
    assert dnn > 0.75, dnn  # both learn: chance is 0.10
    assert cnn > dnn + 0.005, (dnn, cnn)
