"""Train the plain deep network and the CNN on Fashion-MNIST, then compare them.

    python train.py                                  # dnn vs cnn on the full data
    python train.py --models dnn cnn cnn_plus        # all three
    python train.py --models dnn cnn cnn:32,32 cnn:64 cnn:64,64,64   # the course's exercises side by side
    python train.py --limit 3000 --epochs 2          # a quick look
    python train.py --tensorboard                    # then: tensorboard --logdir runs
    python train.py --resume                         # continue the last stopped run, with its flags
    python train.py --list                           # every run so far

The lesson is run(), train_and_evaluate() and train_model(): load the data; build, compile,
fit, evaluate and save each model; compare them. Each run gets a new folder under runs/;
runs/latest names the run that finished last. TensorFlow loads only to train.
"""

import argparse
import math
import signal
import sys
from pathlib import Path

from convlab import cli, files, recipe, runs
from convlab.data import DATA_DIR_HELP, TRAIN_IMAGES, VALIDATION_SIZE, DataError
from convlab.recipe import RECIPES, Interrupted, TrainingError

DEFAULT_MODELS = ["dnn", "cnn"]
# A resumed run takes the stopped run's flags; these decide what is trained, so none may differ.
RESUME_SETTINGS = ["models", "epochs", "batch_size", "learning_rate", "seed", "limit", "validation_size"]


def make_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--models", nargs="+", default=DEFAULT_MODELS, metavar="NAME", help=(
        f"models to train, any of {', '.join(RECIPES)}, and the cnn with its own conv stack: cnn:F1,F2,F3 "
        f"(filters per Conv2D + MaxPooling2D block, 1 to {recipe.MAX_CONV_BLOCKS} blocks; the course's is "
        f"cnn:{','.join(map(str, recipe.COURSE_CONV_FILTERS))}) (default: %(default)s)"))
    add("--epochs", type=cli.integer(1, 1000), help="epochs per model (default: per model, "
        + ", ".join(f"{m} {r.epochs}" for m, r in RECIPES.items()) + ")")
    add("--batch-size", type=cli.integer(1, 8192), default=recipe.BATCH_SIZE,
        help="images per step and device; the global batch is this times the replicas (default: %(default)s)")
    add("--learning-rate", type=cli.positive, help="peak learning rate (default: per model, "
        + ", ".join(f"{m} {r.learning_rate:g}" for m, r in RECIPES.items()) + ")")
    add("--seed", type=cli.integer(0, 2**32 - 1), default=recipe.SEED,
        help="seeds the split, the weights and each epoch's order (default: %(default)s)")
    add("--data-dir", help=DATA_DIR_HELP)
    add("--out", type=Path, metavar="DIR", help="write models, results and figures into exactly DIR "
        "(default: a new folder under runs/, named by date, time and models)")
    add("--limit", type=cli.integer(1, TRAIN_IMAGES), help="train on the first N training images only")
    add("--validation-size", type=cli.integer(0, TRAIN_IMAGES - 1, f" (of the {TRAIN_IMAGES} training images)"),
        default=VALIDATION_SIZE, help="training images held out to watch each epoch, 0 for none (default: %(default)s)")
    add("--target-accuracy", type=cli.fraction, help="stop a model once its validation accuracy reaches it, e.g. 0.91")
    add("--precision", choices=["auto", "float32", "bfloat16", "float16"], default="auto",
        help="auto (the default): mixed bfloat16 on hardware with native bf16, else float32")
    add("--strategy", choices=["auto", "none", "mirrored", "multiworker"], default="auto",
        help="tf.distribute strategy; auto (the default): mirrored over several GPUs, else none")
    add("--cpu-devices", type=cli.integer(1, 64), default=1, help="split the CPU into N logical devices, to try "
        "--strategy mirrored without GPUs (default: %(default)s)")
    add("--resume", nargs="?", const=True, type=Path, metavar="RUN",
        help="continue a stopped run from its last completed epoch, with the flags it was started with: "
             "the run folder RUN, or --out DIR, or without either the most recently stopped run under runs/")
    add("--tensorboard", nargs="?", const=True, type=Path, metavar="DIR",
        help="log scalars and feature maps for TensorBoard into DIR (without DIR: logs/ in the run folder)")
    add("--list", action="store_true", help="list the runs in runs/ with their models' test accuracy, and exit")
    add("--verbose", choices=["auto", "0", "1", "2"], default="auto",
        help="Keras' output: 1 progress bars, 2 one line per epoch, 0 none; "
             "auto (the default): 1 on a terminal, 2 when the output goes to a file or pipe")
    return parser


