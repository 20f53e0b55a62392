"""Where runs go, a run folder's layout, and writing its files whole or not at all.

Every `python train.py` gets a new folder under runs/, so no run overwrites another's
models; runs/latest names the newest complete one, whose models the other scripts use.

Every file is written under a temporary name beside its destination and renamed
into place (os.replace is atomic on one file system), so a crash or Ctrl-C leaves
either the previous complete file or the new complete one, never a truncated one.

Standard library only: `visualize.py convolution` imports this without TensorFlow.
"""

import contextlib
import dataclasses
import datetime
import json
import os
import shutil
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent
RUNS_DIR = PROJECT_DIR / "runs"  # every run of train.py gets a folder of its own in here
# A small text file in RUNS_DIR naming the newest complete run's folder. Not a symlink:
# TensorBoard follows links, so `tensorboard --logdir runs` would show that run twice.
LATEST = RUNS_DIR / "latest"
PASS_AN_OUT = "Pass --out a folder you can write to."  # the fix when --out cannot be written


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """Where a run's files live: the one place their names are spelled out."""

    path: Path

    def model(self, name):
        return self.path / f"{name}.keras"

    def history(self, name):
        return self.path / f"{name}_history.json"

    def confusion_figure(self, name):
        return self.path / f"{name}_confusion.png"

    def backup(self, name):
        return self.path / "backup" / name

    @property
    def backups(self):
        return self.path / "backup"

    @property
    def state(self):
        """What a stopped run needs to resume; removed when the run finishes."""
        return self.path / "run_state.json"

    @property
    def results(self):
        return self.path / "results.json"

    @property
    def training_curves(self):
        return self.path / "training_curves.png"

    @property
    def predictions_figure(self):
        """predict.py's figure: each image, what the model received, its probabilities."""
        return self.path / "predictions.png"

    @property
    def preprocessing_figure(self):
        """predict.py --steps' figure: each photo, step by step, to the 28x28 image."""
        return self.path / "preprocessing.png"

    @property
    def feature_maps_figure(self):
        """visualize.py's figure: one filter through every conv and pooling layer, for a few images."""
        return self.path / "feature_maps.png"

    @property
    def all_feature_maps_figure(self):
        """visualize.py's figure: every filter of every layer, for the first image."""
        return self.path / "feature_maps_all_filters.png"

    @property
    def filters_figure(self):
        """visualize.py filters' figure: the first conv layer's learned kernels."""
        return self.path / "filters.png"

    @property
    def convolution_figure(self):
        """visualize.py convolution's figure: filters and pooling by hand."""
        return self.path / "convolution.png"

    @property
    def explorer_page(self):
        """visualize.py explorer's page: the CNN at work on a drawing, in the browser."""
        return self.path / "explorer.html"

    @property
    def logs(self):
        """TensorBoard's --logdir by default: one sub-folder per model."""
        return self.path / "logs"

    def saved_model(self, name):
        """The model exported for TensorFlow Serving: a folder."""
        return self.path / f"{name}_savedmodel"

    def tflite(self, name):
        """The model exported for TensorFlow Lite (phones)."""
        return self.path / f"{name}.tflite"


# --- the runs folder: one sub-folder per run, and which one is the latest --------------


def new_run_path(models, now=None):
    """A folder for a new run, named by its start and its models so that `ls` sorts runs by time.

    e.g. runs/2026-11-25_203412-dnn-cnn; a second run started in the same second gets -2.
    """
    name = f"{(now or datetime.datetime.now()).strftime('%Y-%m-%d_%H%M%S')}-{'-'.join(models)}"
    path, count = RUNS_DIR / name, 1
    while path.exists():
        count += 1
        path = RUNS_DIR / f"{name}-{count}"
    return path


def latest_run():
    """The folder of the newest complete run, as runs/latest names it; None before a run has finished."""
    try:
        return LATEST.parent / LATEST.read_text().strip()
    except FileNotFoundError:
        return None


def mark_latest(run_path):
    """Make runs/latest name a run that has just finished: rewritten whole, so it never names half a run."""
    with atomic_path(LATEST) as temporary:
        temporary.write_text(Path(run_path).name + "\n")


def stopped_runs():
    """The runs in runs/ that were stopped before they finished, the most recently active first."""
    if not RUNS_DIR.is_dir():
        return []
    states = [RunFolder(path).state for path in RUNS_DIR.iterdir() if path.is_dir()]
    return [state.parent for state in sorted((state for state in states if state.is_file()),
                                             key=lambda state: state.stat().st_mtime, reverse=True)]


# --- writing whole files --------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path to write; rename it to `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder (so the rename stays on one file system), same suffix (Keras and
    # matplotlib pick the format from it), hidden name.
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path):
    """Yield a temporary path to create a folder at; put it in place of `path` only if the block succeeds.

    A folder cannot replace another in one rename, so the old one is first renamed
    aside: a crash between the two renames leaves no `path` and the old folder
    whole under a hidden name, never a half-written folder at `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary, old = path.with_name(f".{path.name}.partial"), path.with_name(f".{path.name}.old")
    for leftover in (temporary, old):  # from a crash
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        yield temporary
        if path.exists():
            os.replace(path, old)
        try:
            os.replace(temporary, path)
        except OSError:
            if old.exists():
                os.replace(old, path)  # the previous folder back in place
            raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def folder_problem(path):
    """Why `path` cannot be, or be created as, a folder to write into; None if it can. Creates nothing."""
    path = Path(path).absolute()
    existing = next(folder for folder in [path, *path.parents] if folder.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def read_json(path, default=None):
    """The JSON in `path`, or `default` if there is no such file."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return default


def write_json(path, data):
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n")


def save_model(model, path):
    with atomic_path(path) as temporary:
        model.save(temporary)


def save_figure(figure, path, **savefig_options):
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, **savefig_options)
    finally:
        plt.close(figure)
