"""Train the plain deep network and the CNN on Fashion-MNIST, then compare them.

    python train.py                           # dnn vs cnn on the full data
    python train.py --models dnn cnn cnn_plus # all three
    python train.py --limit 3000 --epochs 1   # a quick look

Fast by default: the images stay uint8 from disk into the model (which scales
them), flow through tf.data with prefetching, and train in mixed bfloat16 where
the hardware computes it natively, with a cosine learning-rate schedule.
Every file is written whole or not at all, a stopped run continues with
--resume, and a diverging run stops with no model saved.
"""

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the output

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import artifacts  # noqa: E402
import figures  # noqa: E402
import hardware  # noqa: E402
from data import CLASS_NAMES, DataError, load_fashion_mnist, split_validation, to_dataset  # noqa: E402
from model import MODELS, build_model, check_conv_filters  # noqa: E402

# Settings. Chosen on the validation split, never on the test set (see README).
DEFAULT_MODELS = ["dnn", "cnn"]
RECIPES = {  # per model: epochs, and the peak learning rate of the cosine schedule
    "dnn": {"epochs": 20, "learning_rate": 2e-3},
    "cnn": {"epochs": 10, "learning_rate": 2e-3},
    "cnn_plus": {"epochs": 20, "learning_rate": 3e-3},
}
BATCH_SIZE = 128  # per replica; measured fastest on a 2-core CPU (README, benchmarks)
WARMUP_FRACTION = 0.05  # of all steps, learning rate ramps up from 0 to its peak
VALIDATION_SIZE = 5000
SEED = 42
OUT_DIR = Path(__file__).resolve().parent / "runs"
# A resumed run must match the stopped one in these settings.
RESUME_SETTINGS = ["models", "epochs", "batch_size", "learning_rate", "seed", "limit",
                   "validation_size", "conv_filters"]
TRAIN_IMAGES = 60000


class TrainingError(Exception):
    """Training cannot go on; the message says why and what to do."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during training; completed epochs are backed up."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, metavar="NAME",
                        help=f"models to train, any of: {', '.join(MODELS)}")
    parser.add_argument("--epochs", type=int, help="epochs per model (default: per model, "
                        + ", ".join(f"{m} {r['epochs']}" for m, r in RECIPES.items()) + ")")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help="images per step and device; the global batch is this times the replicas")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate (default: per model, "
                        + ", ".join(f"{m} {r['learning_rate']:g}" for m, r in RECIPES.items()) + ")")
    parser.add_argument("--seed", type=int, default=SEED, help="seeds the split, the weights and the shuffling")
    parser.add_argument("--data-dir", help="folder with the four Fashion-MNIST .gz files "
                        "(default: $FASHION_MNIST_DIR, else the Keras download cache)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where models, results and figures go")
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--validation-size", type=int, default=VALIDATION_SIZE,
                        help="training images held out to monitor each epoch (0: none)")
    parser.add_argument("--target-accuracy", type=float,
                        help="stop a model once its validation accuracy reaches this (e.g. 0.91)")
    parser.add_argument("--conv-filters", type=int, nargs="+", metavar="N",
                        help="the cnn's conv stack: filters per Conv2D+MaxPooling2D block (default: 64 64)")
    parser.add_argument("--precision", choices=["auto", *hardware.POLICIES], default="auto",
                        help="auto: mixed bfloat16 on hardware with native bf16, else float32")
    parser.add_argument("--strategy", choices=["auto", "none", "mirrored", "multiworker"], default="auto",
                        help="tf.distribute strategy; auto: mirrored over several GPUs, else none")
    parser.add_argument("--cpu-devices", type=int, default=1,
                        help="split the CPU into N logical devices (to try --strategy mirrored without GPUs)")
    parser.add_argument("--resume", action="store_true",
                        help="continue a stopped run in --out from its last completed epoch")
    args = parser.parse_args(argv)
    check_args(parser, args)
    return args


def check_args(parser, args):
    """Reject impossible flags before any data is loaded or model built."""
    unknown = [name for name in args.models if name not in MODELS]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    if len(set(args.models)) != len(args.models):
        parser.error("--models lists a model twice")
    for flag in ("epochs", "batch_size", "limit", "cpu_devices"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    if args.learning_rate is not None and not 0 < args.learning_rate < math.inf:
        parser.error(f"--learning-rate must be a positive number, got {args.learning_rate}")
    if not 0 <= args.validation_size < TRAIN_IMAGES:
        parser.error(f"--validation-size must be from 0 to {TRAIN_IMAGES - 1} "
                     f"(it is taken from the {TRAIN_IMAGES} training images), got {args.validation_size}")
    available = TRAIN_IMAGES - args.validation_size
    if args.limit is not None and args.limit > available:
        parser.error(f"--limit {args.limit} is more than the {available} training images left "
                     f"after holding out --validation-size {args.validation_size}")
    if args.target_accuracy is not None:
        if not 0 < args.target_accuracy <= 1:
            parser.error(f"--target-accuracy is a fraction in (0, 1], e.g. 0.91; got {args.target_accuracy}")
        if args.validation_size == 0:
            parser.error("--target-accuracy watches validation accuracy: it needs --validation-size above 0")
    if args.conv_filters:
        if "cnn" not in args.models:
            parser.error("--conv-filters configures the cnn model; add cnn to --models")
        try:
            check_conv_filters(args.conv_filters)
        except ValueError as error:
            parser.error(str(error))
    if args.cpu_devices > 1 and args.strategy not in ("mirrored", "auto"):
        parser.error("--cpu-devices splits the CPU for --strategy mirrored")


# --- callbacks -------------------------------------------------------------------


class StopAtAccuracy(keras.callbacks.Callback):
    """The course's callback: stop as soon as validation accuracy reaches the target."""

    def __init__(self, target):
        super().__init__()
        self.target = target

    def on_epoch_end(self, epoch, logs=None):
        if logs.get("val_accuracy", 0) >= self.target:
            print(f"\nReached {self.target:.1%} validation accuracy so cancelling training!")
            self.model.stop_training = True


