"""Benchmark: the course's training recipe against this project's, in one run.

    python benchmarks/speed.py            # full data, a few minutes per model
    python benchmarks/speed.py --smoke    # a few seconds: keeps the script working in CI

The course's recipe is `model.fit(x_train / 255.0, y_train, epochs=5)`: float64
arrays, batch size 32, Adam at 1e-3, float32, Sequential models without a
Rescaling layer. This project's path is train.py's: uint8 data through tf.data,
the precision `auto` picks, batch 128 and a cosine schedule.

Measured for both, on the same data and machine:
- training throughput (images/s, and GFLOP/s from the models' arithmetic),
- time-to-accuracy: training time until the CNN's test accuracy first reaches the
  target, checked after every epoch with the evaluation time left out.
Writes a table to stdout and every figure to speed.json, with the CPU and versions.
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
import training  # noqa: E402
from data import DATA_DIR_HELP, VALIDATION_SIZE, DataError, load_fashion_mnist, split_validation, to_dataset  # noqa: E402
from model import build_model  # noqa: E402


def course_model(name):
    """The course's models as the course writes them: images arrive already divided by 255."""
    convolutions = []
    if name == "cnn":
        convolutions = [layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
                        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2)]
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)), *convolutions,
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


class EpochClock(keras.callbacks.Callback):
    """Training time per epoch, and the test accuracy after each (its time not counted)."""

    def __init__(self, test_images, test_labels, target=None):
        super().__init__()
        self.test, self.target = (test_images, test_labels), target
        self.epoch_seconds, self.test_accuracy = [], []
        self.reached_after = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self.started)
        if self.target is None:
            return
        _, accuracy = self.model.evaluate(*self.test, batch_size=1000, verbose=0)
        self.test_accuracy.append(accuracy)
        print(f"    epoch {epoch + 1}: {self.epoch_seconds[-1]:.1f} s, test accuracy {accuracy:.4f}", flush=True)
        if accuracy >= self.target and self.reached_after is None:
            self.reached_after = sum(self.epoch_seconds)
            self.model.stop_training = True


