"""Which device and numeric precision a run uses, and how it spreads over devices.

Kept apart from train.py because the benchmark makes the same choices.
"""

import faulthandler
import json
import os
import platform
import subprocess
import sys
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from cpu_usage import cpuinfo_field

# --precision value -> Keras dtype policy. "Mixed" computes in 16 bits and keeps
# the weights (and, in model.py, the softmax) in float32.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
CPU_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}
# The flags that decide training speed, from slowest to fastest class.
SPEED_FLAGS = ["avx2", "avx512f", "avx512_bf16", "amx_bf16"]


def cpu_flags():
    """The CPU's feature flags; empty where /proc/cpuinfo does not tell."""
    return set((cpuinfo_field("flags") or "").split())


def cpu_class():
    """The CPU's fastest vector extension among SPEED_FLAGS (e.g. "avx2"), for naming results."""
    present = [flag for flag in SPEED_FLAGS if flag in cpu_flags()]
    return present[-1] if present else platform.machine()


def cpu_name():
    return cpuinfo_field("model name") or platform.processor() or platform.machine()


def choose_precision(requested="auto"):
    """Return (Keras dtype policy, why) for --precision.

    auto: bfloat16 where the hardware computes it natively (CPUs with AVX512_BF16 or
    AMX; GPUs from Ampere on), float16 on older GPUs with tensor cores, else float32.
    """
    if requested != "auto":
        return POLICIES[requested], "requested"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        if capability >= (8, 0):
            return "mixed_bfloat16", f"GPU with compute capability {capability[0]}.{capability[1]}"
        if capability >= (7, 0):
            return "mixed_float16", f"GPU with compute capability {capability[0]}.{capability[1]}"
        return "float32", "GPU without fast 16-bit math"
    native = CPU_BF16_FLAGS & cpu_flags()
    if native:
        return "mixed_bfloat16", f"CPU has {', '.join(sorted(f.upper() for f in native))}"
    return "float32", "CPU has no native bfloat16"


def split_cpu(devices):
    """Split the CPU into N logical devices (for trying MirroredStrategy without GPUs).

    Must run before TensorFlow initialises its devices, i.e. before any model or tensor.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)


class ClusterError(Exception):
    """TF_CONFIG is unusable or the cluster cannot start; the message says which."""


class ClusterTask(NamedTuple):
    """This process's place in a multi-worker cluster, read from TF_CONFIG."""

    cluster: dict  # job name -> list of "host:port"
    type: str  # "chief" or "worker"
    index: int

    @property
    def is_chief(self):
        """The task that writes the results: the chief, or worker 0 where there is no chief."""
        return self.type == "chief" or (self.type == "worker" and self.index == 0 and "chief" not in self.cluster)


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
    C-level timer ends this process with exit code 1, silently.
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


def library_versions():
    """What a result was computed with, recorded beside it."""
    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__}


def describe_device(strategy):
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(g).get("device_name", "GPU") for g in gpus]
        where = f"{len(gpus)} GPU(s): {', '.join(names)}"
    else:
        where = f"CPU: {cpu_name()}, {os.cpu_count()} cores"
    replicas = strategy.num_replicas_in_sync
    kind = ("MultiWorkerMirroredStrategy" if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            else type(strategy).__name__)  # the former's class calls itself CollectiveAllReduceStrategy
    spread = f", {kind} over {replicas} replicas" if replicas > 1 else ""
    return where + spread