class StopOnDivergence(keras.callbacks.Callback):
    """Abort fit() at the first non-finite loss, before any epoch end can save it."""

    def __init__(self, name, learning_rate):
        super().__init__()
        self.name, self.learning_rate = name, learning_rate
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not math.isfinite(float(logs["loss"])):
            raise TrainingError(
                f"training {self.name} diverged: the loss became {float(logs['loss'])} at epoch "
                f"{self.epoch + 1}, step {batch + 1}, with a peak learning rate of {self.learning_rate:g}. "
                "No model was saved. Run again with a lower --learning-rate."
            )


class EpochLog(keras.callbacks.Callback):
    """The per-epoch history, rewritten whole after every epoch so a resume can extend it.

    It runs before BackupAndRestore at each epoch end: if the process dies between
    the two, the backup is one epoch behind and the resume trims the extra row.
    """

    def __init__(self, path, rows):
        super().__init__()
        self.path, self.rows = path, rows

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: round(float(v), 6) for k, v in logs.items() if k != "learning_rate"},
               "seconds": round(time.perf_counter() - self.started, 3)}
        self.rows.append(row)
        artifacts.write_json(self.path, self.rows)


class Backup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, with a clear message for a damaged backup."""

    def __init__(self, backup_dir):
        super().__init__(str(backup_dir), double_checkpoint=True)

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except Exception as error:
            raise TrainingError(
                f"the backup in {self.backup_dir} is damaged and cannot be resumed ({error}).\n"
                "Run again without --resume to train this model from the start."
            ) from None

    def completed_epochs(self):
        """Epochs the backup holds (0 if none), read before fit() restores them."""
        try:
            return json.loads(Path(self._training_metadata_path).read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            return 0


# --- training --------------------------------------------------------------------


def learning_rate_schedule(peak, total_steps):
    """Linear warm-up to the peak, then cosine decay to zero at the last step."""
    warmup = int(total_steps * WARMUP_FRACTION)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(total_steps - warmup, 1), warmup_target=peak, warmup_steps=warmup)


def compile_for_training(model, peak_learning_rate, total_steps):
    """Adam on the warm-up + cosine schedule, with the loss and metric every run reports."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(peak_learning_rate, total_steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def train_model(name, args, splits, strategy, out):
    """Train one model (or finish a stopped one); return it with its per-epoch history."""
    recipe = RECIPES[name]
    epochs = args.epochs or recipe["epochs"]
    learning_rate = args.learning_rate or recipe["learning_rate"]
    batch = args.batch_size * strategy.num_replicas_in_sync
    (x_train, y_train), validation = splits
    steps_per_epoch = math.ceil(len(x_train) / batch)

    with strategy.scope():
        model = build_model(name, args.conv_filters)
        compile_for_training(model, learning_rate, steps_per_epoch * epochs)

    backup = Backup(out / "backup" / name)
    history_path = out / f"{name}_history.json"
    rows = []
    if args.resume and backup.completed_epochs():
        rows = json.loads(history_path.read_text())[: backup.completed_epochs()]
        print(f"Resuming {name} after epoch {backup.completed_epochs()} of {epochs}.")
    elif Path(backup.backup_dir).exists():
        shutil.rmtree(backup.backup_dir)  # a fresh run starts from scratch

    callbacks = [StopOnDivergence(name, learning_rate), EpochLog(history_path, rows), backup]
    if args.target_accuracy:
        callbacks.append(StopAtAccuracy(args.target_accuracy))
    print(f"\n== {name}: {model.count_params():,} parameters, {epochs} epochs, "
          f"batch {batch}, peak learning rate {learning_rate:g}")
    try:
        model.fit(to_dataset(x_train, y_train, batch, shuffle_seed=args.seed),
                  validation_data=to_dataset(*validation, batch) if len(validation[0]) else None,
                  epochs=epochs, callbacks=callbacks, shuffle=False)  # the dataset shuffles
    except KeyboardInterrupt:
        raise Interrupted(f"{name} after {len(rows)} of {epochs} epochs") from None
    return model, rows


