"""What the tests share: where the project and the data are, how to run a script as a user would, and
a project copy to run it in.

Imported by conftest.py first (so before any test): it finds the data where a user's scripts
find it, then points KERAS_HOME at a folder of the tests' own, so that what the tests copy
into the Keras cache stays out of the user's ~/.keras.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="keras-home-")
atexit.register(shutil.rmtree, os.environ["KERAS_HOME"], True)

# The environment of the scripts the tests run: the data, and TensorFlow quiet.
SCRIPT_ENV = {**os.environ, "FASHION_MNIST_DIR": str(DATA_DIR), "TF_CPP_MIN_LOG_LEVEL": "3"}


def new_user_env(home):
    """The environment of a new user whose home is `home`: no data variable, the default Keras cache."""
    unset = {FOUND_DATA_ENV, "FASHION_MNIST_DIR", "KERAS_HOME"}
    return {**{key: value for key, value in os.environ.items() if key not in unset}, "HOME": str(home)}


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
