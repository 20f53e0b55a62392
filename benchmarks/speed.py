"""Benchmark: the course's training recipe against this project's, side by side in one process.

    python -m benchmarks.speed             # full data, about 25 minutes on 2 CPU cores
    python -m benchmarks.speed --smoke     # a few seconds: keeps the script working in CI

The course's recipe is `model.fit(x_train / 255.0, y_train, epochs=5)`: float64
arrays, batch size 32, Adam at 1e-3, float32, Sequential models without a
Rescaling layer (course.py). This project's path is train.py's (recipe.py): uint8
data through tf.data, the precision `auto` picks, its batch size and schedule.

Shared machines are noisy, so the two recipes are always measured interleaved,
a window of one then a window of the other, and every figure is kept:
- throughput: the same fixed slice of the training data (--window images) trained
  --windows times per recipe after a warm-up window; images/s from the fastest
  and the median window, and CPU time per image;
- time to accuracy: both CNNs train epoch by epoch, alternating, for up to
  --max-epochs; after each epoch the test accuracy is measured (its time not
  counted), and the training time (wall and CPU) until it first reaches each
  --targets is kept.
Every window and epoch records next to its wall time the CPU time it used, the cores
that kept busy, the machine's idle and stolen shares, and each thread's CPU time
(cpu_usage.py): a core left idle, or taken by another program, slows the wall time but
not the CPU time per image, so the ratios are given both ways. Writes a table to
stdout and everything to speed-CPUCLASS.json, with the CPU, its flags that matter, the
precision each side used and the library versions. Whole runs, start-up included:
whole_run.py.
"""

import argparse
import math
import platform
import statistics
import sys
from pathlib import Path

from convlab.tensorflow_startup import import_tensorflow

import_tensorflow()  # first: without the start-up notices that look like errors

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import course as notebook  # noqa: E402
from benchmarks import cpu_usage  # noqa: E402
from benchmarks.flops import training_flops  # noqa: E402
from convlab import files, hardware, recipe  # noqa: E402
from convlab.data import (  # noqa: E402
    DATA_DIR_HELP,
    VALIDATION_SIZE,
    DataError,
    Images,
    load_fashion_mnist,
    split_validation,
    to_dataset,
    training_dataset,
)
from convlab.recipe import RECIPES  # noqa: E402
from model import build_model  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SMOKE_IMAGES = 2000  # --smoke: enough to run every line, nothing more


