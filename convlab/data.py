"""Fashion-MNIST: find the four IDX files, check them, and serve them as uint8 arrays.

The one place the data is loaded and checked, for the scripts, recipe.py, report.py,
the benchmarks and the tests.

Every file is checked against Zalando's published MD5 and its IDX header, wherever
it came from (the Keras download cache or a folder given with --data-dir or
FASHION_MNIST_DIR), so a corrupt or truncated file is caught before any training.
All problems raise DataError, whose message says what is wrong and what to do.
"""

import gzip
import hashlib
import os
import zlib
from typing import NamedTuple

import numpy as np

CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (28, 28)
INPUT_SHAPE = (*IMAGE_SHAPE, 1)  # what the models take: one grayscale channel
DATA_DIR_ENV = "FASHION_MNIST_DIR"
DATA_DIR_HELP = ("folder with the Fashion-MNIST .gz files: all four for training, the two t10k files "
                 "for test images only "
                 f"(default: ${DATA_DIR_ENV}, else the Keras download cache)")

# The same mirror and cache folder that keras.datasets.fashion_mnist uses.
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
KERAS_CACHE_SUBDIR = os.path.join("datasets", "fashion-mnist")
ZALANDO_URL = "https://github.com/zalandoresearch/fashion-mnist/tree/master/data/fashion"

# name: (Zalando's MD5, IDX magic number, number of items)
FILES = {
    "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 2051, 60000),
    "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", 2049, 60000),
    "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", 2051, 10000),
    "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", 2049, 10000),
}
TEST_FILES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
TRAIN_IMAGES = FILES["train-images-idx3-ubyte.gz"][2]
VALIDATION_SIZE = 5000  # training images held out to choose settings on, by default


class DataError(Exception):
    """The data cannot be used; the message tells the user what to do."""


class Images(NamedTuple):
    """Images (N, 28, 28) uint8 and their labels (N,) uint8, index for index."""

    images: np.ndarray
    labels: np.ndarray


def load_fashion_mnist(data_dir=None):
    """Return the training and the test Images (which unpack as (x, y)).

    data_dir: a folder holding the four .gz files. None means $FASHION_MNIST_DIR if
    set, else the standard Keras download and cache (~/.keras/datasets/fashion-mnist).
    """
    arrays = _read_files(FILES, data_dir)
    return (
        Images(arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]),
        Images(arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]),
    )


def load_test_images(data_dir=None):
    """Only the test Images, for the scripts that show or classify test images: the 26 MB
    training file is neither read nor downloaded, and need not be there. data_dir: as above."""
    arrays = _read_files(TEST_FILES, data_dir)
    return Images(*(arrays[name] for name in TEST_FILES))


def _read_files(names, data_dir):
    """{file name: array} for the named files, each found (or downloaded) and checked."""
    if data_dir:
        paths = _local_files(data_dir, "--data-dir", names)
    elif os.environ.get(DATA_DIR_ENV):
        paths = _local_files(os.environ[DATA_DIR_ENV], f"${DATA_DIR_ENV}", names)
    else:
        paths = keras_cached_files(names)
    return {name: read_idx(path) for name, path in paths.items()}


class Splits(NamedTuple):
    """The data of one run, each part an Images."""

    train: Images
    validation: Images
    test: Images


def load_splits(data_dir=None, validation_size=VALIDATION_SIZE, seed=0, limit=None):
    """The training images less a seeded validation split, the validation split, and the test images.

    limit: train on the first N training images only (the validation split is taken first).
    """
    train, test = load_fashion_mnist(data_dir)
    train, validation = split_validation(*train, validation_size, seed)
    if limit:
        train = Images(train.images[:limit], train.labels[:limit])
    return Splits(train, validation, test)


def split_validation(x, y, validation_size, seed):
    """Hold out a seeded random validation set; returns the training and validation Images.

    The training images keep the files' order, so "the first N" means the same
    images whatever the seed.
    """
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:validation_size], np.sort(order[validation_size:])
    return Images(x[train], y[train]), Images(x[val], y[val])


