"""The loader accepts Zalando's files and rejects anything else with a message that says what to do."""

import gzip
import shutil
import subprocess
import sys

import numpy as np
import pytest

from convlab.data import FILES, TEST_FILES, DataError, load_fashion_mnist, load_test_images, split_validation
from helpers import DATA_DIR, NO_DATA, REPO, copy_project, new_user_env


def test_real_files_load_with_the_documented_shapes(fashion_mnist):
    (x_train, y_train), (x_test, y_test) = fashion_mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_same_arrays_as_keras_own_parser(fashion_mnist):
    # keras.datasets.fashion_mnist skips the header bytes blindly; on intact files we must agree.
    with gzip.open(DATA_DIR / "t10k-images-idx3-ubyte.gz") as f:
        keras_style = np.frombuffer(f.read(), np.uint8, offset=16).reshape(10000, 28, 28)
    np.testing.assert_array_equal(fashion_mnist[1][0], keras_style)


@pytest.fixture
def data_copy(tmp_path):
    for name in FILES:
        shutil.copy(DATA_DIR / name, tmp_path / name)
    return tmp_path


def test_truncated_file_is_rejected(data_copy):
    path = data_copy / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz is truncated or not a valid gzip file"):
        load_fashion_mnist(data_copy)


def test_flipped_byte_is_rejected(data_copy):
    # Flip one pixel inside a correctly gzipped file: only the MD5 can tell.
    path = data_copy / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[5000] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=r"is corrupt or not the original file: its MD5 is [0-9a-f]{32}, "
                                        r"Zalando's is bef4ecab320f06d8554ea6380940ec79"):
        load_fashion_mnist(data_copy)


def test_flipped_byte_in_the_gzip_stream_is_rejected(data_copy):
    path = data_copy / "train-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz is (truncated or not a valid gzip file|corrupt)"):
        load_fashion_mnist(data_copy)


def test_wrong_magic_number_is_rejected(data_copy):
    # A labels file where an images file should be: valid gzip, wrong IDX kind.
    shutil.copy(DATA_DIR / "t10k-labels-idx1-ubyte.gz", data_copy / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match="expected magic number 2051, found magic number 2049"):
        load_fashion_mnist(data_copy)


def test_wrong_shape_is_rejected(data_copy):
    path = data_copy / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[8:12] = (27).to_bytes(4, "big")  # rows: 27 instead of 28
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=r"has shape \(10000, 27, 28\), expected \(10000, 28, 28\)"):
        load_fashion_mnist(data_copy)


def test_missing_folder_names_the_expected_files(tmp_path):
    with pytest.raises(DataError) as error:
        load_fashion_mnist(tmp_path / "nowhere")
    message = str(error.value)
    assert message.startswith(f"data folder not found: {tmp_path / 'nowhere'} (from --data-dir)\n")
    assert all(name in message for name in FILES)


def test_a_wrong_folder_from_the_environment_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as error:
        load_fashion_mnist()
    assert str(error.value).startswith(f"data folder not found: {tmp_path / 'nowhere'} (from $FASHION_MNIST_DIR)\n")


def test_a_file_given_as_the_folder_is_called_a_file(data_copy):
    one_file = data_copy / "train-images-idx3-ubyte.gz"
    with pytest.raises(DataError) as error:
        load_fashion_mnist(one_file)
    assert str(error.value).startswith(f"data folder is a file, not a folder: {one_file} (from --data-dir)\n")


def test_missing_file_is_named(data_copy):
    (data_copy / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=f"missing in {data_copy}: train-labels-idx1-ubyte.gz\n"):
        load_fashion_mnist(data_copy)


def test_test_images_need_only_the_two_test_files(tmp_path, fashion_mnist):
    for name in TEST_FILES:
        shutil.copy(DATA_DIR / name, tmp_path / name)
    x_test, y_test = load_test_images(tmp_path)
    np.testing.assert_array_equal(x_test, fashion_mnist[1][0])
    np.testing.assert_array_equal(y_test, fashion_mnist[1][1])
    with pytest.raises(DataError, match=f"missing in {tmp_path}: train-images-idx3-ubyte.gz, train-labels"):
        load_fashion_mnist(tmp_path)  # training needs all four


def test_test_images_download_only_the_test_files(monkeypatch, tmp_path):
    import keras

    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty cache
    fetched = []

    def cached(name, **kwargs):
        fetched.append(name)
        return str(DATA_DIR / name)

    monkeypatch.setattr(keras.utils, "get_file", cached)
    load_test_images()
    assert fetched == TEST_FILES


