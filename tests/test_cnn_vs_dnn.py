"""The project's point: with the same data, recipe and dense classifier, the CNN beats the plain DNN."""


import train
from convlab import callbacks, cluster, recipe, report, runs
from convlab.data import Images, Splits

IMAGES, EPOCHS, BATCH_SIZE, PEAK_LEARNING_RATE = 6000, 2, 32, 3e-3


def accuracy_after_training(name, fashion_mnist, seed, folder):
    """Train `name` on the first IMAGES training images with train.py's train_model; its test accuracy."""
    import tensorflow as tf

    (x_train, y_train), (x_test, y_test) = fashion_mnist
    data = Splits(Images(x_train[:IMAGES], y_train[:IMAGES]), Images(x_train[:0], y_train[:0]), Images(x_test, y_test))
    settings = recipe.Settings(name, name, EPOCHS, PEAK_LEARNING_RATE, batch_size=BATCH_SIZE, seed=seed)
    model, _ = train.train_model(settings, data, cluster.Cluster(tf.distribute.get_strategy()),
                                 runs.RunFolder(folder), callbacks.Logging(verbose=0))
    return report.accuracy(model, data.test, 1000)


def test_cnn_beats_dnn_on_a_small_subset(fashion_mnist, tmp_path):
    """6,000 images, 2 epochs, batch 32, peak learning rate 3e-3, float32, all 10,000 test images.

    Measured over seeds 1 to 8 on the 2-core AVX512_BF16 machine: the cnn led by 1.24 to
    2.36 points (mean 1.74, standard deviation 0.37; dnn 82.0% to 82.7%, cnn 83.5% to
    84.6%), so a lead of 0.5 points is more than three standard deviations below the mean.
    """
    dnn = accuracy_after_training("dnn", fashion_mnist, seed=1, folder=tmp_path)
    cnn = accuracy_after_training("cnn", fashion_mnist, seed=1, folder=tmp_path)
    assert dnn > 0.75, dnn  # both learn: chance is 0.10
    assert cnn > dnn + 0.005, (dnn, cnn)