def to_dataset(x, y, batch_size, shuffle_seed=None):
    """A tf.data pipeline of uint8 (N, 28, 28, 1) batches; the model does the scaling.

    Keeping uint8 until the model moves a quarter of the bytes float32 would.
    shuffle_seed: shuffle anew each epoch (training data); None keeps the order.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x[..., None], y))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    # Across several workers tf.distribute splits each global batch between them by data:
    # the arrays are in memory, there are no files to share out. Said here, instead of
    # letting AUTO fall back to it with a warning; one process ignores it.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)


def _local_files(data_dir, given_by, names=tuple(FILES)):
    """{file name: path} in data_dir; given_by (the flag or the variable) is named if it is wrong."""
    if not os.path.isdir(data_dir):
        problem = "is a file, not a folder" if os.path.exists(data_dir) else "not found"
        raise DataError(
            f"data folder {problem}: {data_dir} (from {given_by})\n"
            f"It should be the folder holding the four Fashion-MNIST files: {', '.join(FILES)}.\n"
            f"Download them from {ZALANDO_URL}, or leave out --data-dir "
            f"(and unset {DATA_DIR_ENV}) to let Keras download them."
        )
    paths = {name: os.path.join(data_dir, name) for name in names}
    missing = [name for name, path in paths.items() if not os.path.isfile(path)]
    if missing:
        needed = "all four Fashion-MNIST files" if len(names) == len(FILES) else "the Fashion-MNIST files"
        raise DataError(
            f"missing in {data_dir}: {', '.join(missing)}\n"
            f"The folder must hold {needed}: {', '.join(names)}.\n"
            f"Download them from {ZALANDO_URL}."
        )
    return paths


def keras_cached_files(names=tuple(FILES)):
    """{file name: path} in the Keras cache, downloading what is missing or stale."""
    from keras.utils import get_file  # imported here: --data-dir runs never need Keras

    paths = {}
    for name in names:
        md5 = FILES[name][0]
        try:
            # With the hash, Keras replaces a cached copy that is incomplete or stale.
            paths[name] = get_file(
                name, origin=KERAS_ORIGIN + name, cache_subdir=KERAS_CACHE_SUBDIR,
                file_hash=md5, hash_algorithm="md5",
            )
        except Exception as error:  # URLError, HTTPError, SSLError, proxy errors, ...
            raise DataError(
                f"could not download {name} from {KERAS_ORIGIN}: {error}\n"
                "Without internet access (or behind a proxy), download the four files "
                f"from {ZALANDO_URL} and pass their folder with --data-dir DIR "
                f"or the environment variable {DATA_DIR_ENV}."
            ) from None
    return paths


def read_idx(path):
    """Read one gzipped IDX file, checking its gzip stream, IDX header and MD5.

    The checks run from the most specific message to the most general one: a
    truncated download fails as gzip, a wrong file as IDX, any other change as MD5.
    """
    name = os.path.basename(path)
    expected_md5, magic, count = FILES[name]
    with open(path, "rb") as f:
        compressed = f.read()
    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"{path} is truncated or not a valid gzip file ({error}).\n"
            f"Delete it and download it again from {ZALANDO_URL}."
        ) from None
    data = _parse_idx(raw, path, magic, count)
    md5 = hashlib.md5(compressed).hexdigest()
    if md5 != expected_md5:
        raise DataError(
            f"{path} is corrupt or not the original file: its MD5 is {md5}, "
            f"Zalando's is {expected_md5}.\nDelete it and download it again from {ZALANDO_URL}."
        )
    return data


def _parse_idx(raw, path, magic, count):
    """IDX: a big-endian int32 magic number, one int32 per dimension, then uint8 data."""
    dims = [count, *IMAGE_SHAPE] if magic == 2051 else [count]
    header_size = 4 * (1 + len(dims))
    header = np.frombuffer(raw[:header_size], ">i4").tolist() if len(raw) >= header_size else None
    if header is None or header[0] != magic:
        found = "a short file" if header is None else f"magic number {header[0]}"
        raise DataError(f"{path} is not an IDX file of the expected kind: expected magic number {magic}, found {found}.")
    if header[1:] != dims:
        raise DataError(f"{path} has shape {tuple(header[1:])}, expected {tuple(dims)}.")
    data = np.frombuffer(raw, np.uint8, offset=header_size)
    if data.size != np.prod(dims):
        raise DataError(f"{path} holds {data.size} bytes of data, expected {np.prod(dims)} for shape {tuple(dims)}.")
    return data.reshape(dims)
