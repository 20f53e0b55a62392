"""Train the plain deep network and the CNN on Fashion-MNIST, then compare them.

    python train.py                           # dnn vs cnn on the full data
    python train.py --models dnn cnn cnn_plus # all three
    python train.py --limit 3000 --epochs 1   # a quick look
    python train.py --tensorboard             # then: tensorboard --logdir runs

Each run writes into a new folder under runs/ (e.g. runs/2026-11-25_203412-dnn-cnn),
so no run overwrites another; runs/latest names the newest complete run, whose
models visualize.py, predict.py and export.py use unless told otherwise.

Fast by default: the images stay uint8 from disk into the model (which scales
them), flow through tf.data with prefetching, and train in mixed bfloat16 where
the hardware computes it natively, with a cosine learning-rate schedule.
Every file is written whole or not at all, a stopped run continues with
--resume, and a diverging run stops with no model saved.
"""

import argparse
import importlib.util
import math
import shlex
import signal
import sys
from pathlib import Path
from typing import NamedTuple

from tensorflow_startup import import_tensorflow

import_tensorflow()  # first, before Keras loads it: TensorFlow without start-up notices that look like errors

import keras  # noqa: E402

import artifacts  # noqa: E402
import distributed  # noqa: E402
import hardware  # noqa: E402
import recipe  # noqa: E402
import report  # noqa: E402
import tensorboard_logging  # noqa: E402
from data import (DATA_DIR_HELP, TRAIN_IMAGES, VALIDATION_SIZE, DataError, Images,  # noqa: E402
                  load_fashion_mnist, split_validation)
from model import MODELS, check_conv_filters  # noqa: E402
from recipe import Interrupted, TrainingError  # noqa: E402

# The per-model epochs and learning rates are in model.MODELS, the batch size is
# recipe.BATCH_SIZE, the held-out split data.VALIDATION_SIZE.
DEFAULT_MODELS = ["dnn", "cnn"]
# The shell's code for a command stopped by Ctrl-C (128 + SIGINT): a script can tell a stop from an error.
INTERRUPTED_EXIT_CODE = 130
# A resumed run must match the stopped one in these settings.
RESUME_SETTINGS = ["models", "epochs", "batch_size", "learning_rate", "seed", "limit",
                   "validation_size", "conv_filters"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, metavar="NAME",
                        help=f"models to train, any of: {', '.join(MODELS)} (default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--epochs", type=int, help="epochs per model (default: per model, "
                        + ", ".join(f"{m} {r.epochs}" for m, r in MODELS.items()) + ")")
    parser.add_argument("--batch-size", type=int, default=recipe.BATCH_SIZE,
                        help="images per step and device; the global batch is this times the replicas "
                             "(default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate (default: per model, "
                        + ", ".join(f"{m} {r.learning_rate:g}" for m, r in MODELS.items()) + ")")
    parser.add_argument("--seed", type=int, default=recipe.SEED,
                        help="seeds the split, the weights and the shuffling (default: %(default)s)")
    parser.add_argument("--data-dir", help=DATA_DIR_HELP)
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write models, results and figures into exactly DIR "
                             "(default: a new folder under runs/, named by date, time and models)")
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--validation-size", type=int, default=VALIDATION_SIZE,
                        help="training images held out to monitor each epoch, 0 for none (default: %(default)s)")
    parser.add_argument("--target-accuracy", type=float,
                        help="stop a model once its validation accuracy reaches this (e.g. 0.91)")
    parser.add_argument("--conv-filters", type=int, nargs="+", metavar="N",
                        help="the cnn's conv stack: filters per Conv2D+MaxPooling2D block (default: 64 64)")
    parser.add_argument("--precision", choices=["auto", *hardware.POLICIES], default="auto",
                        help="auto (the default): mixed bfloat16 on hardware with native bf16, else float32")
    parser.add_argument("--strategy", choices=["auto", "none", "mirrored", "multiworker"], default="auto",
                        help="tf.distribute strategy; auto (the default): mirrored over several GPUs, else none")
    parser.add_argument("--cpu-devices", type=int, default=1,
                        help="split the CPU into N logical devices, to try --strategy mirrored without GPUs "
                             "(default: %(default)s)")
    parser.add_argument("--resume", nargs="?", const=True, type=Path, metavar="RUN",
                        help="continue a stopped run from its last completed epoch: the run folder RUN, "
                             "or --out DIR, or without either the most recently stopped run under runs/")
    parser.add_argument("--tensorboard", nargs="?", const=True, type=Path, metavar="DIR",
                        help="log scalars and feature maps for TensorBoard into DIR "
                             "(without DIR: logs/ in the run folder)")
    parser.add_argument("--verbose", choices=["auto", "0", "1", "2"], default="auto",
                        help="Keras' output: 1 progress bars, 2 one line per epoch, 0 none; "
                             "auto (the default): 1 on a terminal, 2 when the output goes to a file or pipe")
    args = parser.parse_args(argv)
    check_args(parser, args)
    args.out, args.resume = run_path(parser, args), bool(args.resume)
    if args.tensorboard is True:  # the flag without DIR
        args.tensorboard = artifacts.RunFolder(args.out).logs
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
    if isinstance(args.resume, Path) and args.out and args.resume != args.out:
        parser.error("--resume RUN and --out DIR name two folders: give the stopped run's folder once")
    if args.strategy == "multiworker" and not args.out and not isinstance(args.resume, Path):
        parser.error("--strategy multiworker needs --out DIR, the same on every worker, "
                     "so that all of them write and resume the same run")


