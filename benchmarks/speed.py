"""Benchmark: the course's training recipe against this project's, side by side in one run.

    python benchmarks/speed.py            # full data, about 15 minutes on 2 CPU cores
    python benchmarks/speed.py --smoke    # a few seconds: keeps the script working in CI

The course's recipe is `model.fit(x_train / 255.0, y_train, epochs=5)`: float64
arrays, batch size 32, Adam at 1e-3, float32, Sequential models without a
Rescaling layer. This project's path is train.py's (recipe.py): uint8 data
through tf.data, the precision `auto` picks, its batch size and schedule.

Shared machines are noisy, so the two recipes are always measured interleaved,
a window of one then a window of the other, and every figure is kept:
- throughput: the same fixed slice of the training data (--window images) trained
  --windows times per recipe after a warm-up window; images/s from the fastest
  and the median window;
- time to accuracy: both CNNs train epoch by epoch, alternating, for up to
  --max-epochs; after each epoch the test accuracy is measured (its time not
  counted), and the training time until it first reaches each --targets is kept.
Writes a table to stdout and everything to speed-CPUCLASS.json, with the CPU, its
flags that matter, the precision each side used and the library versions.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

import hardware  # noqa: E402
import recipe  # noqa: E402
from data import (DATA_DIR_HELP, INPUT_SHAPE, VALIDATION_SIZE, DataError, load_fashion_mnist,  # noqa: E402
                  split_validation, to_dataset)
from model import MODELS, build_model  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
COURSE_BATCH_SIZE = 32  # model.fit's default


def course_model(name):
    """The course's models as the course writes them: images arrive already divided by 255."""
    convolutions = []
    if name == "cnn":
        convolutions = [layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
                        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2)]
    return keras.Sequential([
        keras.Input(shape=INPUT_SHAPE), *convolutions,
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
    ], name=f"course_{name}")


def training_flops(model):
    """Multiply-adds x 2 per training image: forward, weight gradients, input gradients.

    Input gradients are not needed below the first layer with weights, so the total
    is 3 x forward minus that layer's forward (course CNN: 10.1 + 19.4 = 29.6 MFLOP).
    """
    forward = []
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            height, width, filters = layer.output.shape[1:]
            forward.append(2 * height * width * filters * np.prod(layer.kernel.shape[:3]))
        elif isinstance(layer, layers.Dense):
            forward.append(2 * int(np.prod(layer.kernel.shape)))
    return 3 * sum(forward) - forward[0]


class Course:
    """The course's recipe: float64 arrays divided by 255, batch 32, Adam 1e-3, float32."""

    label = "course"

    def __init__(self, name, train, test, total_epochs):
        keras.mixed_precision.set_global_policy("float32")
        self.model = course_model(name)
        self.model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                           metrics=["accuracy"])
        self.x, self.y = train.images[..., None] / 255.0, train.labels
        self.test = (test.images[..., None] / 255.0, test.labels)
        self.precision, self.batch_size = "float32", COURSE_BATCH_SIZE

    def train(self, epoch, images=None):
        """One epoch (or the first `images` of the data); returns the seconds it took."""
        x, y = (self.x, self.y) if images is None else (self.x[:images], self.y[:images])
        started = time.perf_counter()
        self.model.fit(x, y, batch_size=self.batch_size, initial_epoch=epoch, epochs=epoch + 1, verbose=0)
        return time.perf_counter() - started


class Project:
    """train.py's recipe for the model, from recipe.py: the same code, not a copy."""

    label = "project"

    def __init__(self, name, train, test, total_epochs):
        self.precision, _ = hardware.choose_precision("auto")
        keras.mixed_precision.set_global_policy(self.precision)
        self.model = build_model(name)
        self.batch_size = recipe.BATCH_SIZE
        steps = math.ceil(len(train.images) / self.batch_size) * total_epochs
        recipe.compile_for_training(self.model, MODELS[name].learning_rate, steps)
        self.data = to_dataset(*train, self.batch_size, shuffle_seed=0)
        self.slices = {}
        self.train_images = train
        self.test = (test.images[..., None], test.labels)

    def train(self, epoch, images=None):
        if images is None:
            data = self.data
        else:  # a fixed window, batched once: the timing covers training, not slicing
            if images not in self.slices:
                self.slices[images] = to_dataset(*(part[:images] for part in self.train_images), self.batch_size)
            data = self.slices[images]
        started = time.perf_counter()
        self.model.fit(data, initial_epoch=epoch, epochs=epoch + 1, verbose=0, shuffle=False)
        return time.perf_counter() - started


def test_accuracy(recipe):
    _, accuracy = recipe.model.evaluate(*recipe.test, batch_size=1000, verbose=0)
    return accuracy


def throughput(name, train, test, windows, window):
    """Both recipes on the same fixed window of images, alternating; one warm-up window each."""
    recipes = []
    for kind in (Course, Project):
        keras.utils.set_random_seed(0)
        recipes.append(kind(name, train, test, total_epochs=windows + 1))
    seconds = {recipe.label: [] for recipe in recipes}
    for step in range(windows + 1):
        for recipe in recipes:
            took = recipe.train(step, images=window)
            if step:  # the first window traces the step functions
                seconds[recipe.label].append(took)
        if step:
            print(f"    window {step}: " + ", ".join(f"{r.label} {window / seconds[r.label][-1]:,.0f} images/s"
                                                     for r in recipes), flush=True)
    flops = training_flops(recipes[0].model)
    return {recipe.label: {
        "precision": recipe.precision, "batch_size": recipe.batch_size,
        "window_seconds": [round(s, 3) for s in seconds[recipe.label]],
        "images_per_second_best": round(window / min(seconds[recipe.label])),
        "images_per_second_median": round(window / statistics.median(seconds[recipe.label])),
        "mflop_per_image": round(flops / 1e6, 2),
        "gflop_per_second_best": round(window / min(seconds[recipe.label]) * flops / 1e9, 1),
    } for recipe in recipes}


