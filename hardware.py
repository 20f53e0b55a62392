"""Which device and numeric precision a run uses, and how it spreads over devices.

Kept apart from train.py because the benchmark makes the same choices.
"""

import os
import platform

import keras
import numpy as np
import tensorflow as tf

# --precision value -> Keras dtype policy. "Mixed" computes in 16 bits and keeps
# the weights (and, in model.py, the softmax) in float32.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
CPU_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}
# The flags that decide training speed, from slowest to fastest class.
SPEED_FLAGS = ["avx2", "avx512f", "avx512_bf16", "amx_bf16"]


def _cpuinfo(field):
    """The first value of a /proc/cpuinfo field (Linux); None elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags():
    """The CPU's feature flags; empty where /proc/cpuinfo does not tell."""
    return set((_cpuinfo("flags") or "").split())


def cpu_class():
    """The CPU's fastest vector extension among SPEED_FLAGS (e.g. "avx2"), for naming results."""
    present = [flag for flag in SPEED_FLAGS if flag in cpu_flags()]
    return present[-1] if present else platform.machine()


def cpu_name():
    return _cpuinfo("model name") or platform.processor() or platform.machine()


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


def make_strategy(name="auto"):
    """Return a tf.distribute strategy for --strategy.

    auto: MirroredStrategy over all GPUs when there are several, else the default
    (one device). mirrored: all local GPUs, or all logical CPUs if there is no GPU.
    multiworker: several machines, configured by the standard TF_CONFIG variable.
    """
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "none"
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
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
    spread = f", {type(strategy).__name__} over {replicas} replicas" if replicas > 1 else ""
    return where + spread
