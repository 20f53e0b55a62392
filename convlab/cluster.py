"""The devices and machines a run trains on: one Cluster object, made once at the start of train.py.

A plain run is one process on one device, and its Cluster does nothing but hand out
the default strategy's scope. Everything --strategy needs beyond that lives here and
nowhere else: the strategy for the flag; for --strategy multiworker, this process's
place in the cluster (TF_CONFIG), the wait for the other workers, where a worker other
than the chief writes, the fix that lets Keras' fit() run across workers, and the
message when a peer is lost. Used by train.py, which passes the Cluster down to recipe.py.
"""

import faulthandler
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import keras
import tensorflow as tf

from convlab.recipe import TrainingError

# fit_across_workers patches private methods of Keras' trainer, so --strategy multiworker
# runs only on the Keras versions its tests ran on (with TensorFlow 2.21; on Keras 3.10, the oldest
# requirements.txt admits, Keras' data iterator differs and the fix fails).
TESTED_KERAS = ("3.15",)


class ClusterError(TrainingError):
    """TF_CONFIG is unusable or the cluster cannot start; the message says which."""


def start(strategy="auto", out=None, cpu_devices=1):
    """The Cluster for train.py's --strategy, --out and --cpu-devices.

    A bad TF_CONFIG stops here, before anything is loaded; for multiworker this waits
    for the other workers to join.
    """
    task = task_for(strategy)
    if cpu_devices > 1:
        split_cpu(cpu_devices)
        strategy = "mirrored" if strategy == "auto" else strategy
    return Cluster(make_strategy(strategy), task, out)


class Cluster:
    """Where and how this process trains: its strategy, its task in a multi-worker cluster (else None),
    the folder it writes to, and whether its files are the run's."""

    def __init__(self, strategy, task=None, out=None):
        self.strategy, self.task = strategy, task
        self.folder = output_folder(task, out) if out is not None else None
        # The chief's files are the run's; another worker writes into a temporary folder.
        self.writes = task is None or task.is_chief
        self.several_workers = multi_worker(strategy)
        # What the collectives raise when a peer dies: nothing to catch with one process.
        self.lost_peer_errors = LOST_PEER_ERRORS if self.several_workers else ()
        # Keras callbacks for every model's fit(): on every worker, a checksum of the trained weights.
        self.callbacks = [WeightsChecksum()] if task else []

    @property
    def replicas(self):
        return self.strategy.num_replicas_in_sync

    def scope(self):
        """Where models are built, so that their variables are spread over the replicas."""
        return self.strategy.scope()

    def prepare(self, model):
        """Make a compiled model ready to fit() here (across several workers, Keras needs a fix)."""
        if self.several_workers:
            fit_across_workers(model, self.strategy)

    def lost_peer_message(self, error, name, done, epochs):
        return lost_peer_message(error, self.strategy, name, done, epochs)

    def __enter__(self):
        return self

    def __exit__(self, error_type, error, traceback):
        """At the end of a run that finished: a worker other than the chief removes its temporary folder.

        A stopped run keeps it, so that --resume finds its backups again.
        """
        if error_type is None:
            finish_worker(self.task, self.folder)


def split_cpu(devices):
    """Split the CPU into N logical devices (for trying MirroredStrategy without GPUs).

    Must run before TensorFlow initialises its devices, i.e. before any model or tensor.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)


def make_strategy(name="auto"):
    """Return a tf.distribute strategy for --strategy.

    auto: MirroredStrategy over all GPUs when there are several, else the default
    (one device). mirrored: all local GPUs, or all logical CPUs if there is no GPU.
    multiworker: several machines, configured by the standard TF_CONFIG variable.
    """
    if name == "multiworker":  # first: listing devices would start TensorFlow before its collectives are set up
        return _multi_worker_strategy(cluster_task())
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "none"
    if name == "none":
        return tf.distribute.get_strategy()
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


# --- the cluster: TF_CONFIG ---------------------------------------------------------


class ClusterTask(NamedTuple):
    """This process's place in a multi-worker cluster, read from TF_CONFIG."""

    cluster: dict  # job name -> list of "host:port"
    type: str  # "chief" or "worker"
    index: int

    @property
    def is_chief(self):
        """The task that writes the results: the chief, or worker 0 where there is no chief."""
        return self.type == "chief" or (self.type == "worker" and self.index == 0 and "chief" not in self.cluster)