def test_environment_variable_points_at_the_data(monkeypatch, data_copy):
    (data_copy / "t10k-images-idx3-ubyte.gz").unlink()
    monkeypatch.setenv("FASHION_MNIST_DIR", str(data_copy))
    with pytest.raises(DataError, match="missing in"):
        load_fashion_mnist()


def test_failed_download_suggests_data_dir(monkeypatch, tmp_path):
    # An empty Keras cache and a mirror that refuses: the message must point to --data-dir.
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match=r"could not download train-images-idx3-ubyte.gz .*\n.*--data-dir DIR"):
        load_fashion_mnist()


def test_unzipped_files_are_read_as_the_gzipped_ones(tmp_path, fashion_mnist):
    """Browsers often unzip a .gz download: a folder of the unzipped files works the same."""
    for name in FILES:
        (tmp_path / name.removesuffix(".gz")).write_bytes(gzip.decompress((DATA_DIR / name).read_bytes()))
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(tmp_path)
    for loaded, original in zip((x_train, y_train, x_test, y_test), (*fashion_mnist[0], *fashion_mnist[1])):
        np.testing.assert_array_equal(loaded, original)


def test_an_unzipped_file_that_was_changed_is_refused(tmp_path):
    for name in TEST_FILES:
        (tmp_path / name.removesuffix(".gz")).write_bytes(gzip.decompress((DATA_DIR / name).read_bytes()))
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1] + b"\x03")
    with pytest.raises(DataError, match=f"{labels} is corrupt or not the original file"):
        load_test_images(tmp_path)


def test_data_found_once_is_found_again_without_the_folder_or_internet(tmp_path, monkeypatch, capsys):
    """A folder given once is copied into the Keras cache, where the next load finds it offline,
    and where keras.datasets.fashion_mnist finds it too."""
    import keras

    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    for name in TEST_FILES:
        shutil.copy(DATA_DIR / name, tmp_path / name)
    first = load_test_images(tmp_path)
    assert f"Copied the Fashion-MNIST files into the Keras cache, {tmp_path / 'keras' / 'datasets' / 'fashion-mnist'}" \
        in capsys.readouterr().out

    def offline(*args, **kwargs):
        raise AssertionError("downloaded")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    again = load_test_images()
    np.testing.assert_array_equal(again.images, first.images)
    load_test_images(tmp_path)
    assert capsys.readouterr().out == ""  # copied once


def test_validation_split_is_seeded_and_disjoint():
    x = np.arange(100)
    (train_a, _), (val_a, _) = split_validation(x, x, 10, seed=1)
    (train_b, _), (val_b, _) = split_validation(x, x, 10, seed=1)
    (_, _), (val_c, _) = split_validation(x, x, 10, seed=2)
    np.testing.assert_array_equal(val_a, val_b)
    assert not np.array_equal(val_a, val_c)
    assert len(train_a) == 90 and not set(train_a) & set(val_a)
    assert list(train_a) == sorted(train_a)  # training keeps file order, so --limit is "the first N"


def clone_with_tests(folder):
    """The project as a fresh clone has it, tests included, with no ../shared or data beside it."""
    project = copy_project(folder)
    shutil.copytree(REPO / "tests", project / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pytest.ini", project)
    return project


def test_without_data_the_tests_stop_with_one_line_saying_what_to_set(tmp_path):
    """The README's test command in a fresh clone with no data anywhere and no internet."""
    project = clone_with_tests(tmp_path / "clone")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_model.py"], cwd=project,
                            env=new_user_env(tmp_path / "home"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 4
    assert result.stderr.strip() == f"Exit: {NO_DATA}" and "Error" not in result.stdout


@pytest.mark.slow  # about 15 s: a run, then pytest with two workers
def test_after_train_py_data_dir_the_readme_test_command_finds_the_data_on_every_worker(tmp_path):
    """The README's offline way on a new user's machine: `python train.py --data-dir DIR` once, then the
    test command as written, whose pytest-xdist workers find the files in the Keras cache."""
    project = clone_with_tests(tmp_path / "clone")
    env = new_user_env(tmp_path / "home")
    trained = subprocess.run([sys.executable, "train.py", "--data-dir", DATA_DIR, "--models", "dnn",
                              "--limit", "500", "--epochs", "1"], cwd=project, env=env, capture_output=True,
                             text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
    tested = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider",
                             "tests/test_data.py", "-k", "documented_shapes or keras_own_parser"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-2000:]
    assert "2 passed" in tested.stdout
