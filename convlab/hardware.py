"""Which device and numeric precision a run uses, the float32 copy of a model, and the facts recorded with a result.

Used by train.py and the benchmarks (the same choices), and by saved_models.py and the
TensorBoard feature maps for float32 copies. Spreading a run over several devices or
machines is cluster.py's.
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


def cpuinfo_field(field, path="/proc/cpuinfo"):
    """The first value of a /proc/cpuinfo field, e.g. "model name" or "flags"; None where there is none."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags():
    """The CPU's feature flags; empty where /proc/cpuinfo does not tell."""
    return set((cpuinfo_field("flags") or "").split())


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


def float32_copy(model):
    """The model computing in float32 throughout, with the same weights: the one way to float32 outputs.

    A mixed-precision model answers in bfloat16 or float16, which matplotlib cannot
    draw, TensorBoard refuses and TFLite has no kernels for. Its weights are float32
    all along, so the copy loses nothing; for a float32 model it changes nothing.
    Used by saved_models.load_model (every script that uses a saved model) and by the
    TensorBoard feature maps of a model in training.
    """
    def float32_layer(layer):
        if not isinstance(layer, keras.layers.Layer):  # an op such as the mirror's flip: it has no precision
            return layer.__class__.from_config(layer.get_config())
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    # recursive: a model wrapped around its network (model.with_mirror) is copied layer by layer, inside too.
    copy = keras.models.clone_model(model, clone_function=float32_layer, recursive=True)
    copy.set_weights(model.get_weights())
    return copy
