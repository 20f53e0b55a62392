"""Where a training step's time goes: per-op times of train.py's CNN from TensorFlow's profiler.

    python benchmarks/profile_step.py               # the course CNN, batch 128, float32 or auto
    python benchmarks/profile_step.py --batch-size 64

Random uint8 images, cached in memory, so the input pipeline costs as little as it can;
the trace's host plane gives each op's time on each TensorFlow compute thread, summed
here over the profiled steps and shown as a share of the cores' time.
"""

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

from convlab import hardware, recipe  # noqa: E402
from convlab.data import INPUT_SHAPE, NUM_CLASSES  # noqa: E402
from model import build_model  # noqa: E402


def op_seconds(trace_dir):
    """{op: seconds summed over threads} from the host plane of the trace's .xplane.pb."""
    path = next(Path(trace_dir).rglob("*.xplane.pb"))
    space = xplane_pb2.XSpace()
    space.ParseFromString(path.read_bytes())
    seconds = collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith(("tf_Compute", "tf_data")):
                continue  # Python and executor frames contain the ops: counting them would count twice
            for event in line.events:
                name = names.get(event.metadata_id, "?")
                if ":" in name and "::" not in name:  # "node name:OpType" marks a kernel
                    seconds[name.split("/", 1)[-1]] += event.duration_ps / 1e12
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--batch-size", type=int, default=recipe.BATCH_SIZE)
    parser.add_argument("--steps", type=int, default=30, help="profiled steps")
    parser.add_argument("--precision", choices=["auto", *hardware.POLICIES], default="auto")
    args = parser.parse_args()
    policy, why = hardware.choose_precision(args.precision)
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    count = args.batch_size * 40
    images = np.random.randint(0, 256, (count, *INPUT_SHAPE), dtype=np.uint8)
    labels = np.random.randint(0, NUM_CLASSES, count).astype(np.uint8)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(args.batch_size).cache().repeat()
    model = build_model(args.model)
    recipe.compile_for_training(model, 2e-3, 10_000)
    model.fit(data, steps_per_epoch=40, epochs=1, verbose=0)  # trace and warm up

    with tempfile.TemporaryDirectory() as trace_dir:
        tf.profiler.experimental.start(trace_dir)
        started = time.perf_counter()
        model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
        wall = time.perf_counter() - started
        tf.profiler.experimental.stop()
        seconds = op_seconds(trace_dir)

    cores = os.cpu_count()
    print(f"{hardware.cpu_name()}, {cores} cores, {policy} ({why}); {args.model}, batch {args.batch_size}: "
          f"{wall / args.steps * 1000:.0f} ms per step, {args.steps * args.batch_size / wall:,.0f} images/s "
          "(profiling slows it a little)")
    core_seconds = wall * cores
    for name, spent in seconds.most_common(20):
        print(f"{100 * spent / core_seconds:6.1f}%  {name}")
    print(f"{100 * (1 - sum(seconds.values()) / core_seconds):6.1f}%  no kernel running (scheduling, idle cores)")


if __name__ == "__main__":
    main()
