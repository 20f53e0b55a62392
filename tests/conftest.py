"""The suite's fixtures, and its one check before any test: that the data is there."""

import json
import subprocess

import pytest

from helpers import DATA_DIR, NO_DATA, run_script


def pytest_configure(config):
    if DATA_DIR is None:  # one line saying what to set, not an error in every test
        pytest.exit(NO_DATA, returncode=4)


@pytest.fixture(scope="session")
def fashion_mnist():
    from convlab.data import load_fashion_mnist

    return load_fashion_mnist(DATA_DIR)


def built_once(tmp_path_factory, worker_id, name, build):
    """A session fixture's folder, built by the first pytest-xdist worker that asks and reused by the
    others (pytest-xdist's recipe, with filelock): built by each, the workers would build it at the
    same moment, each at half speed. build(folder) fills the folder and returns what JSON can hold.
    Returns the folder and what build returned."""
    if worker_id == "master":  # one process: nothing to share
        folder = tmp_path_factory.mktemp(name)
        return folder, build(folder)
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # this pytest run's own, the same for all its workers
    folder, record = shared / name, shared / f"{name}.json"
    with FileLock(str(shared / f"{name}.lock")):
        if not record.exists():
            folder.mkdir(exist_ok=True)
            record.write_text(json.dumps(build(folder)))
        return folder, json.loads(record.read_text())


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, worker_id, fashion_mnist):
    """cnn.keras, the course CNN trained for a moment (2000 images, 1 epoch), and dnn.keras, untrained.

    Saved by the test run itself, never downloaded; trained just enough that the
    CNN's filters and feature maps are no longer random noise.
    """
    import keras

    from model import build_model

    def build(folder):
        keras.utils.set_random_seed(0)
        (x_train, y_train), _ = fashion_mnist
        cnn = build_model("cnn")
        cnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        cnn.fit(x_train[:2000, ..., None], y_train[:2000], epochs=1, batch_size=64, verbose=0)
        cnn.save(folder / "cnn.keras")
        build_model("dnn").save(folder / "dnn.keras")

    return built_once(tmp_path_factory, worker_id, "models", build)[0]


@pytest.fixture(scope="session")
def short_run(tmp_path_factory, worker_id):
    """One short real run of dnn and cnn (3,000 images, 3 epochs) with --tensorboard, its stdout
    a pipe as in CI or nohup; shared by several test files, since a run costs ~20 s. In float32
    on every machine, so that the saved models predict exactly what the run evaluated.
    Returns the --out folder and the CompletedProcess."""
    def build(out):
        result = run_script("train.py", "--limit", "3000", "--epochs", "3", "--tensorboard", "--precision",
                            "float32", "--out", out)
        assert result.returncode == 0, result.stderr[-3000:]
        return [[str(part) for part in result.args], result.returncode, result.stdout, result.stderr]

    out, result = built_once(tmp_path_factory, worker_id, "run", build)
    return out, subprocess.CompletedProcess(*result)


@pytest.fixture
def train_here(capsys, monkeypatch):
    """train.py's main() in this process, where TensorFlow has loaded once, instead of a process per run.

    Call it with train.py's flags; it returns (the exit code or error message, stdout, stderr). The
    precision and the SIGTERM handler that main() sets are put back afterwards.
    """
    import signal

    import keras

    import train

    handler = signal.getsignal(signal.SIGTERM)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(DATA_DIR))

    def run(*argv):
        try:
            train.main([str(arg) for arg in argv])
            code = 0
        except SystemExit as exit:
            code = exit.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    yield run
    keras.mixed_precision.set_global_policy("float32")
    signal.signal(signal.SIGTERM, handler)