def parse_args(argv=None):
    """The flags, checked: every mistake here is one line and exit 2, before TensorFlow or the data load."""
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.resume:  # the stopped run's folder, and its flags where none is typed now
        try:
            args.out = runs.folder_to_resume(args.resume, args.out)
        except runs.RunError as error:
            parser.error(str(error))
        untyped = object()  # a second parse tells the flags typed now from the defaults
        typed = make_parser().parse_args(argv, argparse.Namespace(**dict.fromkeys(vars(args), untyped)))
        try:
            recorded = runs.ResumeState.recorded_flags(runs.RunFolder(args.out))
        except runs.RunError as error:
            parser.exit(1, f"error: {error}\n")
        for key, value in recorded.items():
            if getattr(typed, key, None) is untyped and key not in ("out", "resume", "verbose"):
                setattr(args, key, Path(value) if key == "tensorboard" and isinstance(value, str) else value)
    try:
        args.specs = [recipe.parse_model(name) for name in args.models]
    except ValueError as error:
        parser.error(f"--models: {error}")
    if len({spec.name for spec in args.specs}) != len(args.specs):
        parser.error("--models lists a model twice")
    if args.limit and args.limit > TRAIN_IMAGES - args.validation_size:
        parser.error(f"--limit {args.limit} is more than the {TRAIN_IMAGES - args.validation_size} training images "
                     f"left after holding out --validation-size {args.validation_size}")
    if args.target_accuracy and not args.validation_size:
        parser.error("--target-accuracy watches validation accuracy: it needs --validation-size above 0")
    if args.cpu_devices > 1 and args.strategy not in ("mirrored", "auto"):
        parser.error("--cpu-devices splits the CPU for --strategy mirrored")
    if args.strategy == "multiworker" and not args.out:
        parser.error("--strategy multiworker needs --out DIR, the same on every worker, "
                     "so that all of them write and resume the same run")
    # The progress bar redraws itself hundreds of times an epoch: in a file that is megabytes of \r and escapes.
    args.verbose = (1 if sys.stdout.isatty() else 2) if args.verbose == "auto" else int(args.verbose)
    return args


# --- the lesson: the data, each model built, compiled, fit and evaluated, the comparison ---------------


def run(args):
    # Here, not at the top: TensorFlow loads only when there is something to train, without its start-up notices.
    from convlab.tensorflow_startup import import_tensorflow

    import_tensorflow()
    import keras

    from convlab import callbacks, cluster, hardware, report, tensorboard_logging
    from convlab.data import load_splits
    from convlab.saved_models import load_model

    if args.tensorboard not in (None, True):
        tensorboard_logging.check_log_dir(args.tensorboard)  # before any work: then nothing is written
    with cluster.start(args.strategy, args.out, args.cpu_devices) as devices:
        policy, why = hardware.choose_precision(args.precision)
        keras.mixed_precision.set_global_policy(policy)
        device = hardware.describe_device(devices.strategy)
        print(f"Device: {device}\nPrecision: {policy} ({why})")
        data = load_splits(args.data_dir, args.validation_size, args.seed, args.limit)
        print(f"Data: {len(data.train.images)} training, {len(data.validation.images)} validation, "
              f"{len(data.test.images)} test images")

        # The run's folder, claimed and locked for this process (a new one under runs/, or --out), and its record.
        with runs.start(devices.folder, args, RESUME_SETTINGS) as (run_folder, state):
            args.run_folder, args.out = run_folder.path, args.out or run_folder.path  # for a stop's advice
            tensorboard = run_folder.logs if args.tensorboard is True else args.tensorboard
            logging = callbacks.Logging(args.verbose, tensorboard if devices.writes else None,
                                        tensorboard_logging.probe_image(data.test))
            results, histories, answers = {}, {}, {}
            for spec in args.specs:
                if spec.name in state.finished:
                    results[spec.name], histories[spec.name] = state.kept(spec.name)
                    answers[spec.name] = report.predict(load_model(run_folder.model(spec.name)), data.test,
                                                        args.batch_size)
                    continue
                settings = recipe.Settings.for_model(spec, epochs=args.epochs, learning_rate=args.learning_rate,
                                                     batch_size=args.batch_size, seed=args.seed,
                                                     target_accuracy=args.target_accuracy)
                quick = bool(args.limit) or settings.epochs < RECIPES[spec.recipe].epochs
                try:
                    results[spec.name], histories[spec.name], answers[spec.name] = train_and_evaluate(
                        spec, settings, data, devices, run_folder, logging, args.resume, quick)
                except callbacks.Diverged:
                    state.mark_diverged(spec.name)  # --list shows it, and a bare --resume passes it by
                    raise
                state.finish_model(spec.name, results[spec.name])
                callbacks.Backup(run_folder.backup(spec.name)).clear()  # only now that the model is saved

            # The comparison: the models side by side, the images each fixes, figures and results.json.
            report.write_report(run_folder, results, histories, {
                "settings": state.flags, "seed": args.seed, "precision": policy, "device": device,
                "versions": hardware.library_versions()}, data.test, answers)
            state.finish_run()
        if devices.writes:  # the chief (or the only process) reports the run
            latest = runs.mark_latest(run_folder.path)  # only now: a stopped run never becomes the latest
            print(f"\nWrote models, histories, results.json and figures to {run_folder.path}"
                  + (f"; {latest} names it, for visualize.py, predict.py and export.py" if latest else ""))
        return results


