"""Which of TensorFlow's threads run while the course CNN trains: per-thread CPU time of a window.

    python benchmarks/probe_threads.py                          # 2 windows of 4,000 images per recipe
    TF_NUM_INTRAOP_THREADS=1 python benchmarks/probe_threads.py # TensorFlow's variables go in front

Trains the course CNN by the course's recipe (batch 32) and by this project's
(batch 128), the same code benchmarks/speed.py times, a window of one then a window
of the other after a warm-up each, and prints for every window its images/s, the
cores it kept busy, the machine's idle, stolen and otherwise-used shares, and the CPU
seconds of each thread that ran, the seconds it was ready but left waiting for a
core, and how often it was put on a core (mostly: woken up). Threads TensorFlow
does not name carry the process's own name ("python"); the main thread is marked (main).
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402

import speed  # noqa: E402
from convlab.data import VALIDATION_SIZE, load_fashion_mnist, split_validation  # noqa: E402
from convlab.recipe import SEED  # noqa: E402

# What TensorFlow, oneDNN and OpenMP read from the environment about threads.
THREAD_VARIABLES = ["TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "TF_ENABLE_ONEDNN_OPTS",
                    "TF_ONEDNN_THREADPOOL_USE_CALLER_THREAD", "OMP_NUM_THREADS"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--window", type=int, default=4000, help="training images per window")
    parser.add_argument("--windows", type=int, default=2, help="timed windows per recipe")
    args = parser.parse_args()
    train, test = load_fashion_mnist(args.data_dir)
    train, _ = split_validation(*train, VALIDATION_SIZE, SEED)
    settings = ", ".join(f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ)
    print(f"{speed.cpu_usage.cores()} cores; {settings or 'no thread variables set'}")
    recipes = []
    for kind in (speed.Course, speed.Project):
        keras.utils.set_random_seed(0)
        recipes.append(kind("cnn", train, test, total_epochs=args.windows + 1))
    for step in range(args.windows + 1):
        for recipe in recipes:
            record = recipe.train(step, images=args.window)
            if not step:  # the warm-up traces the step function
                continue
            print(f"\n{recipe.label} window {step}, batch {recipe.batch_size}: "
                  f"{args.window / record['wall_seconds']:,.0f} images/s, {record['cpu_seconds']:.2f} CPU s "
                  f"in {record['wall_seconds']:.2f} s: {speed.busy(record)}")
            print(f"    {'thread':>8} {'name':<20}{'CPU s':>7}{'of wall':>9}{'waiting s':>11}{'runs':>8}")
            for thread in sorted(record["threads"], key=lambda thread: -thread["cpu_seconds"]):
                share = thread["cpu_seconds"] / record["wall_seconds"]
                print(f"    {thread['tid']:>8} {thread['name']:<20}{thread['cpu_seconds']:>7.2f}{share:>9.0%}"
                      f"{thread['waiting_seconds']:>11.3f}{thread['runs']:>8,}")


if __name__ == "__main__":
    main()
