"""cnn_plus experiments: one variant of the recipe, trained and scored on the validation split.

    python -m benchmarks.cnn_plus_experiments --name recipe --seed 1  # model.py's cnn_plus, as train.py trains it
    python -m benchmarks.cnn_plus_experiments --name ls+ema+erase --label-smoothing 0.1 --ema --erasing 0.5
    python -m benchmarks.cnn_plus_experiments --plot docs/figures/cnn_plus_curves.png  # every record's curve

Each run appends one record to benchmarks/results/cnn_plus-experiments.json: the
command, the variant, the CPU and precision, wall and process CPU seconds, the
validation accuracy after every epoch, and at the end the validation accuracy with
and without test-time flip averaging (the image and its mirror). The test set is
never read unless --test is given (the final seeds only). A record's "settings" hold every
flag's value: its "command" alone reruns it only while the defaults (model.py's recipe)
stay as they were.

The variants are built here (variant()): model.py's cnn_plus has no knobs, only its
recipe; without flags, variant() builds that very model (tests/test_cnn_plus.py checks
it layer by layer).
"""

import argparse
import fcntl
import json
import math
import shlex
import sys
import time
from pathlib import Path

from convlab.tensorflow_startup import import_tensorflow

import_tensorflow()  # first: without the start-up notices that look like errors

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from benchmarks import cpu_usage  # noqa: E402
from benchmarks.flops import training_flops  # noqa: E402
from convlab import hardware, recipe  # noqa: E402
from convlab.data import DATA_DIR_HELP, INPUT_SHAPE, NUM_CLASSES, load_splits, to_dataset, training_dataset  # noqa: E402
from convlab.recipe import RECIPES  # noqa: E402
from model import conv_bn_relu, with_mirror  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "cnn_plus-experiments.json"
# The bar: width 1's training FLOPs per image x images x 20 epochs, as the first records counted them
# (flops.training_flops, which later records use, leaves out the first layer's input gradient: 89,392,128).
BUDGET_FLOPS = 89_843_712 * 55_000 * 20
NEEDED_VALIDATION = 0.943  # validation runs about 0.3 points above test, and the bar is 94.0% test


# model.py's cnn_plus, lever by lever: the flags' defaults, so that without flags this trains
# the recipe train.py trains.
RECIPE = {"width": 0.75, "conv_dropout": 0.1, "dense_dropout": 0.3, "shift": 0.08, "interpolation": "nearest",
          "erasing": 0.0, "erasing_scale": (0.02, 0.33), "conv3b": False}


def variant(width=RECIPE["width"], conv_dropout=RECIPE["conv_dropout"], dense_dropout=RECIPE["dense_dropout"],
            shift=RECIPE["shift"], interpolation=RECIPE["interpolation"], erasing=RECIPE["erasing"],
            erasing_scale=RECIPE["erasing_scale"], conv3b=RECIPE["conv3b"]):
    """cnn_plus with the levers under test: width multiplies the 32, 64, 64, 128 filters
    (rounded); shift is RandomTranslation's factor (0.08: up to 2 pixels); interpolation
    "nearest" shifts by whole pixels, "bilinear" blends neighbours; erasing is the
    probability of random erasing per image; conv3b adds a second conv to the last block."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = layers.RandomFlip("horizontal", name="random_flip")(x)
    x = layers.RandomTranslation(shift, shift, fill_mode="constant", interpolation=interpolation,
                                 name="random_shift")(x)
    if erasing:
        x = layers.RandomErasing(factor=(erasing, erasing), scale=tuple(erasing_scale), value_range=(0, 1),
                                 name="random_erasing")(x)
    x = conv_bn_relu(x, round(32 * width), "1")
    x = layers.MaxPooling2D(2, name="pool_1")(x)
    x = conv_bn_relu(x, round(64 * width), "2a")
    x = conv_bn_relu(x, round(64 * width), "2b")
    x = layers.MaxPooling2D(2, name="pool_2")(x)
    x = layers.Dropout(conv_dropout, name="dropout_2")(x)
    x = conv_bn_relu(x, round(128 * width), "3")
    if conv3b:
        x = conv_bn_relu(x, round(128 * width), "3b")
    x = layers.MaxPooling2D(2, name="pool_3")(x)
    x = layers.Dropout(conv_dropout, name="dropout_3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, activation="relu", name="dense")(x)
    x = layers.Dropout(dense_dropout, name="dropout_dense")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="cnn_plus")


class ValidationLog(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rows = []

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({k: round(float(v), 5) for k, v in logs.items() if k != "learning_rate"})


def flip_averaged_accuracy(network, images, labels):
    """Accuracy of the network alone, and with its mirror image's answer (model.with_mirror, as train.py saves it)."""
    return tuple(float(np.mean(model.predict(images, batch_size=512, verbose=0).argmax(1) == labels))
                 for model in (network, with_mirror(network)))