def train_and_evaluate(spec, settings, data, devices, run_folder, logging, resume=False, quick=False):
    """One model (spec: recipe.ModelSpec) built, compiled and fit by train_model, evaluated on the test images, saved.

    quick: fewer images or epochs than its recipe. Returns its results.json line, its history and its test answers.
    """
    from convlab import report
    from model import with_mirror

    model, history = train_model(settings, data, devices, run_folder, logging, resume)
    alone = {}
    if RECIPES[spec.recipe].mirror:  # trained alone, then evaluated and saved with its mirror image's answer
        alone["test_accuracy_without_mirror"] = report.accuracy(model, data.test, settings.batch_size)
        with devices.scope():
            model = with_mirror(model)
    metrics, probabilities = report.evaluate(model, data.test, settings.batch_size)
    result = report.summarize(spec, model, history, {**metrics, **alone}, run_folder, data, quick)
    files.save_model(model, run_folder.model(spec.name))
    return result, history, probabilities


def train_model(settings, data, devices, run_folder, logging, resume=False):
    """Build, compile and fit one model, or finish a stopped one: the course's steps with the project's recipe."""
    import keras

    from convlab import callbacks
    from convlab.data import to_dataset, training_dataset
    from model import build_model

    batch = settings.batch_size * devices.replicas
    steps = math.ceil(len(data.train.images) / batch)
    with devices.scope():
        keras.utils.set_random_seed(settings.weights_seed)  # the same weights, whatever was built before
        model = build_model(settings.builder, settings.conv_filters)
        model.compile(optimizer=recipe.optimizer(settings.learning_rate, steps * settings.epochs),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    devices.prepare(model)
    training = callbacks.Training(settings, model, run_folder, devices, logging, resume)  # backup, logs, stop
    epochs = f"{settings.epochs} epoch" + "s" * (settings.epochs > 1)
    print(f"\n== {settings.model}: {model.count_params():,} parameters, {epochs}, batch {batch}, "
          f"peak learning rate {settings.learning_rate:g}")
    remaining = settings.epochs - training.initial_epoch
    if estimate := recipe.estimate(settings, len(data.train.images), len(data.validation.images), remaining,
                                   keras.mixed_precision.global_policy().name):
        print(estimate)
    with training.stopping():
        model.fit(training_dataset(*data.train, batch, settings.seed, training.initial_epoch, settings.epochs),
                  steps_per_epoch=steps, initial_epoch=training.initial_epoch, epochs=settings.epochs,
                  validation_data=to_dataset(*data.validation, batch) if len(data.validation.images) else None,
                  callbacks=training.callbacks, shuffle=False, verbose=logging.verbose)  # the dataset orders each epoch
    return model, training.history


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        return print(runs.table())
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a scheduler's or `kill`'s stop is a Ctrl-C
    try:
        if args.out:
            cli.check_out(args.out)
        run(args)
    except (Interrupted, KeyboardInterrupt) as where:
        advice = runs.stop_advice(getattr(args, "run_folder", None), args.out,
                                  str(where) if isinstance(where, Interrupted) else None)
        if advice:  # else the run had finished: a stop now has nothing left to stop
            print(advice, file=sys.stderr)
            sys.exit(cli.INTERRUPTED)
    except (DataError, TrainingError, runs.RunError, cli.OutputError, files.DamagedFileError) as error:
        sys.exit(f"error: {error}")
    except OSError as error:  # a full disk, or a folder made read-only while the run writes into it
        sys.exit(f"error: cannot write {error.filename or 'into the run folder'}: {files.reason(error)}.\n"
                 "Files are written whole or not at all: free some space, then resume with --resume.")
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))  # the run is complete: nothing left to stop


if __name__ == "__main__":
    main()