def task_for(strategy):
    """This process's task for a --strategy multiworker run, else None (one process: nothing to check)."""
    if strategy != "multiworker":
        return None
    check_keras_version()
    return cluster_task()


def check_keras_version(version=None):
    """Refuse a Keras whose fit() the multi-worker fix was not tested with: it patches private methods."""
    version = version or keras.__version__
    if ".".join(version.split(".")[:2]) not in TESTED_KERAS:
        tested = ", ".join(f"{v}.*" for v in TESTED_KERAS)
        raise ClusterError(f"--strategy multiworker is tested with Keras {tested} only, and this is Keras {version}: "
                           f"pip install 'keras=={TESTED_KERAS[-1]}.*', or train without --strategy multiworker.")


def cluster_task(environ=os.environ):
    """Parse and check TF_CONFIG; raise ClusterError with what is wrong and how it should look."""
    example = ('e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}')
    text = environ.get("TF_CONFIG")
    if not text:
        raise ClusterError(f"--strategy multiworker needs the TF_CONFIG variable, {example}")
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ClusterError(f"TF_CONFIG is not valid JSON ({error}); {example}") from None
    if not isinstance(config, dict):
        raise ClusterError(f"TF_CONFIG must be a JSON object; {example}")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster or not all(
            isinstance(addresses, list) and addresses and all(isinstance(a, str) and ":" in a for a in addresses)
            for addresses in cluster.values()):
        raise ClusterError(f'TF_CONFIG has no "cluster" of job names and "host:port" lists; {example}')
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ClusterError(f'TF_CONFIG has no "task" with a "type" and an "index" (which worker this is); {example}')
    if task["type"] not in cluster:
        raise ClusterError(f'TF_CONFIG: task type "{task["type"]}" is not in the cluster, '
                           f"which has {', '.join(cluster)}")
    size = len(cluster[task["type"]])
    if not isinstance(task["index"], int) or not 0 <= task["index"] < size:
        raise ClusterError(f'TF_CONFIG: task index {task["index"]} is outside the cluster: '
                           f'"{task["type"]}" has {size} address(es), so the index is 0 to {size - 1}')
    return ClusterTask(cluster, task["type"], task["index"])


# --- starting the cluster -----------------------------------------------------------

# How long a worker waits for the others to start before giving up, unless
# CLUSTER_TIMEOUT_SECONDS says otherwise.
CLUSTER_TIMEOUT = 120


def cluster_timeout(environ=os.environ):
    """CLUSTER_TIMEOUT_SECONDS, checked: a typo there must not become a traceback or an endless wait."""
    text = environ.get("CLUSTER_TIMEOUT_SECONDS", str(CLUSTER_TIMEOUT))
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise ClusterError(f"CLUSTER_TIMEOUT_SECONDS must be a positive number of seconds, not {text!r}")
    return seconds


def _multi_worker_strategy(task, timeout=None):
    """MultiWorkerMirroredStrategy; if the other workers do not join within the timeout, exit 1 with a message.

    TensorFlow waits for every worker forever, inside one C++ call that holds the
    GIL and ignores SIGTERM (TF 2.21; its coordination service's register timeout
    did not end that wait either): no Python thread or signal handler can run
    meanwhile. So a small watchdog process prints the message, and faulthandler's
    C-level timer ends this process with exit code 1, with no traceback.
    """
    timeout = cluster_timeout() if timeout is None else timeout
    peers = [address for job, addresses in task.cluster.items() for i, address in enumerate(addresses)
             if (job, i) != (task.type, task.index)]
    message = (f"error: the cluster did not come together within {timeout:g} seconds: no answer from "
               f"all of {', '.join(peers)}. Start the same command on every address in TF_CONFIG "
               "(or set CLUSTER_TIMEOUT_SECONDS to wait longer).")
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(timeout), message])
    faulthandler.dump_traceback_later(timeout + 1, exit=True, file=open(os.devnull, "w"))
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except Exception as error:  # e.g. an address TensorFlow cannot bind or resolve
        raise ClusterError(f"cannot start {task.type} {task.index} of the cluster: {error}") from None
    finally:
        faulthandler.cancel_dump_traceback_later()
        watchdog.kill()
        watchdog.wait()