def evaluate(model, x_test, y_test, batch):
    """Test accuracy and loss, per-class accuracy and the confusion matrix, in one pass."""
    probabilities = model.predict(to_dataset(x_test, y_test, batch), verbose=0)
    predicted = probabilities.argmax(axis=1)
    confusion = tf.math.confusion_matrix(y_test, predicted, num_classes=len(CLASS_NAMES)).numpy()
    loss = keras.losses.sparse_categorical_crossentropy(y_test, probabilities)
    return {
        "test_accuracy": float(np.mean(predicted == y_test)),
        "test_loss": float(np.mean(loss)),
        "per_class_accuracy": dict(zip(CLASS_NAMES, (confusion.diagonal() / confusion.sum(axis=1)).round(4).tolist())),
        "confusion_matrix": confusion.tolist(),
    }


# --- the run ---------------------------------------------------------------------


def load_data(args):
    (x_train, y_train), test = load_fashion_mnist(args.data_dir)
    train, validation = split_validation(x_train, y_train, args.validation_size, args.seed)
    if args.limit:
        train = (train[0][: args.limit], train[1][: args.limit])
    return (train, validation), test


def resume_state(args, out):
    """The stopped run's state; refuse a resume whose settings differ from it."""
    state_path = out / "run_state.json"
    if not state_path.exists():
        raise TrainingError(f"nothing to resume in {out}: no stopped run was found there. "
                            "Run again without --resume.")
    state = json.loads(state_path.read_text())
    now = {key: vars(args)[key] for key in RESUME_SETTINGS}
    changed = [f"--{key.replace('_', '-')} was {state['settings'][key]}, now {now[key]}"
               for key in RESUME_SETTINGS if state["settings"][key] != now[key]]
    if changed:
        raise TrainingError("cannot resume: the flags differ from the stopped run's: " + "; ".join(changed)
                            + ".\nResume with the same flags, or run without --resume to start over.")
    return state


def run(args):
    if args.cpu_devices > 1:
        hardware.split_cpu(args.cpu_devices)
    strategy = hardware.make_strategy("mirrored" if args.cpu_devices > 1 and args.strategy == "auto"
                                      else args.strategy)
    policy, why = hardware.choose_precision(args.precision)
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(args.seed)
    print(f"Device: {hardware.describe_device(strategy)}\nPrecision: {policy} ({why})")

    splits, (x_test, y_test) = load_data(args)  # first: bad data must leave --out untouched
    print(f"Data: {len(splits[0][0])} training, {len(splits[1][0])} validation, {len(x_test)} test images")
    out = args.out
    if args.resume:
        state = resume_state(args, out)
    else:  # recorded before training, so that a stopped run can be resumed
        state = {"settings": {key: vars(args)[key] for key in RESUME_SETTINGS}, "finished": {}}
        artifacts.write_json(out / "run_state.json", state)

    results, histories = {}, {}
    for name in args.models:
        if name in state["finished"]:
            print(f"\n== {name}: already finished in the stopped run, kept.")
            results[name] = state["finished"][name]
            histories[name] = json.loads((out / f"{name}_history.json").read_text())
            continue
        model, histories[name] = train_model(name, args, splits, strategy, out)
        results[name] = summarize(name, model, histories[name], evaluate(model, x_test, y_test, args.batch_size))
        artifacts.save_model(model, out / f"{name}.keras")
        state["finished"][name] = results[name]
        artifacts.write_json(out / "run_state.json", state)

    write_report(args, out, results, histories, policy, strategy)
    (out / "run_state.json").unlink()
    backups = out / "backup"
    if backups.exists() and not any(backups.iterdir()):
        backups.rmdir()
    return results


