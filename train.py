"""Train the plain deep network and the CNN on Fashion-MNIST, then compare them.

    python train.py                           # dnn vs cnn on the full data
    python train.py --models dnn cnn cnn_plus # all three
    python train.py --limit 3000 --epochs 1   # a quick look
    python train.py --tensorboard             # then: tensorboard --logdir runs
    python train.py --resume                  # continue the last stopped run, with its flags

Each run writes into a new folder under runs/ (e.g. runs/2026-11-25_203412-dnn-cnn),
so no run overwrites another; runs/latest names the newest complete run, whose
models visualize.py, predict.py and export.py use unless told otherwise. The
recipe (convlab/recipe.py) trains fast: uint8 images through tf.data, mixed
bfloat16 where the hardware computes it natively, a warm-up + cosine schedule.
"""

import argparse
import math
import shlex
import signal
import sys
from pathlib import Path

from convlab.tensorflow_startup import import_tensorflow

import_tensorflow()  # first, before Keras loads it: TensorFlow without start-up notices that look like errors

import keras  # noqa: E402

from convlab import cluster, files, hardware, recipe, report, runs, tensorboard_logging  # noqa: E402
from convlab.data import DATA_DIR_HELP, TRAIN_IMAGES, VALIDATION_SIZE, DataError, load_splits  # noqa: E402
from convlab.recipe import Interrupted, TrainingError  # noqa: E402
from model import MODELS, build_model, check_conv_filters, with_mirror  # noqa: E402

DEFAULT_MODELS = ["dnn", "cnn"]
INTERRUPTED_EXIT_CODE = 130  # the shell's for a command stopped by Ctrl-C (128 + SIGINT)
# A resumed run takes the stopped run's flags; these decide what is trained, so none may differ.
RESUME_SETTINGS = ["models", "epochs", "batch_size", "learning_rate", "seed", "limit",
                   "validation_size", "conv_filters"]