def run_path(parser, args):
    """The run's folder: --out or --resume's, the most recently stopped run for a bare --resume,
    else a new folder under runs/."""
    if isinstance(args.resume, Path) or args.out:
        return args.out or args.resume
    if not args.resume:
        return artifacts.new_run_path(args.models)
    stopped = artifacts.stopped_runs()
    if not stopped:
        parser.error(f"--resume: there is no stopped run in {artifacts.RUNS_DIR} to continue. "
                     "Run again without --resume, or pass --resume RUN with the stopped run's folder.")
    return stopped[0]


# --- the run ---------------------------------------------------------------------


class Splits(NamedTuple):
    """The data of one run, each part a data.Images."""

    train: Images
    validation: Images
    test: Images


def load_data(data_dir, validation_size, seed, limit=None):
    train, test = load_fashion_mnist(data_dir)
    train, validation = split_validation(*train, validation_size, seed)
    if limit:
        train = Images(train.images[:limit], train.labels[:limit])
    return Splits(train, validation, test)


def resume_state(settings, run_folder):
    """The stopped run's state; refuse a resume whose settings differ from it."""
    state = artifacts.read_json(run_folder.state)
    if state is None:
        raise TrainingError(f"nothing to resume in {run_folder.path}: no stopped run was found there. "
                            "Run again without --resume.")
    changed = [f"--{key.replace('_', '-')} was {state['settings'][key]}, now {settings[key]}"
               for key in RESUME_SETTINGS if state["settings"][key] != settings[key]]
    if changed:
        raise TrainingError("cannot resume: the flags differ from the stopped run's: " + "; ".join(changed)
                            + ".\nResume with the same flags, or run without --resume to start over.")
    return state


def model_settings(name, args):
    """One model's training settings: the flags where given, else its recipe's."""
    return recipe.Settings.for_model(
        name, epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size, seed=args.seed,
        conv_filters=tuple(args.conv_filters) if args.conv_filters and name == "cnn" else None,
        target_accuracy=args.target_accuracy)


def check_tensorboard(log_dir):
    """Refuse --tensorboard before any work if its logs cannot be written, so that nothing is."""
    if importlib.util.find_spec("tensorboard") is None:
        raise TrainingError("--tensorboard needs the tensorboard package, which TensorFlow 2.21 no longer "
                            "installs: pip install -r requirements.txt")
    problem = artifacts.folder_problem(log_dir)
    if problem:
        raise TrainingError(f"cannot write TensorBoard logs to {log_dir}: {problem}.\n"
                            "Pass --tensorboard DIR with a folder you can write to.")


