"""Classify your own photos of clothes with a model that train.py saved.

    python predict.py sneaker.jpg shirt.png          # photos, or folders of them
    python predict.py --test-index 0 1 2             # Fashion-MNIST test images: no photo needed
    python predict.py photos/ --json                 # the same as JSON, for scripts
    python predict.py sneaker.jpg --no-preprocess    # the photo only resized: see why preprocessing matters
    python predict.py sneaker.jpg --steps            # also draw each preprocessing step (preprocessing.png)
    python predict.py --save-statistics              # keep the (unsure) statistics beside the model (below)

Each photo is first made to look like a Fashion-MNIST image (convlab/preprocess.py):
grayscale, the background's light flattened and removed (a light background inverted),
cropped to the garment, centred, 28x28.
Prints the top 3 classes of each image and draws, for each, the original, the 28x28
image the model received and its 10 class probabilities (predictions.png). The model
is the cnn of the latest run of `python train.py` (runs/latest) unless given --model;
the figures go beside it, in its run folder, unless given --out.

An answer is marked (unsure) when the image looks like no garment the model was trained
on (convlab/unsure.py), judged with the statistics kept beside the model (cnn_unsure.npz
beside cnn.keras), which --save-statistics computes from the training images and writes;
without them, they are computed for the run from the training data if at hand, else the
rule is the top class below 75%. A line on stderr says which. Predicting writes only the
figures.
"""

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from convlab import cli, figures, files, preprocess, runs, unsure
from convlab.data import CLASS_NAMES, DATA_DIR_HELP, DataError, load_fashion_mnist, load_test_images
from convlab.saved_models import ModelFileError, check_classes, check_input_shape, load_model, model_or_latest

TOP = 3  # classes printed per image
MAX_FIGURE_ROWS = 20  # a taller figure is unreadable; the table still lists every image


class PredictError(Exception):
    """Bad input; the message says what to pass instead."""