def summarize(name, model, history, metrics):
    last = history[-1]
    return {
        "parameters": model.count_params(),
        "epochs": len(history),
        "train_seconds": round(sum(row["seconds"] for row in history), 1),
        "val_accuracy": last.get("val_accuracy"),
        **metrics,
        "model_file": f"{name}.keras",
        "history_file": f"{name}_history.json",
    }


def write_report(args, out, results, histories, policy, strategy):
    artifacts.save_figure(figures.training_curves(histories), out / "training_curves.png", dpi=100)
    for name, result in results.items():
        title = f"{name}: test accuracy {result['test_accuracy']:.2%}"
        artifacts.save_figure(figures.confusion_matrix(result["confusion_matrix"], CLASS_NAMES, title),
                              out / f"{name}_confusion.png", dpi=100)
    settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    artifacts.write_json(out / "results.json", {
        "settings": settings,
        "seed": args.seed,
        "precision": policy,
        "device": hardware.describe_device(strategy),
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "numpy": np.__version__},
        "models": results,
    })
    print("\n" + comparison_table(results) + "\n\n" + per_class_table(results))
    print(f"\nWrote models, histories, results.json and figures to {out}")


def comparison_table(results):
    lines = [f"{'model':<10}{'params':>10}{'epochs':>8}{'train time':>12}{'val acc':>9}{'test acc':>10}{'test loss':>11}"]
    for name, r in results.items():
        val = f"{r['val_accuracy']:.2%}" if r["val_accuracy"] is not None else "-"
        lines.append(f"{name:<10}{r['parameters']:>10,}{r['epochs']:>8}{r['train_seconds']:>10.0f} s"
                     f"{val:>9}{r['test_accuracy']:>10.2%}{r['test_loss']:>11.4f}")
    baseline, *others = results
    for name in others:
        gain = 100 * (results[name]["test_accuracy"] - results[baseline]["test_accuracy"])
        errors_before, errors_now = 1 - results[baseline]["test_accuracy"], 1 - results[name]["test_accuracy"]
        fewer = 1 - errors_now / errors_before if errors_before else 0.0
        lines.append(f"{name.upper()} vs {baseline.upper()}: {gain:+.1f} points test accuracy, "
                     f"{abs(fewer):.0%} {'fewer' if fewer >= 0 else 'more'} test errors")
    return "\n".join(lines)


def per_class_table(results):
    """Test accuracy per class, side by side: where convolutions help most."""
    lines = [f"{'test accuracy by class':<24}" + "".join(f"{name:>10}" for name in results)]
    for class_name in CLASS_NAMES:
        lines.append(f"{class_name:<24}" + "".join(f"{r['per_class_accuracy'][class_name]:>10.1%}"
                                                   for r in results.values()))
    return "\n".join(lines)


def resume_command():
    words = ["python", "train.py", *sys.argv[1:]]
    return shlex.join(words if "--resume" in words else [*words, "--resume"])


def main(argv=None):
    args = parse_args(argv)
    # SIGTERM (a scheduler, `kill`) stops the run like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        run(args)
    except (Interrupted, KeyboardInterrupt) as where:
        stopped = f"during {where}" if isinstance(where, Interrupted) else "between models"
        sys.exit(f"\nStopped {stopped}. Completed epochs are backed up in {args.out / 'backup'}.\n"
                 f"Resume with: {resume_command()}")
    except DataError as error:
        sys.exit(f"error: {error}")
    except TrainingError as error:
        sys.exit(f"\nerror: {error}")  # the newline ends Keras' progress bar


if __name__ == "__main__":
    main()