def run(args):
    task = distributed.task_for(args.strategy)  # a bad cluster configuration stops here
    run_folder = run_folder_of(task, args.out)  # a name only: nothing is written before the data is checked
    print(f"Run folder: {run_folder.path}" + (" (resuming)" if args.resume else ""))
    if args.tensorboard:
        check_tensorboard(args.tensorboard)
    if args.cpu_devices > 1:
        distributed.split_cpu(args.cpu_devices)
    if task and not task.is_chief:
        args.tensorboard = None  # the chief logs the run; on one machine the workers would share its folder
    strategy = distributed.make_strategy("mirrored" if args.cpu_devices > 1 and args.strategy == "auto"
                                         else args.strategy)
    policy, why = hardware.choose_precision(args.precision)
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(args.seed)
    device = hardware.describe_device(strategy)
    print(f"Device: {device}\nPrecision: {policy} ({why})")

    # First: bad data must leave --out untouched.
    data = load_data(args.data_dir, args.validation_size, args.seed, args.limit)
    print(f"Data: {len(data.train.images)} training, {len(data.validation.images)} validation, "
          f"{len(data.test.images)} test images")
    flags = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    if args.resume:
        state = resume_state(flags, run_folder)
    else:  # recorded before training, so that a stopped run can be resumed
        state = {"settings": {key: flags[key] for key in RESUME_SETTINGS}, "finished": {}}
        artifacts.write_json(run_folder.state, state)

    logging = recipe.Logging(args.verbose, args.tensorboard, tensorboard_logging.probe_image(data.test))
    results, histories = {}, {}
    for name in args.models:
        if name in state["finished"]:
            print(f"\n== {name}: already finished in the stopped run, kept.")
            results[name] = state["finished"][name]
            histories[name] = artifacts.read_json(run_folder.history(name))
            continue
        settings = model_settings(name, args)
        model, histories[name] = recipe.train_model(settings, data.train, data.validation, strategy,
                                                    run_folder, resume=args.resume, logging=logging)
        metrics = report.evaluate(model, data.test, settings.batch_size)
        results[name] = report.summarize(name, model, histories[name], metrics, run_folder)
        artifacts.save_model(model, run_folder.model(name))
        distributed.print_weights_checksum(task, name, model)
        state["finished"][name] = results[name]
        artifacts.write_json(run_folder.state, state)

    report.write_report(run_folder, results, histories, {
        "settings": flags, "seed": args.seed, "precision": policy, "device": device,
        "versions": hardware.library_versions()})
    run_folder.state.unlink()
    if run_folder.backups.exists() and not any(run_folder.backups.iterdir()):
        run_folder.backups.rmdir()
    if distributed.finish_worker(task, run_folder.path):
        return results
    latest = ""
    if run_folder.path.resolve().parent == artifacts.RUNS_DIR:  # a run elsewhere (--out DIR) leaves it alone
        artifacts.mark_latest(run_folder.path)  # only now: a stopped run never becomes the latest
        latest = f"; {artifacts.LATEST} names it, for visualize.py, predict.py and export.py"
    print(f"\nWrote models, histories, results.json and figures to {run_folder.path}{latest}")
    return results


def run_folder_of(task, out):
    """--out, or for a worker other than the chief of a multi-worker run its temporary folder."""
    return artifacts.RunFolder(distributed.output_folder(task, out))


def resume_command(out):
    """The command that continues this run: its flags, and the run folder unless --out names it."""
    words = ["python", "train.py", *sys.argv[1:]]
    if "--resume" in words:
        return shlex.join(words)
    given_out = any(word == "--out" or word.startswith("--out=") for word in words)
    return shlex.join([*words, "--resume"] if given_out else [*words, "--resume", str(out)])


def main(argv=None):
    args = parse_args(argv)
    # SIGTERM (a scheduler, `kill`) stops the run like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        run(args)
    except (Interrupted, KeyboardInterrupt) as where:
        stopped = f"during {where}" if isinstance(where, Interrupted) else "between models"
        run_folder = run_folder_of(distributed.task_for(args.strategy), args.out)  # already checked by run()
        print(f"\nStopped {stopped}. Completed epochs are backed up in {run_folder.backups}.\n"
              f"Resume with: {resume_command(args.out)}", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_CODE)
    except DataError as error:
        sys.exit(f"error: {error}")
    except distributed.ClusterError as error:
        sys.exit(f"error: {error}")
    except TrainingError as error:
        sys.exit(f"\nerror: {error}")  # the newline ends Keras' progress bar


if __name__ == "__main__":
    main()