def course_recipe(name, train_set, test_set, epochs, target):
    keras.mixed_precision.set_global_policy("float32")
    model = course_model(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    (x, y), (x_test, y_test) = train_set, test_set
    clock = EpochClock(x_test[..., None] / 255.0, y_test, target)
    model.fit(x[..., None] / 255.0, y, epochs=epochs, batch_size=32, callbacks=[clock], verbose=0)
    return model, clock


def project_path(name, train_set, test_set, epochs, target):
    policy, _ = hardware.choose_precision("auto")
    keras.mixed_precision.set_global_policy(policy)
    model = build_model(name)
    recipe_epochs = training.RECIPES[name]["epochs"]
    training.compile_for_training(model, training.RECIPES[name]["learning_rate"],
                                  math.ceil(len(train_set[0]) / training.BATCH_SIZE) * recipe_epochs)
    clock = EpochClock(test_set[0][..., None], test_set[1], target)
    model.fit(to_dataset(*train_set, training.BATCH_SIZE, shuffle_seed=0), epochs=min(epochs, recipe_epochs),
              callbacks=[clock], verbose=0, shuffle=False)  # the dataset shuffles
    return model, clock


def measure(recipe, name, train_set, test_set, epochs, target=None):
    """Train once; throughput from the epochs after the first (which includes tracing)."""
    keras.utils.set_random_seed(0)
    model, clock = recipe(name, train_set, test_set, epochs, target)
    steady = clock.epoch_seconds[1:] or clock.epoch_seconds
    images_per_second = len(train_set[0]) / statistics.median(steady)
    flops = training_flops(model)
    result = {
        "epoch_seconds": [round(s, 2) for s in clock.epoch_seconds],
        "images_per_second": round(images_per_second),
        "mflop_per_image": round(flops / 1e6, 2),
        "gflop_per_second": round(images_per_second * flops / 1e9, 1),
    }
    if target is not None:
        result.update(test_accuracy_per_epoch=[round(a, 4) for a in clock.test_accuracy],
                      seconds_to_target=None if clock.reached_after is None else round(clock.reached_after, 1))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help=DATA_DIR_HELP)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="folder for speed.json")
    parser.add_argument("--throughput-epochs", type=int, default=3,
                        help="epochs timed for throughput (the first one is a warm-up)")
    parser.add_argument("--max-epochs", type=int, default=10, help="cap on epochs in the race to the target")
    parser.add_argument("--target", type=float, default=0.91, help="test accuracy the CNN races to")
    parser.add_argument("--smoke", action="store_true", help="2,000 images, 2 epochs: checks the script, not speed")
    args = parser.parse_args(argv)
    try:
        (x, y), test_set = load_fashion_mnist(args.data_dir)
    except DataError as error:
        sys.exit(f"error: {error}")
    train_set, _ = split_validation(x, y, VALIDATION_SIZE, training.SEED)
    if args.smoke:
        train_set, test_set = (train_set[0][:2000], train_set[1][:2000]), (test_set[0][:1000], test_set[1][:1000])
        args.throughput_epochs, args.max_epochs = 2, 2

    policy, why = hardware.choose_precision("auto")
    print(f"CPU: {hardware.cpu_name()}, {os.cpu_count()} cores; this project's precision: {policy} ({why})")
    results = {}
    for recipe_name, recipe in (("course", course_recipe), ("project", project_path)):
        for name in ("dnn", "cnn"):
            print(f"{recipe_name} {name}: throughput", flush=True)
            results[f"{recipe_name}_{name}"] = measure(recipe, name, train_set, test_set, args.throughput_epochs)
        print(f"{recipe_name} cnn: time to {args.target:.1%} test accuracy", flush=True)
        results[f"{recipe_name}_cnn_race"] = measure(recipe, "cnn", train_set, test_set, args.max_epochs, args.target)

    report = {
        "machine": {"cpu": hardware.cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]},
        "versions": hardware.library_versions(),
        "settings": {**vars(args), "out": str(args.out), "train_images": len(train_set[0]),
                     "project_precision": policy, "project_batch_size": training.BATCH_SIZE},
        "results": results,
    }
    print("\n" + table(results, args.target))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWrote {args.out / 'speed.json'}")


def table(results, target):
    def ratio(key, metric, inverse=False):
        course, project = results[f"course_{key}"][metric], results[f"project_{key}"][metric]
        if course is None or project is None:
            return "n/a"
        return f"{(course / project if inverse else project / course):.2f}x"

    def seconds(value):
        return "not reached" if value is None else f"{value:.0f} s"

    rows = [f"{'measure':<34}{'course':>14}{'project':>14}{'ratio':>9}"]
    for name in ("dnn", "cnn"):
        course, project = results[f"course_{name}"], results[f"project_{name}"]
        rows.append(f"{name.upper() + ' throughput (images/s)':<34}{course['images_per_second']:>14,}"
                    f"{project['images_per_second']:>14,}{ratio(name, 'images_per_second'):>9}")
        rows.append(f"{name.upper() + ' GFLOP/s':<34}{course['gflop_per_second']:>14}"
                    f"{project['gflop_per_second']:>14}{ratio(name, 'gflop_per_second'):>9}")
    course, project = results["course_cnn_race"], results["project_cnn_race"]
    speedup = ratio("cnn_race", "seconds_to_target", True)
    if course["seconds_to_target"] is None and project["seconds_to_target"] is not None:
        # The course never got there: its whole capped run is a lower bound on its time.
        speedup = f">{sum(course['epoch_seconds']) / project['seconds_to_target']:.2f}x"
    rows.append(f"{f'CNN time to {target:.1%} test acc.':<34}{seconds(course['seconds_to_target']):>14}"
                f"{seconds(project['seconds_to_target']):>14}{speedup:>9}")
    rows.append(f"{'CNN best test acc. in the race':<34}{max(course['test_accuracy_per_epoch']):>14.2%}"
                f"{max(project['test_accuracy_per_epoch']):>14.2%}")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