def make_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--models", nargs="+", default=DEFAULT_MODELS, metavar="NAME",
        help=f"models to train, any of: {', '.join(MODELS)} (default: {' '.join(DEFAULT_MODELS)})")
    add("--epochs", type=int, help="epochs per model (default: per model, "
        + ", ".join(f"{m} {r.epochs}" for m, r in MODELS.items()) + ")")
    add("--batch-size", type=int, default=recipe.BATCH_SIZE,
        help="images per step and device; the global batch is this times the replicas (default: %(default)s)")
    add("--learning-rate", type=float, help="peak learning rate (default: per model, "
        + ", ".join(f"{m} {r.learning_rate:g}" for m, r in MODELS.items()) + ")")
    add("--seed", type=int, default=recipe.SEED, help="seeds the split, weights and shuffling (default: %(default)s)")
    add("--data-dir", help=DATA_DIR_HELP)
    add("--out", type=Path, metavar="DIR", help="write models, results and figures into exactly DIR "
        "(default: a new folder under runs/, named by date, time and models)")
    add("--limit", type=int, help="train on the first N training images only")
    add("--validation-size", type=int, default=VALIDATION_SIZE,
        help="training images held out to monitor each epoch, 0 for none (default: %(default)s)")
    add("--target-accuracy", type=float, help="stop a model once its validation accuracy reaches this (e.g. 0.91)")
    add("--conv-filters", type=int, nargs="+", metavar="N",
        help="the cnn's conv stack: filters per Conv2D+MaxPooling2D block (default: 64 64)")
    add("--precision", choices=["auto", *hardware.POLICIES], default="auto",
        help="auto (the default): mixed bfloat16 on hardware with native bf16, else float32")
    add("--strategy", choices=["auto", "none", "mirrored", "multiworker"], default="auto",
        help="tf.distribute strategy; auto (the default): mirrored over several GPUs, else none")
    add("--cpu-devices", type=int, default=1, help="split the CPU into N logical devices, to try "
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
    parser = make_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    args.out = run_path(parser, args)
    if args.resume:
        args = with_recorded_flags(args, argv)
    args.resume = bool(args.resume)
    if args.tensorboard is True:  # the flag without DIR
        args.tensorboard = runs.RunFolder(args.out).logs
    # The progress bar redraws itself hundreds of times an epoch: in a file that is megabytes of \r and escapes.
    args.verbose = (1 if sys.stdout.isatty() else 2) if args.verbose == "auto" else int(args.verbose)
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
    if isinstance(args.resume, Path) and args.out and args.resume != args.out:  # two folders
        parser.error("--resume RUN and --out DIR name two folders: give the stopped run's folder once")
    if args.strategy == "multiworker" and not args.out and not isinstance(args.resume, Path):
        parser.error("--strategy multiworker needs --out DIR, the same on every worker, "
                     "so that all of them write and resume the same run")


def run_path(parser, args):
    """--out or --resume's folder, the most recently stopped run for a bare --resume, else a new one in runs/."""
    if isinstance(args.resume, Path) or args.out:
        return args.out or args.resume
    if not args.resume:
        return runs.new_run_path(args.models)
    stopped = runs.stopped_runs()
    if not stopped:
        parser.error(f"--resume: there is no stopped run in {runs.RUNS_DIR} to continue. "
                     "Run again without --resume, or pass --resume RUN with the stopped run's folder.")
    return stopped[0]


def with_recorded_flags(args, argv):
    """A resumed run's flags: those typed now, and for the rest those the stopped run recorded."""
    untyped = object()  # argparse gives no default to a flag the namespace holds already
    parsed = make_parser().parse_args(argv, argparse.Namespace(**dict.fromkeys(vars(args), untyped)))
    typed = {key for key, value in vars(parsed).items() if value is not untyped}
    for key, value in runs.ResumeState.recorded_flags(runs.RunFolder(args.out)).items():
        if key not in typed and key not in ("out", "resume", "verbose"):
            setattr(args, key, Path(value) if key == "tensorboard" and isinstance(value, str) else value)
    return args


# --- the run ---------------------------------------------------------------------


def run(args):
    if args.tensorboard:
        tensorboard_logging.check_log_dir(args.tensorboard)  # before any work: then nothing is written
    # Where this process trains and writes (a bad TF_CONFIG stops here), and what it does at the end.
    with cluster.start(args.strategy, args.out, args.cpu_devices) as devices:
        # Settings: the run folder (a name only: nothing is written before the data is checked), the precision.
        run_folder = runs.RunFolder(devices.folder)
        print(f"Run folder: {run_folder.path}" + (" (resuming)" if args.resume else ""))
        tensorboard = args.tensorboard if devices.writes else None  # the chief logs the run for every worker
        policy, why = hardware.choose_precision(args.precision)
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(args.seed)
        device = hardware.describe_device(devices.strategy)
        print(f"Device: {device}\nPrecision: {policy} ({why})")

        # Data: bad data leaves the run folder untouched.
        data = load_splits(args.data_dir, args.validation_size, args.seed, args.limit)
        print(f"Data: {len(data.train.images)} training, {len(data.validation.images)} validation, "
              f"{len(data.test.images)} test images")
        runs.lock(run_folder)  # held until this process ends: no second train.py trains into this folder meanwhile
        flags = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
        flags["tensorboard"] = True if args.tensorboard == runs.RunFolder(args.out).logs else flags["tensorboard"]
        if args.resume:
            state = runs.ResumeState.load(run_folder)
            state.check_unchanged(flags, RESUME_SETTINGS)
        else:  # recorded before training, so that a stopped run can be resumed
            state = runs.ResumeState.start(run_folder, flags)

        # Each model: build, train, evaluate, save.
        logging = recipe.Logging(args.verbose, tensorboard, tensorboard_logging.probe_image(data.test))
        results, histories = {}, {}
        for name in args.models:
            if name in state.finished:
                print(f"\n== {name}: already finished in the stopped run, kept.")
                results[name], histories[name] = state.finished[name], files.read_json(run_folder.history(name))
                continue
            settings = recipe.Settings.for_model(
                name, MODELS[name], epochs=args.epochs, learning_rate=args.learning_rate,
                batch_size=args.batch_size, seed=args.seed, target_accuracy=args.target_accuracy,
                conv_filters=tuple(args.conv_filters) if args.conv_filters and name == "cnn" else None)
            model, histories[name] = recipe.train_model(settings, build_model, data.train, data.validation,
                                                        devices, run_folder, resume=args.resume, logging=logging)
            alone = {}
            if MODELS[name].mirror:  # trained alone, then evaluated and saved with its mirror image's answer
                alone["test_accuracy_without_mirror"] = report.accuracy(model, data.test, settings.batch_size)
                with devices.scope():
                    model = with_mirror(model)
            metrics = {**report.evaluate(model, data.test, settings.batch_size), **alone}
            results[name] = report.summarize(name, model, histories[name], metrics, run_folder, len(data.train.images),
                                             quick=bool(args.limit) or settings.epochs < MODELS[name].epochs)
            files.save_model(model, run_folder.model(name))
            state.finish_model(name, results[name])

        # The report: figures, results.json, the comparison.
        report.write_report(run_folder, results, histories, {
            "settings": flags, "seed": args.seed, "precision": policy, "device": device,
            "versions": hardware.library_versions()})
        state.finish_run()
        if devices.writes:  # the chief (or the only process) reports the run
            latest = runs.mark_latest(run_folder.path)  # only now: a stopped run never becomes the latest
            print(f"\nWrote models, histories, results.json and figures to {run_folder.path}"
                  + (f"; {latest} names it, for visualize.py, predict.py and export.py" if latest else ""))
        return results


def resume_command(out):
    """The command that continues this run: a bare --resume for the latest stopped run, else with its folder."""
    latest_stopped = runs.stopped_runs()[:1] == [Path(out).absolute()]
    return "python train.py --resume" + ("" if latest_stopped else f" {shlex.quote(str(out))}")


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        return print(runs.table())
    # SIGTERM (a scheduler, `kill`) stops the run like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        run(args)
    except (Interrupted, KeyboardInterrupt) as where:
        stopped = f"during {where}" if isinstance(where, Interrupted) else "between models"
        backups = where.backups if isinstance(where, Interrupted) else runs.RunFolder(args.out).backups
        print(f"\nStopped {stopped}. Completed epochs are backed up in {backups}.\n"
              f"Resume with: {resume_command(args.out)}", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_CODE)
    except (DataError, cluster.ClusterError, runs.RunError, tensorboard_logging.LogDirError) as error:
        sys.exit(f"error: {error}")
    except TrainingError as error:
        sys.exit(f"\nerror: {error}")  # the newline ends Keras' progress bar


if __name__ == "__main__":
    main()
