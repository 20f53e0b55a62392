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


NO_DATA = ("Fashion-MNIST not found: the tests need its four files. Run `python train.py` once, which downloads "
           "them into the Keras cache, or without internet `python train.py --data-dir DIR` (their folder), which "
           "copies them there; or set FASHION_MNIST_DIR=DIR.")
# The folder the first pytest process found the data in, handed to pytest-xdist's workers: they start
# with the tests' own KERAS_HOME (below), where the data is not.
FOUND_DATA_ENV = "CONVLAB_TESTS_DATA_DIR"


def find_data_dir():
    """Where a user's scripts find the data: $FASHION_MNIST_DIR, else the Keras cache (where
    `python train.py` downloads the files and `--data-dir DIR` copies them); None where neither holds them."""
    from convlab.data import DATA_DIR_ENV, cached_files

    for variable in (FOUND_DATA_ENV, DATA_DIR_ENV):
        if os.environ.get(variable):
            return Path(os.environ[variable])
    cached = cached_files()
    return Path(next(iter(cached.values()))).parent if cached else None


DATA_DIR = find_data_dir()
if DATA_DIR is not None:
    os.environ[FOUND_DATA_ENV] = str(DATA_DIR)
# The tests' own Keras cache: files they copy there, as train.py --data-dir does, stay out of the user's ~/.keras.
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="keras-home-")
atexit.register(shutil.rmtree, os.environ["KERAS_HOME"], True)


def new_user_env(home):
    """The environment of a new user whose home is `home`: no data variable, the default Keras cache."""
    unset = {FOUND_DATA_ENV, "FASHION_MNIST_DIR", "KERAS_HOME"}
    return {**{key: value for key, value in os.environ.items() if key not in unset}, "HOME": str(home)}


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


def run_script(*args, timeout=600, cwd=REPO):
    """Run a project script as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=SCRIPT_ENV,
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


@pytest.fixture(scope="session")
def short_run(tmp_path_factory):
    """One short real run of dnn and cnn (3,000 images, 3 epochs) with --tensorboard, its stdout
    a pipe as in CI or nohup; shared by several test files, since a run costs ~20 s. In float32
    on every machine, so that the saved models predict exactly what the run evaluated.
    Returns the --out folder and the CompletedProcess."""
    out = tmp_path_factory.mktemp("run")
    result = run_script("train.py", "--limit", "3000", "--epochs", "3", "--tensorboard", "--precision", "float32",
                        "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result
