"""Fashion-MNIST: find the four IDX files, check them, and serve them as uint8 arrays.

The one place the data is loaded and checked, for the scripts, recipe.py, report.py,
the benchmarks and the tests.

Every file is checked against Zalando's published MD5 and its IDX header, wherever
it came from (the Keras download cache or a folder given with --data-dir or
FASHION_MNIST_DIR), so a corrupt or truncated file is caught before any training.
A folder may hold the .gz files or, as a browser often leaves them, the unzipped ones.
All problems raise DataError, whose message says what is wrong and what to do.

Found once, found everywhere: files read from a folder are copied into the Keras
cache (~/.keras/datasets/fashion-mnist, where keras.datasets.fashion_mnist keeps its
download), so every later script, the tests and keras.datasets itself find them there
with no flag and no internet.
"""

import gzip
import hashlib
import os
import shutil
import tempfile
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

class IdxFile(NamedTuple):
    md5: str  # Zalando's, of the .gz file
    unzipped_md5: str  # of the same file unzipped
    magic: int  # IDX's magic number: 2051 images, 2049 labels
    count: int


FILES = {
    "train-images-idx3-ubyte.gz": IdxFile("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                                          2051, 60000),
    "train-labels-idx1-ubyte.gz": IdxFile("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9",
                                          2049, 60000),
    "t10k-images-idx3-ubyte.gz": IdxFile("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a",
                                         2051, 10000),
    "t10k-labels-idx1-ubyte.gz": IdxFile("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965",
                                         2049, 10000),
}
TEST_FILES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
TRAIN_IMAGES = FILES["train-images-idx3-ubyte.gz"].count
VALIDATION_SIZE = 5000  # training images held out to choose settings on, by default


class DataError(Exception):
    """The data cannot be used; the message tells the user what to do."""


class Images(NamedTuple):
    """Images (N, 28, 28) uint8 and their labels (N,) uint8, index for index."""

    images: np.ndarray
    labels: np.ndarray


def load_fashion_mnist(data_dir=None):
    """Return the training and the test Images (which unpack as (x, y)).

    data_dir: a folder holding the four files (.gz or unzipped). None means
    $FASHION_MNIST_DIR if set, else the Keras cache (~/.keras/datasets/fashion-mnist),
    downloading there what is missing.
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
    folder, given_by = (data_dir, "--data-dir") if data_dir else (os.environ.get(DATA_DIR_ENV), f"${DATA_DIR_ENV}")
    if not folder:
        return {name: _read_cached(name) for name in names}
    paths = _local_files(folder, given_by, names)
    arrays = {name: read_idx(path) for name, path in paths.items()}
    copy_into_keras_cache(paths.values())  # only now: they are checked
    return arrays


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


def to_dataset(x, y, batch_size):
    """A tf.data pipeline of uint8 (N, 28, 28, 1) batches in order, for evaluation; the model does the scaling.

    Keeping uint8 until the model moves a quarter of the bytes float32 would.
    """
    import tensorflow as tf

    return _for_workers(tf.data.Dataset.from_tensor_slices((x[..., None], y)).batch(batch_size))


def training_dataset(x, y, batch_size, seed, first_epoch, epochs):
    """The training batches of epochs first_epoch + 1 to `epochs`, each epoch in an order of its own.

    Epoch e's order is a function of the seed and e alone (a stateless shuffle), not of how
    many epochs this process has run: a run resumed after epoch e trains on the very batches
    an uninterrupted one does. fit() takes it with steps_per_epoch = ceil(len(x) / batch_size).
    """
    import tensorflow as tf

    images, labels = tf.constant(x[..., None]), tf.constant(y)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(len(x), dtype=tf.int64),
                                                         seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    batches = tf.data.Dataset.range(first_epoch, epochs).flat_map(epoch_batches)
    return _for_workers(batches.map(lambda batch: (tf.gather(images, batch), tf.gather(labels, batch)),
                                    num_parallel_calls=tf.data.AUTOTUNE))


def _for_workers(dataset):
    """Prefetched, and split between several workers by data.

    Across several workers tf.distribute splits each global batch between them by data:
    the arrays are in memory, there are no files to share out. Said here, instead of
    letting AUTO fall back to it with a warning; one process ignores it.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def _local_files(data_dir, given_by, names=tuple(FILES)):
    """{file name: path} in data_dir, .gz or unzipped; given_by (the flag or the variable) is named if it is wrong."""
    if not os.path.isdir(data_dir):
        problem = "is a file, not a folder" if os.path.exists(data_dir) else "not found"
        raise DataError(
            f"data folder {problem}: {data_dir} (from {given_by})\n"
            f"It should be the folder holding the four Fashion-MNIST files: {', '.join(FILES)}.\n"
            f"Download them from {ZALANDO_URL}, or leave out --data-dir "
            f"(and unset {DATA_DIR_ENV}) to let Keras download them."
        )
    paths = {name: _found(data_dir, name) for name in names}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        needed = "all four Fashion-MNIST files" if len(names) == len(FILES) else "the Fashion-MNIST files"
        raise DataError(
            f"missing in {data_dir}: {', '.join(missing)}\n"
            f"The folder must hold {needed}, gzipped or unzipped: {', '.join(names)}.\n"
            f"Download them from {ZALANDO_URL}."
        )
    return paths


def _found(folder, name):
    """The path of file `name` in folder, gzipped (as downloaded) or unzipped (as a browser may leave it); None."""
    for candidate in (name, name.removesuffix(".gz")):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def keras_home():
    """Where keras.utils.get_file keeps downloads: $KERAS_HOME or ~/.keras, as Keras 3 decides,
    and /tmp/.keras where that cannot be written."""
    base = os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))
    if os.path.isdir(base) and not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return base


