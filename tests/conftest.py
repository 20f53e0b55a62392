"""Shared test helpers: where the repo and the data are, and how to run a script."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from convlab.preprocess import as_photo  # noqa: F401  (the tests' stand-in for a photo; the notebook's too)

REPO = Path(__file__).resolve().parents[1]


NO_DATA = ("Fashion-MNIST not found: the tests need its four files. Set FASHION_MNIST_DIR=DIR (their folder), "
           "or run `python train.py --data-dir DIR` once, which copies them into the Keras cache; "
           "with internet, `python train.py` downloads them there.")


def find_data_dir():
    """$FASHION_MNIST_DIR; else ../shared (CI and the development machines have no
    internet: the four files sit there); else the Keras cache; None where none holds them."""
    from convlab.data import cached_files

    if os.environ.get("FASHION_MNIST_DIR"):
        return Path(os.environ["FASHION_MNIST_DIR"])
    shared = REPO.parent / "shared" / "data" / "fashion-mnist"
    if shared.is_dir():
        return shared
    cached = cached_files()
    return Path(next(iter(cached.values()))).parent if cached else None


DATA_DIR = find_data_dir()
# The tests' own Keras cache: files they copy there, as train.py --data-dir does, stay out of the user's ~/.keras.
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="keras-home-")
atexit.register(shutil.rmtree, os.environ["KERAS_HOME"], True)


def pytest_configure(config):
    if DATA_DIR is None:  # one line saying what to set, not an error in every test
        pytest.exit(NO_DATA, returncode=4)


# The environment of the scripts the tests run: the data, and TensorFlow quiet.
SCRIPT_ENV = {**os.environ, "FASHION_MNIST_DIR": str(DATA_DIR), "TF_CPP_MIN_LOG_LEVEL": "3"}


def copy_project(folder):
    """The project's scripts and library copied into `folder`, as in a fresh clone: their runs/ is folder/runs."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in REPO.glob("*.py"):
        shutil.copy(source, folder)
    shutil.copytree(REPO / "convlab", folder / "convlab", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def run_script(*args, timeout=600):
    """Run a project script as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, env=SCRIPT_ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def fashion_mnist():
    from convlab.data import load_fashion_mnist

    return load_fashion_mnist(DATA_DIR)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, fashion_mnist):
    """cnn.keras, the course CNN trained for a moment (2000 images, 1 epoch), and dnn.keras, untrained.

    Saved by the test run itself, never downloaded; trained just enough that the
    CNN's filters and feature maps are no longer random noise.
    """
    import keras

    from model import build_model

    keras.utils.set_random_seed(0)
    (x_train, y_train), _ = fashion_mnist
    folder = tmp_path_factory.mktemp("models")
    cnn = build_model("cnn")
    cnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    cnn.fit(x_train[:2000, ..., None], y_train[:2000], epochs=1, batch_size=64, verbose=0)
    cnn.save(folder / "cnn.keras")
    build_model("dnn").save(folder / "dnn.keras")
    return folder


def mixed_bfloat16_copy(model_file):
    """The course CNN saved at model_file, rebuilt under the mixed_bfloat16 policy, as train.py saves
    it on hardware with native bfloat16 (mixed precision keeps float32 weights: they carry over)."""
    import keras

    from model import build_model

    trained = keras.models.load_model(model_file, compile=False)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = build_model("cnn")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    mixed.set_weights(trained.get_weights())
    return mixed


def cnn_plus_far_from_init(seed=3):
    """model.py's cnn_plus, untrained but with batch-norm statistics and scales far from their initial
    0 and 1, else folding them into the convs (the explorer page does) would change nothing."""
    import keras
    import numpy as np

    from model import build_model

    keras.utils.set_random_seed(seed)
    model = build_model("cnn_plus")
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 2.0, n))
            layer.beta.assign(rng.normal(0, 0.3, n))
            layer.moving_mean.assign(rng.normal(0, 0.2, n))
            layer.moving_variance.assign(rng.uniform(0.05, 0.5, n))
    return model


@pytest.fixture(scope="session")
def short_run(tmp_path_factory):
    """One short real run of dnn and cnn (3,000 images, 3 epochs) with --tensorboard, its stdout
    a pipe as in CI or nohup; shared by test_train and test_tensorboard, since a run costs ~20 s.
    Returns the --out folder and the CompletedProcess."""
    out = tmp_path_factory.mktemp("run")
    result = run_script("train.py", "--limit", "3000", "--epochs", "3", "--tensorboard", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result