def plot(results, path):
    """Every record's validation curve against the FLOPs spent, the budget and the accuracy needed."""
    from convlab import figures

    records = [r for r in json.loads(results.read_text()) if not r["settings"].get("test")]
    curves = []
    for r in records:
        per_epoch = r["training_flops_per_image"] * r["images_seen"] / len(r["val_accuracy_per_epoch"])
        spent = per_epoch * np.arange(1, len(r["val_accuracy_per_epoch"]) + 1)
        curves.append((f"{r['name']} (seed {r['settings']['seed']})", spent, r["val_accuracy_per_epoch"],
                       r["val_accuracy_flip_averaged"]))
    figures.save(accuracy_against_compute(curves), path)
    print(f"Wrote {path}")


def accuracy_against_compute(curves):
    """Validation accuracy after each epoch against the training FLOPs spent so far, one line per run.

    curves: [(label, FLOPs after each epoch, validation accuracy after each epoch, the final
    accuracy with the mirror)]. The budget is a vertical line, the accuracy needed a
    horizontal one; the mirror's final accuracy a star at the end of its run's line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    unit = 1e13  # the axis in units of 10^13 FLOP: the budget is 9.9 of them
    highest = max([NEEDED_VALIDATION, *(max([*accuracy, mirrored]) for _, _, accuracy, mirrored in curves)])
    figure, axis = plt.subplots(figsize=(9, 5))
    colours = plt.get_cmap("tab10").colors
    for i, (label, spent, accuracy, mirrored) in enumerate(curves):  # past ten runs, the colours repeat dashed
        colour, style = colours[i % len(colours)], "-" if i < len(colours) else "--"
        axis.plot(np.asarray(spent) / unit, accuracy, style, lw=1.2, color=colour, label=label)
        axis.plot(spent[-1] / unit, mirrored, "*", ms=10, color=colour)
    axis.axvline(BUDGET_FLOPS / unit, color="gray", ls=":", lw=1)
    axis.axhline(NEEDED_VALIDATION, color="gray", ls="--", lw=1)
    axis.text(BUDGET_FLOPS / unit, NEEDED_VALIDATION, f"needed: {NEEDED_VALIDATION:.1%} ", va="bottom", ha="right",
              color="gray")
    axis.text(BUDGET_FLOPS / unit, 0.9, "budget ", va="bottom", ha="right", color="gray")
    axis.set(xlabel="training FLOPs (x 10^13)", ylabel="validation accuracy", ylim=(0.9, highest + 0.005),
             title="Validation accuracy per epoch against training compute (star: with the mirror)")
    axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=1))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, 0.96))
    figure.tight_layout()
    return figure


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", help="what this variant changes, for the record (required to train)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=RECIPES["cnn_plus"].epochs)
    parser.add_argument("--learning-rate", type=float, default=RECIPES["cnn_plus"].learning_rate)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup-fraction", type=float, default=recipe.WARMUP_FRACTION,
                        help="of all steps, spent ramping the learning rate up to its peak (0.3: one-cycle)")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--ema", action="store_true", help="Adam's moving average of the weights, validated with it")
    parser.add_argument("--erasing", type=float, default=RECIPE["erasing"],
                        help="probability of random erasing per image")
    parser.add_argument("--erasing-scale", type=float, nargs=2, default=RECIPE["erasing_scale"])
    parser.add_argument("--shift", type=float, default=RECIPE["shift"], help="RandomTranslation factor")
    parser.add_argument("--interpolation", default=RECIPE["interpolation"], choices=["bilinear", "nearest"],
                        help="nearest: shifts by whole pixels; bilinear blends neighbours")
    parser.add_argument("--width", type=float, default=RECIPE["width"],
                        help="multiplies every conv layer's filters (rounded)")
    parser.add_argument("--conv3b", action="store_true", help="a second conv in the last block")
    parser.add_argument("--conv-dropout", type=float, default=RECIPE["conv_dropout"])
    parser.add_argument("--dense-dropout", type=float, default=RECIPE["dense_dropout"])
    parser.add_argument("--weight-decay", type=float, default=None, help="AdamW's decoupled weight decay")
    parser.add_argument("--precision", default="auto", choices=["auto", *hardware.POLICIES])
    parser.add_argument("--test", action="store_true", help="also score the test set (final runs only)")
    parser.add_argument("--save", type=Path, help="save the trained model here (.keras), with its mirror")
    parser.add_argument("--limit", type=int, help="train on the first N images only (a quick check)")
    parser.add_argument("--data-dir", help=DATA_DIR_HELP)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--plot", type=Path, metavar="PNG", help="train nothing: draw the validation "
                        "accuracy of every record against its training FLOPs")
    args = parser.parse_args()
    if args.plot:
        return plot(args.results, args.plot)
    if not args.name:
        parser.error("--name is required to train a variant (or --plot to draw the records)")

    policy, why = hardware.choose_precision(args.precision)
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(args.seed)
    cpu_class = cpu_usage.cpu_class(hardware.cpu_flags())
    train, validation, test = load_splits(args.data_dir, 5000, args.seed, args.limit)

    model = variant(**{lever: getattr(args, lever) for lever in RECIPE})
    steps = math.ceil(len(train.images) / args.batch_size) * args.epochs
    schedule = recipe.learning_rate_schedule(args.learning_rate, steps, args.warmup_fraction)
    optimizer_class = keras.optimizers.AdamW if args.weight_decay else keras.optimizers.Adam
    extra = {"weight_decay": args.weight_decay} if args.weight_decay else {}
    model.compile(optimizer=optimizer_class(schedule, use_ema=args.ema, **extra),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
                  metrics=["accuracy"])

    def one_hot(dataset):
        return dataset.map(lambda x, y: (x, tf.one_hot(y, NUM_CLASSES)))

    log = ValidationLog()
    callbacks = [log] + ([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if args.ema else [])
    print(f"{args.name}: {model.count_params():,} parameters, {policy}, {cpu_class}", flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(one_hot(training_dataset(*train, args.batch_size, args.seed, 0, args.epochs)),
              steps_per_epoch=math.ceil(len(train.images) / args.batch_size),
              validation_data=one_hot(to_dataset(*validation, 512)), epochs=args.epochs,
              callbacks=callbacks, shuffle=False, verbose=2)  # the dataset orders each epoch
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    record = {
        "name": args.name, "command": shlex.join(["python", *sys.argv]),
        "settings": {k: v for k, v in vars(args).items() if k not in ("data_dir", "results", "save", "name")},
        "parameters": model.count_params(), "training_flops_per_image": training_flops(model),
        "images_seen": len(train.images) * args.epochs,
        "cpu": hardware.cpu_name(), "cpu_class": cpu_class, "precision": policy,
        "wall_seconds": round(wall), "cpu_seconds": round(cpu),
        "val_accuracy_per_epoch": [row["val_accuracy"] for row in log.rows],
        "train_accuracy_last_epoch": log.rows[-1]["accuracy"],
    }
    record["val_accuracy"], record["val_accuracy_flip_averaged"] = flip_averaged_accuracy(model, *validation)
    if args.test:
        record["test_accuracy"], record["test_accuracy_flip_averaged"] = flip_averaged_accuracy(model, *test)
    if args.save:
        with_mirror(model).save(args.save)
    print(json.dumps(record, indent=1), flush=True)

    with open(args.results, "a+") as file:  # several experiments may finish at once
        fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        records = json.loads(file.read() or "[]")
        file.seek(0)
        file.truncate()
        file.write(json.dumps(records + [record], indent=1) + "\n")


if __name__ == "__main__":
    main()