class Sample(NamedTuple):
    """One image to classify: its name, as given, as the model receives it, and its true class if known."""

    name: str
    original: object  # a Pillow image or a 28x28 array, for the figure
    model_input: np.ndarray  # uint8 (28, 28)
    true_class: str = None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="*", type=Path, metavar="PHOTO",
                        help="image files, or folders of them (JPEG, PNG, anything Pillow reads)")
    parser.add_argument("--test-index", type=int, nargs="+", metavar="N",
                        help="classify these Fashion-MNIST test images instead of photos")
    parser.add_argument("--model", type=Path, metavar="PATH",
                        help="a .keras model saved by train.py (default: cnn.keras of the latest run)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="folder for predictions.png (default: the model's run folder)")
    parser.add_argument("--json", action="store_true", help="print the predictions as JSON")
    parser.add_argument("--no-preprocess", action="store_true",
                        help="feed each photo only resized to 28x28, to see what preprocessing buys")
    parser.add_argument("--steps", action="store_true",
                        help="also draw each preprocessing step of each photo (preprocessing.png in --out)")
    parser.add_argument("--save-statistics", action="store_true",
                        help="compute the statistics that (unsure) needs from the training images and save them "
                             "beside the model (MODEL_unsure.npz), so that no later run computes them; "
                             "with photos or --test-index, then classify them")
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP + "; for --test-index and --save-statistics")
    args = parser.parse_args(argv)
    if args.photos and args.test_index:
        parser.error("give either photos or --test-index N ..., not both")
    if not (args.photos or args.test_index or args.save_statistics):
        parser.error("give one or more photos (files or folders), or --test-index N ..., or --save-statistics")
    if args.test_index and (args.no_preprocess or args.steps):
        parser.error("--no-preprocess and --steps are for photos: test images are already what the model takes")
    if args.steps and args.no_preprocess:
        parser.error("--steps draws the preprocessing that --no-preprocess leaves out: give one of them")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        model_file = model_or_latest(args.model)  # before reading anything: the likeliest mistake
        out = args.out or model_file.parent
        samples = []
        if args.test_index or args.photos:
            cli.check_out(out)
        if args.test_index:
            samples = test_samples(args.test_index, args.data_dir)
        elif args.photos:
            to_model_input = preprocess.only_resized if args.no_preprocess else preprocess.to_fashion_mnist
            samples = photo_samples(args.photos, to_model_input)
        model = load_model(model_file)
        check_input_shape(model, model_file)
        check_classes(model, model_file)
        if args.save_statistics:
            print(save_statistics(model, model_file, args.data_dir), file=sys.stderr if args.json else sys.stdout)
        if not samples:
            return
        judge = unsure.Judge(model, model_file, args.data_dir)
        if judge.note:
            print(f"note: {judge.note}", file=sys.stderr)
        probabilities, flagged = judge(np.stack([sample.model_input for sample in samples]))
        print(json.dumps(as_json(samples, probabilities, flagged), indent=2) if args.json
              else table(samples, probabilities, flagged, judge.why))
        run_folder = runs.RunFolder(out)
        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():  # "Wrote ..."
            save_figure(samples, probabilities, flagged, judge.figure_note, run_folder.predictions_figure)
            if args.steps:
                save_steps_figure(samples, run_folder.preprocessing_figure)
    except (DataError, ModelFileError, PredictError, unsure.StatisticsError, preprocess.PhotoError,
            cli.OutputError) as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit(cli.stopped())


def save_statistics(model, model_file, data_dir):
    """Compute the statistics of (unsure) from Fashion-MNIST's training images and write them beside the model.

    Returns the line that says so."""
    path = unsure.statistics_path(model_file)
    problem = files.folder_problem(path.parent)
    if problem:
        raise PredictError(f"cannot write {path}: {problem}. Copy the model into a folder you can write to.")
    started = time.perf_counter()
    train, _ = load_fashion_mnist(data_dir)
    statistics = unsure.fit_statistics(unsure.Features(model), train.images)
    try:
        unsure.write_statistics(statistics, path)
    except OSError as error:
        raise PredictError(f"cannot write {path}: {files.reason(error)}. "
                           "Copy the model into a folder you can write to.") from None
    return (f"Wrote {path}: the statistics of (unsure), from {int(statistics['training_images']):,} training images "
            f"({time.perf_counter() - started:.0f} s)")


# --- the images ---------------------------------------------------------------------


def test_samples(indices, data_dir):
    x_test, y_test = load_test_images(data_dir)
    bad = [index for index in indices if not 0 <= index < len(x_test)]
    if bad:
        raise PredictError(f"--test-index takes test-image indices from 0 to {len(x_test) - 1}, "
                           f"got {' '.join(map(str, bad))}")
    return [Sample(f"test image {index}", x_test[index], x_test[index], CLASS_NAMES[y_test[index]])
            for index in indices]


def photo_samples(paths, to_model_input):
    """A Sample per readable photo. A file named on the command line must be readable; in a
    folder, unreadable files are reported on stderr and skipped."""
    samples = []
    for path in paths:
        if not path.is_dir():
            samples.append(photo_sample(path, to_model_input))
            continue
        found = []
        try:
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        except PermissionError:
            raise PredictError(f"cannot read the folder {path}: permission denied. Check its permissions.") from None
        for file in files:
            try:
                found.append(photo_sample(file, to_model_input))
            except preprocess.PhotoError as error:
                print(f"skipped: {error}", file=sys.stderr)
        if not found:
            raise PredictError(f"no readable images in the folder {path}. "
                               "Pass image files (JPEG, PNG, ...) or a folder that holds some.")
        samples += found
    return samples


def photo_sample(path, to_model_input):
    photo = preprocess.open_photo(path)
    return Sample(str(path), preprocess.on_white(photo).convert("RGB"), to_model_input(photo))


# --- classifying and showing ----------------------------------------------------------


def top_classes(probabilities):
    best = np.argsort(probabilities)[::-1][:TOP]
    return [(CLASS_NAMES[index], float(probabilities[index])) for index in best]


def table(samples, probabilities, flagged, why):
    """The top classes of each image, (unsure) at the end of a row the judge flagged, and why under the table."""
    width = max(len("image"), *(len(sample.name) for sample in samples)) + 2
    header = f"{'image':<{width}}" + "".join(f"{label:<22}" for label in ("1st", "2nd", "3rd")[:TOP])
    if any(sample.true_class for sample in samples):
        header += "true class"
    lines = [header.rstrip()]
    for sample, probs, is_unsure in zip(samples, probabilities, flagged):
        guesses = "".join(f"{f'{name} {p:.1%}':<22}" for name, p in top_classes(probs))
        true_class = f"{sample.true_class:<13}" if sample.true_class else ""
        lines.append(f"{sample.name:<{width}}{guesses}{true_class}{unsure.UNSURE if is_unsure else ''}".rstrip())
    if np.any(flagged):
        lines.append(why)
    return "\n".join(lines)


def as_json(samples, probabilities, flagged):
    return [{"image": sample.name,
             "top": [{"class": name, "probability": round(p, 4)} for name, p in top_classes(probs)],
             "unsure": bool(is_unsure),
             **({"true_class": sample.true_class} if sample.true_class else {})}
            for sample, probs, is_unsure in zip(samples, probabilities, flagged)]


def save_figure(samples, probabilities, flagged, note, path):
    """predictions.png: `note` under each prediction that was flagged."""
    shown = samples[:MAX_FIGURE_ROWS]
    if len(samples) > len(shown):
        print(f"The figure shows the first {len(shown)} of {len(samples)} images.", file=sys.stderr)
    captions = [os.path.basename(sample.name) + (f"\ntrue: {sample.true_class}" if sample.true_class else "")
                for sample in shown]
    notes = [note if is_unsure else None for is_unsure in flagged[: len(shown)]]
    figure = figures.predictions([s.original for s in shown], [s.model_input for s in shown],
                                 probabilities[: len(shown)], captions, CLASS_NAMES, notes)
    cli.save_figure(figure, path)


def save_steps_figure(samples, path):
    """Each photo's preprocessing, step by step; the photos are read again, as the model's input was made."""
    shown = samples[:MAX_FIGURE_ROWS]
    steps = [preprocess.steps(preprocess.open_photo(sample.name)) for sample in shown]
    figure = figures.preprocessing_steps([s.original for s in shown], [os.path.basename(s.name) for s in shown], steps)
    cli.save_figure(figure, path)


if __name__ == "__main__":
    main()
