"""The suite's fixtures, and its one check before any test: that the data is there."""

import pytest

from helpers import DATA_DIR, NO_DATA, run_script


def pytest_configure(config):
    if DATA_DIR is None:  # one line saying what to set, not an error in every test
        pytest.exit(NO_DATA, returncode=4)


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
