"""Which device and numeric precision a run uses, and the facts about the machine recorded with a result.

Kept apart from train.py because the benchmarks make the same choices. Spreading a
run over several devices or machines is distributed.py's.
"""

import os
import platform

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
    """Return (Keras dtype policy, why) for --precision; auto asks auto_precision about this machine."""
    if requested != "auto":
        return POLICIES[requested], "requested"
    return auto_precision(cpu_flags(), gpu_capability())


def gpu_capability():
    """The first GPU's compute capability, e.g. (8, 0); None without a GPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    return tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))


def auto_precision(flags, capability):
    """(policy, why) for --precision auto, from the CPU's flags and the GPU's compute capability (None: no GPU).

    bfloat16 where the hardware computes it natively (CPUs with AVX512_BF16 or AMX;
    GPUs from Ampere on), float16 on older GPUs with tensor cores, else float32.
    """
    if capability is not None:
        if capability >= (8, 0):
            return "mixed_bfloat16", f"GPU with compute capability {capability[0]}.{capability[1]}"
        if capability >= (7, 0):
            return "mixed_float16", f"GPU with compute capability {capability[0]}.{capability[1]}"
        return "float32", "GPU without fast 16-bit math"
    native = CPU_BF16_FLAGS & set(flags)
    if native:
        return "mixed_bfloat16", f"CPU has {', '.join(sorted(f.upper() for f in native))}"
    return "float32", "CPU has no native bfloat16"


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