def race(train, test, max_epochs, targets):
    """Both CNNs epoch by epoch, alternating: training seconds until each test-accuracy target."""
    keras.utils.set_random_seed(0)
    course = Course("cnn", train, test, max_epochs)
    keras.utils.set_random_seed(0)
    project_epochs = min(max_epochs, MODELS["cnn"].epochs)
    project = Project("cnn", train, test, project_epochs)
    results = {}
    for recipe, epochs in ((course, max_epochs), (project, project_epochs)):
        results[recipe.label] = {"precision": recipe.precision, "batch_size": recipe.batch_size,
                                 "epoch_seconds": [], "test_accuracy": []}
    for epoch in range(max_epochs):
        for recipe, epochs in ((course, max_epochs), (project, project_epochs)):
            if epoch >= epochs:
                continue
            result = results[recipe.label]
            result["epoch_seconds"].append(round(recipe.train(epoch), 2))
            result["test_accuracy"].append(round(test_accuracy(recipe), 4))
            print(f"    {recipe.label} epoch {epoch + 1}: {result['epoch_seconds'][-1]:.1f} s, "
                  f"test accuracy {result['test_accuracy'][-1]:.4f}", flush=True)
    for result in results.values():
        elapsed = np.cumsum(result["epoch_seconds"])
        result["seconds_to"] = {f"{target:.3f}": next((round(float(s), 1) for s, a in zip(elapsed, result["test_accuracy"])
                                                        if a >= target), None) for target in targets}
        result["epochs_to"] = {f"{target:.3f}": next((i + 1 for i, a in enumerate(result["test_accuracy"])
                                                       if a >= target), None) for target in targets}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help=DATA_DIR_HELP)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for speed-CPUCLASS.json")
    parser.add_argument("--windows", type=int, default=6, help="timed throughput windows per recipe and model")
    parser.add_argument("--window", type=int, default=11000, help="training images per throughput window")
    parser.add_argument("--max-epochs", type=int, default=10, help="epochs of the race to the targets")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.90, 0.91],
                        help="test accuracies the CNNs race to")
    parser.add_argument("--smoke", action="store_true", help="2,000 images, 2 windows and epochs: checks the script")
    args = parser.parse_args(argv)
    try:
        train, test = load_fashion_mnist(args.data_dir)
    except DataError as error:
        sys.exit(f"error: {error}")
    train, _ = split_validation(*train, VALIDATION_SIZE, recipe.SEED)  # the images train.py trains on
    if args.smoke:
        train, test = (type(train)(*(part[:2000] for part in train)), type(test)(*(part[:1000] for part in test)))
        args.windows, args.window, args.max_epochs = 2, 1000, 2

    cpu_class = hardware.cpu_class()
    policy, why = hardware.choose_precision("auto")
    print(f"CPU: {hardware.cpu_name()}, {os.cpu_count()} cores, class {cpu_class}; "
          f"this project's precision: {policy} ({why})")
    results = {}
    for name in ("dnn", "cnn"):
        print(f"{name} throughput, {args.windows} windows of {args.window:,} images per recipe", flush=True)
        results[f"{name}_throughput"] = throughput(name, train, test, args.windows, args.window)
    print(f"cnn race to {', '.join(f'{t:.1%}' for t in args.targets)} test accuracy", flush=True)
    results["cnn_race"] = race(train, test, args.max_epochs, args.targets)

    report = {
        "machine": {"cpu": hardware.cpu_name(), "cpu_class": cpu_class, "cores": os.cpu_count(),
                    "cpu_flags": sorted(hardware.cpu_flags() & set(hardware.SPEED_FLAGS)),
                    "platform": platform.platform(),
                    "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]},
        "versions": hardware.library_versions(),
        "settings": {**vars(args), "out": str(args.out), "train_images": len(train.images)},
        "results": results,
    }
    print("\n" + table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"speed-{cpu_class}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWrote {path}")


def table(results):
    def ratio(course, project, inverse=False):
        if course is None or project is None:
            return "n/a"
        return f"{(course / project if inverse else project / course):.2f}x"

    rows = [f"{'measure':<36}{'course':>14}{'project':>14}{'ratio':>9}"]
    for name in ("dnn", "cnn"):
        course, project = results[f"{name}_throughput"]["course"], results[f"{name}_throughput"]["project"]
        for key, label in (("images_per_second_best", "images/s, best"), ("images_per_second_median", "images/s, median")):
            rows.append(f"{f'{name.upper()} {label}':<36}{course[key]:>14,}{project[key]:>14,}"
                        f"{ratio(course[key], project[key]):>9}")
    course, project = results["cnn_race"]["course"], results["cnn_race"]["project"]
    for target in course["seconds_to"]:
        c, p = course["seconds_to"][target], project["seconds_to"][target]
        if c is None and p is not None:  # the course never got there: its whole run bounds its time
            speedup = f">{sum(course['epoch_seconds']) / p:.2f}x"
        else:
            speedup = ratio(c, p, inverse=True)

        def when(seconds, epochs):
            return "not reached" if seconds is None else f"{seconds:.0f} s ({epochs} ep)"

        rows.append(f"{f'CNN time to {float(target):.1%} test acc.':<36}"
                    f"{when(c, course['epochs_to'][target]):>14}{when(p, project['epochs_to'][target]):>14}{speedup:>9}")
    rows.append(f"{'CNN best test acc. in the race':<36}{max(course['test_accuracy']):>14.2%}"
                f"{max(project['test_accuracy']):>14.2%}")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