class Project:
    """train.py's recipe for the model: its precision, optimizer, loss and batches, from the same code."""

    label = "project"

    def __init__(self, name, train, test, total_epochs):
        self.precision, _ = hardware.choose_precision("auto")
        keras.mixed_precision.set_global_policy(self.precision)
        self.model = build_model(name)
        self.batch_size = recipe.BATCH_SIZE
        self.steps = math.ceil(len(train.images) / self.batch_size)
        self.model.compile(optimizer=recipe.optimizer(RECIPES[name].learning_rate, self.steps * total_epochs),
                           loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        self.slices = {}
        self.train_images = train
        self.test = (test.images[..., None], test.labels)

    def train(self, epoch, images=None):
        if images is None:  # epoch `epoch` of train.py's training, in that epoch's order
            data = training_dataset(*self.train_images, self.batch_size, 0, epoch, epoch + 1)
        else:  # a fixed window, batched once: the timing covers training, not slicing
            if images not in self.slices:
                self.slices[images] = to_dataset(*(part[:images] for part in self.train_images), self.batch_size)
            data = self.slices[images]
        with cpu_usage.Window() as window:
            self.model.fit(data, initial_epoch=epoch, epochs=epoch + 1, verbose=0, shuffle=False)
        return window.record


def test_accuracy(side):
    _, accuracy = side.model.evaluate(*side.test, batch_size=1000, verbose=0)
    return accuracy


def busy(record):
    """A record's cores and machine shares, for the progress lines; '*' marks an underused window."""
    shares = "" if record["idle_share"] is None else (
        f", machine idle {record['idle_share']:.0%} steal {record['steal_share']:.0%}"
        f" other work {record['others_share']:.0%}")
    return f"{record['busy_cores']:.2f} cores{' *' if record['underused'] else ''}{shares}"


def throughput(name, train, test, windows, window):
    """Both recipes on the same fixed window of images, alternating; one warm-up window each."""
    sides = []
    for kind in (notebook.Course, Project):
        keras.utils.set_random_seed(0)
        sides.append(kind(name, train, test, total_epochs=windows + 1))
    records = {side.label: [] for side in sides}
    for step in range(windows + 1):
        for side in sides:
            record = side.train(step, images=window)
            if step:  # the first window traces the step functions
                records[side.label].append(record)
        if step:
            print(f"    window {step}: " + "; ".join(
                f"{r.label} {window / records[r.label][-1]['wall_seconds']:,.0f} images/s, "
                f"{busy(records[r.label][-1])}" for r in sides), flush=True)
    flops = training_flops(sides[0].model)
    results = {}
    for side in sides:
        seconds = [record["wall_seconds"] for record in records[side.label]]
        cpu_seconds = [record["cpu_seconds"] for record in records[side.label]]
        results[side.label] = {
            "precision": side.precision, "batch_size": side.batch_size,
            "window_seconds": seconds,
            "images_per_second_best": round(window / min(seconds)),
            "images_per_second_median": round(window / statistics.median(seconds)),
            "cpu_ms_per_image_best": round(1000 * min(cpu_seconds) / window, 3),
            "cpu_ms_per_image_median": round(1000 * statistics.median(cpu_seconds) / window, 3),
            "busy_cores_median": round(statistics.median(r["busy_cores"] for r in records[side.label]), 2),
            "underused_windows": sum(r["underused"] for r in records[side.label]),
            "mflop_per_image": round(flops / 1e6, 2),
            "gflop_per_second_best": round(window / min(seconds) * flops / 1e9, 1),
            "windows": records[side.label],
        }
    return results


def first_reaching(totals, accuracies, target):
    """(total, epochs) at the first epoch whose accuracy reaches the target; (None, None) if none does."""
    return next(((round(float(total), 1), epoch) for epoch, (total, accuracy)
                 in enumerate(zip(totals, accuracies), 1) if accuracy >= target), (None, None))


def race(train, test, max_epochs, targets):
    """Both CNNs epoch by epoch, alternating: training seconds (wall and CPU) until each test-accuracy target."""
    keras.utils.set_random_seed(0)
    course = notebook.Course("cnn", train, test, max_epochs)
    keras.utils.set_random_seed(0)
    project_epochs = min(max_epochs, RECIPES["cnn"].epochs)
    project = Project("cnn", train, test, project_epochs)
    results = {}
    for side, _ in ((course, max_epochs), (project, project_epochs)):
        results[side.label] = {"precision": side.precision, "batch_size": side.batch_size,
                                 "epoch_seconds": [], "epoch_cpu_seconds": [], "test_accuracy": [], "epochs": []}
    for epoch in range(max_epochs):
        for side, epochs in ((course, max_epochs), (project, project_epochs)):
            if epoch >= epochs:
                continue
            result = results[side.label]
            record = side.train(epoch)
            result["epochs"].append(record)
            result["epoch_seconds"].append(round(record["wall_seconds"], 2))
            result["epoch_cpu_seconds"].append(round(record["cpu_seconds"], 2))
            result["test_accuracy"].append(round(test_accuracy(side), 4))
            print(f"    {side.label} epoch {epoch + 1}: {result['epoch_seconds'][-1]:.1f} s, "
                  f"{result['epoch_cpu_seconds'][-1]:.1f} CPU s, {busy(record)}, "
                  f"test accuracy {result['test_accuracy'][-1]:.4f}", flush=True)
    for result in results.values():
        result["seconds_to"], result["cpu_seconds_to"], result["epochs_to"] = {}, {}, {}
        for target in targets:
            key = f"{target:.3f}"
            result["seconds_to"][key], result["epochs_to"][key] = first_reaching(
                np.cumsum(result["epoch_seconds"]), result["test_accuracy"], target)
            result["cpu_seconds_to"][key], _ = first_reaching(
                np.cumsum(result["epoch_cpu_seconds"]), result["test_accuracy"], target)
    return results


def machine():
    """What a result was measured on."""
    return {"cpu": hardware.cpu_name(), "cpu_class": cpu_usage.cpu_class(hardware.cpu_flags()),
            "cores": cpu_usage.cores(), "cpu_flags": sorted(hardware.cpu_flags() & set(cpu_usage.SPEED_FLAGS)),
            "platform": platform.platform(), "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help=DATA_DIR_HELP)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for speed-CPUCLASS.json")
    parser.add_argument("--windows", type=int, default=6, help="timed throughput windows per recipe and model")
    parser.add_argument("--window", type=int, default=11000, help="training images per throughput window")
    parser.add_argument("--max-epochs", type=int, default=10, help="epochs of the race to the targets")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.90, 0.91],
                        help="test accuracies the CNNs race to")
    parser.add_argument("--smoke", action="store_true",
                        help=f"{SMOKE_IMAGES:,} images, 2 windows and epochs: checks the script")
    args = parser.parse_args(argv)
    for flag in ("windows", "window", "max_epochs"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    try:
        train, test = load_fashion_mnist(args.data_dir)
    except DataError as error:
        sys.exit(f"error: {error}")

    cpu_class = cpu_usage.cpu_class(hardware.cpu_flags())
    print(header(cpu_class))
    train, _ = split_validation(*train, VALIDATION_SIZE, recipe.SEED)  # the images train.py trains on
    if args.smoke:
        train, test = Images(*(part[:SMOKE_IMAGES] for part in train)), Images(*(part[:1000] for part in test))
        args.windows, args.window, args.max_epochs = 2, 1000, 2
    settings = {key: getattr(args, key) for key in ("data_dir", "windows", "window", "max_epochs", "targets", "smoke")}
    settings["train_images"] = len(train.images)
    results = {}
    for name in ("dnn", "cnn"):
        print(f"{name} throughput, {args.windows} windows of {args.window:,} images per recipe", flush=True)
        results[f"{name}_throughput"] = throughput(name, train, test, args.windows, args.window)
    print(f"cnn race to {', '.join(f'{t:.1%}' for t in args.targets)} test accuracy", flush=True)
    results["cnn_race"] = race(train, test, args.max_epochs, args.targets)
    print("\n" + table(results))
    path = args.out / f"speed-{cpu_class}.json"
    files.write_json(path, {"machine": machine(), "versions": hardware.library_versions(),
                            "settings": settings, "results": results})
    print(f"\nWrote {path}")


def header(cpu_class):
    """The first line of a benchmark's output: the CPU, and the precision this project picks on it."""
    policy, why = hardware.choose_precision("auto")
    return (f"CPU: {hardware.cpu_name()}, {cpu_usage.cores()} cores, class {cpu_class}; "
            f"this project's precision: {policy} ({why}); * marks fewer than "
            f"{cpu_usage.BUSY_FLOOR * cpu_usage.cores():.1f} cores busy")


def ratio(course, project, inverse=False):
    """project / course (inverse: course / project, for times); 'n/a' where one is missing."""
    if course is None or project is None:
        return "n/a"
    return f"{(course / project if inverse else project / course):.2f}x"


def table(results):
    rows = [f"{'measure':<36}{'course':>14}{'project':>14}{'ratio':>9}"]
    for name in ("dnn", "cnn"):
        course, project = results[f"{name}_throughput"]["course"], results[f"{name}_throughput"]["project"]
        for key, label in (("images_per_second_best", "images/s, best"),
                           ("images_per_second_median", "images/s, median")):
            rows.append(f"{f'{name.upper()} {label}':<36}{course[key]:>14,}{project[key]:>14,}"
                        f"{ratio(course[key], project[key]):>9}")
        key = "cpu_ms_per_image_median"
        rows.append(f"{f'{name.upper()} CPU ms per image, median':<36}{course[key]:>14.3f}{project[key]:>14.3f}"
                    f"{ratio(course[key], project[key], inverse=True):>9}")
        windows = len(course["window_seconds"])
        busy_cores = [f"{side['busy_cores_median']:.2f} ({side['underused_windows']}/{windows} *)"
                      for side in (course, project)]
        rows.append(f"{f'{name.upper()} cores busy, median (windows *)':<36}{busy_cores[0]:>14}{busy_cores[1]:>14}")
    course, project = results["cnn_race"]["course"], results["cnn_race"]["project"]

    def when(seconds, epochs):
        return "not reached" if seconds is None else f"{seconds:.0f} s ({epochs} ep)"

    for target in course["seconds_to"]:
        for key, what, spent in (("seconds_to", "time", "epoch_seconds"),
                                 ("cpu_seconds_to", "CPU time", "epoch_cpu_seconds")):
            c, p = course[key][target], project[key][target]
            if c is None and p is not None:  # the course never got there: its whole run bounds its time
                speedup = f">{sum(course[spent]) / p:.2f}x"
            else:
                speedup = ratio(c, p, inverse=True)
            rows.append(f"{f'CNN {what} to {float(target):.1%} test acc.':<36}"
                        f"{when(c, course['epochs_to'][target]):>14}{when(p, project['epochs_to'][target]):>14}"
                        f"{speedup:>9}")
    rows.append(f"{'CNN best test acc. in the race':<36}{max(course['test_accuracy']):>14.2%}"
                f"{max(project['test_accuracy']):>14.2%}")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