def keras_cache_dir():
    """The folder keras.datasets.fashion_mnist downloads into: datasets/fashion-mnist in keras_home()."""
    return os.path.join(keras_home(), KERAS_CACHE_SUBDIR)


def copy_into_keras_cache(paths):
    """Copy checked files from a folder into the Keras cache, unless they are there already.

    Each copy is written whole under a temporary name, then renamed. A cache that cannot
    be written is left alone with one line saying so: the run goes on from the folder.
    """
    cache = keras_cache_dir()
    try:
        os.makedirs(cache, exist_ok=True)
        copied = False
        for path in paths:
            destination = os.path.join(cache, os.path.basename(path))
            if not os.path.isfile(destination) or os.path.getsize(destination) != os.path.getsize(path):
                temporary = destination + ".partial"
                shutil.copyfile(path, temporary)
                os.replace(temporary, destination)
                copied = True
    except OSError as error:
        print(f"Note: could not copy the Fashion-MNIST files into the Keras cache {cache} ({error.strerror}); "
              "pass the folder again next time.")
        return
    if copied:
        print(f"Copied the Fashion-MNIST files into the Keras cache, {cache}: "
              "the other scripts and the tests find them there from now on.")


def cached_files(names=tuple(FILES)):
    """{file name: path} of the named files in the Keras cache, gzipped or unzipped; None where one is missing."""
    paths = {name: _found(keras_cache_dir(), name) for name in names}
    return None if None in paths.values() else paths


def _read_cached(name):
    """File `name` from the Keras cache, downloaded there if it is missing, incomplete or stale."""
    found = _found(keras_cache_dir(), name)
    if found:
        try:
            return read_idx(found)
        except DataError:
            pass  # downloaded again below, in its place
    return read_idx(download(name))


def download(name):
    """Download file `name` into the Keras cache, as keras.datasets.fashion_mnist does; its path."""
    from convlab.tensorflow_startup import import_tensorflow

    import_tensorflow()  # Keras loads TensorFlow: without its start-up notices
    from keras.utils import get_file  # imported here: runs with the files at hand never need Keras

    try:
        # With the hash, Keras replaces a cached copy that is incomplete or stale.
        return get_file(name, origin=KERAS_ORIGIN + name, cache_dir=keras_home(), cache_subdir=KERAS_CACHE_SUBDIR,
                        file_hash=FILES[name].md5, hash_algorithm="md5")
    except Exception as error:  # URLError, HTTPError, SSLError, proxy errors, ...
        raise DataError(
            f"could not download {name} from {KERAS_ORIGIN}: {error}\n"
            "Without internet access (or behind a proxy), download the four files "
            f"from {ZALANDO_URL} and pass their folder once with --data-dir DIR "
            f"(or the environment variable {DATA_DIR_ENV}): they are then copied into {keras_cache_dir()}."
        ) from None


def read_idx(path):
    """Read one IDX file, gzipped or unzipped, checking its gzip stream, IDX header and MD5.

    The checks run from the most specific message to the most general one: a
    truncated download fails as gzip, a wrong file as IDX, any other change as MD5.
    """
    name = os.path.basename(path)
    gzipped = name.endswith(".gz")
    known = FILES[name if gzipped else name + ".gz"]
    try:
        with open(path, "rb") as f:
            contents = f.read()
    except OSError as error:  # no read permission, a file that vanished, an I/O error
        raise DataError(f"cannot read {path}: {error.strerror or error}.\n"
                        "Check the file's permissions, or download it again from " + ZALANDO_URL) from None
    try:
        raw = gzip.decompress(contents) if gzipped else contents
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"{path} is truncated or not a valid gzip file ({error}).\n"
            f"Delete it and download it again from {ZALANDO_URL}."
        ) from None
    data = _parse_idx(raw, path, known.magic, known.count)
    md5, expected_md5 = hashlib.md5(contents).hexdigest(), known.md5 if gzipped else known.unzipped_md5
    if md5 != expected_md5:
        raise DataError(
            f"{path} is corrupt or not the original file: its MD5 is {md5}, "
            f"{'Zalando' if gzipped else 'the unzipped original'}'s is {expected_md5}.\n"
            f"Delete it and download it again from {ZALANDO_URL}."
        )
    return data


def _parse_idx(raw, path, magic, count):
    """IDX: a big-endian int32 magic number, one int32 per dimension, then uint8 data."""
    dims = [count, *IMAGE_SHAPE] if magic == 2051 else [count]
    header_size = 4 * (1 + len(dims))
    header = np.frombuffer(raw[:header_size], ">i4").tolist() if len(raw) >= header_size else None
    if header is None or header[0] != magic:
        found = "a short file" if header is None else f"magic number {header[0]}"
        raise DataError(f"{path} is not an IDX file of the expected kind: expected magic number {magic}, "
                        f"found {found}.")
    if header[1:] != dims:
        raise DataError(f"{path} has shape {tuple(header[1:])}, expected {tuple(dims)}.")
    data = np.frombuffer(raw, np.uint8, offset=header_size)
    if data.size != np.prod(dims):
        raise DataError(f"{path} holds {data.size} bytes of data, expected {np.prod(dims)} for shape {tuple(dims)}.")
    return data.reshape(dims)