# Prints the message unless killed first; leaves early if the training process is gone.
_WATCHDOG = """
import os, sys, time
parent, deadline, message = int(sys.argv[1]), time.monotonic() + float(sys.argv[2]), sys.argv[3]
while time.monotonic() < deadline:
    time.sleep(0.2)
    if os.getppid() != parent:
        sys.exit()
print(message, file=sys.stderr, flush=True)
"""


# --- where each worker writes -------------------------------------------------------


def output_folder(task, out):
    """--out for a run on one machine and for the chief; a temporary folder for another worker.

    Every worker must save (saving takes part in the collectives) and back up its own
    epochs (Keras' BackupAndRestore has no chief logic), but only the chief's files
    are kept. The temporary name is fixed by the task and --out, so that a stopped
    run's backup is found again by --resume on that worker.
    """
    if task is None or task.is_chief:
        return Path(out)
    key = hashlib.sha1(str(Path(out).resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"train-{task.type}{task.index}-{key}"


class WeightsChecksum(keras.callbacks.Callback):
    """After fit(), on every worker of a multi-worker run, a checksum of the trained weights.

    Equal on every worker when they trained as one.
    """

    def on_train_end(self, logs=None):
        weights = b"".join(w.tobytes() for w in self.model.get_weights())
        print(f"{self.model.name} weights checksum: {hashlib.sha256(weights).hexdigest()[:16]}")


def finish_worker(task, folder):
    """At the end of a run, a worker other than the chief removes its temporary folder and says so."""
    if task and not task.is_chief:
        shutil.rmtree(folder)
        print(f"\n{task.type} {task.index}: done, its temporary copy removed; "
              "the chief holds the results, in its --out.")


# --- training across workers --------------------------------------------------------


def multi_worker(strategy):
    """True for a MultiWorkerMirroredStrategy whose cluster has more than one task."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    return sum(len(tasks) for tasks in strategy.cluster_resolver.cluster_spec().as_dict().values()) > 1


def fit_across_workers(model, strategy):
    """Let Keras 3's fit() run under MultiWorkerMirroredStrategy with several workers.

    Keras 3.15 fails there (keras-team/keras#20585, measured on TF 2.21) in two places,
    both fixed here on this one model, so that TensorFlow's own engine still does the
    training, the gradient all-reduce and the input distribution:
    - before the first step, fit() takes a cross-worker MEAN of a whole (images, labels)
      batch just to learn its shapes, which tf.distribute cannot reduce: this worker's
      own batch has the same shapes;
    - after every step, fit() averages the loss and metrics across workers with
      strategy.reduce(MEAN, axis=0), which fails on scalars: each step returns them as
      one-element vectors, so the reduction gives the global mean as a scalar.
    """
    def local_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0],
                                                   next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    def as_vectors(step):
        def step_with_vectors(data):
            return {key: tf.reshape(value, [1]) for key, value in step(data).items()}
        return step_with_vectors

    model._maybe_symbolic_build = local_build
    model.train_step, model.test_step = as_vectors(model.train_step), as_vectors(model.test_step)


# What the collectives raise on the survivors when a peer dies.
LOST_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError)


def lost_peer_message(error, strategy, name, done, epochs):
    """Who stopped and how to go on, for a LOST_PEER_ERRORS error during model `name`'s training.

    TensorFlow's coordination service notices the missing heartbeats (about 15 s) and
    aborts the collectives with a page of graph trace; the user needs only this. The
    trace may name this worker too (its own collectives failed): it is not the one lost.
    """
    resolver = strategy.cluster_resolver
    this_task = f"/job:{resolver.task_type}/replica:0/task:{resolver.task_id}"
    named = set(re.findall(r"/job:\w+/replica:\d+/task:\d+", error.message)) - {this_task}
    lost = sorted(named) or ["a peer"]
    return (f"{name}: the cluster lost {', '.join(lost)} after {done} of {epochs} epochs. "
            "Stop every worker, then start the same command with --resume on each: "
            "all of them continue from the last completed epoch.")
