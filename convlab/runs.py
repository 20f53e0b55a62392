"""Where runs go, what a run folder holds, and what a stopped run needs to go on.

Every `python train.py` gets a new folder under runs/, so no run overwrites another's
models; runs/latest names the newest complete one, whose models visualize.py,
predict.py and export.py use. Used by the scripts, recipe.py, report.py and saved_models.py.

Standard library only: `visualize.py convolution` imports this without TensorFlow.
"""

import dataclasses
import datetime
import fcntl
import os
from pathlib import Path

from convlab import files

PROJECT_DIR = Path(__file__).resolve().parents[1]
RUNS_DIR = PROJECT_DIR / "runs"  # every run of train.py gets a folder of its own in here
TRAIN_FIRST = "Run `python train.py` first, or pass --model PATH to a saved .keras model."


class RunError(Exception):
    """No run to use or to resume, or one that another process is training; the message says what to do."""


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

    @property
    def per_class_figure(self):
        """Each model's test accuracy per class, side by side: where convolutions help."""
        return self.path / "per_class_accuracy.png"

    def backup(self, name):
        return self.path / "backup" / name

    @property
    def backups(self):
        return self.path / "backup"

    @property
    def state(self):
        """What a stopped run needs to resume (ResumeState); removed when the run finishes."""
        return self.path / "run_state.json"

    @property
    def results(self):
        return self.path / "results.json"

    def model_results(self, name):
        """Model `name`'s line of results.json (test accuracy, epochs, ...); None if the folder has none."""
        return (files.read_json(self.results) or {}).get("models", {}).get(name)

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

    def feature_maps_figure(self, photo=None):
        """visualize.py's figure: one filter through every conv and pooling layer, for a few test images,
        or for the photos given with --image-file (named after the first, so the test images' figure stays)."""
        return self.path / (f"feature_maps_{Path(photo).stem}.png" if photo else "feature_maps.png")

    def all_feature_maps_figure(self, photo=None):
        """visualize.py's figure: every filter of every layer, for the first image (or photo)."""
        return self.path / (f"feature_maps_all_filters_{Path(photo).stem}.png" if photo
                            else "feature_maps_all_filters.png")


# --- the runs folder: one sub-folder per run, and which one is the latest --------------


def latest_file():
    """A small text file in RUNS_DIR naming the newest complete run's folder.

    Not a symlink: TensorBoard follows links, so `tensorboard --logdir runs` would show that run twice.
    """
    return RUNS_DIR / "latest"


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


def latest_run(fix=TRAIN_FIRST):
    """The folder of the newest complete run, as runs/latest names it; RunError, with `fix`, if there is none."""
    try:
        run = RUNS_DIR / latest_file().read_text().strip()
    except FileNotFoundError:
        raise RunError(f"no trained model yet: no run in {RUNS_DIR} has finished.\n{fix}") from None
    if not run.is_dir():
        raise RunError(f"{latest_file()} names {run.name}, which is no longer in {RUNS_DIR}.\n{fix}")
    return run


def mark_latest(run_path):
    """Make runs/latest name a run that has just finished: rewritten whole, so it never names half a run.

    Returns runs/latest; None, and nothing changed, for a run outside runs/ (--out DIR).
    """
    if Path(run_path).resolve().parent != RUNS_DIR:
        return None
    with files.atomic_path(latest_file()) as temporary:
        temporary.write_text(Path(run_path).name + "\n")
    return latest_file()


def stopped_runs():
    """The runs in runs/ that were stopped before they finished, the most recently active first."""
    if not RUNS_DIR.is_dir():
        return []
    states = [RunFolder(path).state for path in RUNS_DIR.iterdir() if path.is_dir()]
    return [state.parent for state in sorted((state for state in states if state.is_file()),
                                             key=lambda state: state.stat().st_mtime, reverse=True)]


def table():
    """Every run in runs/, oldest first, as a table: finished or stopped, and each model's test accuracy."""
    folders = sorted(path for path in RUNS_DIR.iterdir() if path.is_dir()) if RUNS_DIR.is_dir() else []
    if not folders:
        return f"No runs yet in {RUNS_DIR}: `python train.py` makes the first."
    try:
        latest = latest_run()
    except RunError:
        latest = None
    width = max(len(folder.name) for folder in folders)
    lines = [f"{'run':<{width}}  {'state':<9}  models: test accuracy (epochs, training images)"]
    for folder in folders:
        run_folder = RunFolder(folder)
        models = (files.read_json(run_folder.results) or {}).get("models", {})
        if run_folder.state.is_file():
            state, models = "stopped", ResumeState.load(run_folder).finished
        else:
            state = "latest" if folder == latest else "finished" if models else "empty"
        shown = ", ".join(f"{name} {m['test_accuracy']:.1%} ({m['epochs']}, {m.get('train_images', 0):,})"
                          for name, m in models.items())
        lines.append(f"{folder.name:<{width}}  {state:<9}  {shown or '-'}")
    return "\n".join(lines)


def seconds_per_image(name):
    """Training seconds per image and epoch of model `name` in the newest finished run that trained it; None."""
    for folder in sorted((path for path in RUNS_DIR.iterdir() if path.is_dir()), reverse=True) \
            if RUNS_DIR.is_dir() else []:
        found = RunFolder(folder).model_results(name)
        if found and found.get("train_images"):
            return found["train_seconds"] / (found["epochs"] * found["train_images"])
    return None


# --- a stopped run, and the process that trains a run ----------------------------------


class ResumeState:
    """What a run records before it trains, so that a stopped run can go on: its flags and finished models.

    flags: every flag of the run ({name: value}, JSON values); finished: {model: its results}.
    Written whole after each model, removed when the run finishes.
    """

    def __init__(self, run_folder, flags, finished=None):
        self.run_folder, self.flags, self.finished = run_folder, flags, finished or {}

    @classmethod
    def start(cls, run_folder, flags):
        state = cls(run_folder, flags)
        state.save()
        return state

    @classmethod
    def load(cls, run_folder):
        """The stopped run's state; RunError if the folder holds no stopped run."""
        recorded = files.read_json(run_folder.state)
        if recorded is None:
            raise RunError(f"nothing to resume in {run_folder.path}: no stopped run was found there. "
                           "Run again without --resume.")
        return cls(run_folder, recorded["flags"], recorded["finished"])

    @staticmethod
    def recorded_flags(run_folder):
        """The flags a stopped run in run_folder recorded; {} where there is none."""
        return (files.read_json(run_folder.state) or {}).get("flags", {})

    def check_unchanged(self, flags, keys):
        """Refuse a resume whose flags named by `keys` differ from the stopped run's: it would train something else."""
        changed = [f"--{key.replace('_', '-')} was {self.flags[key]}, now {flags[key]}"
                   for key in keys if self.flags[key] != flags[key]]
        if changed:
            raise RunError("cannot resume: the flags differ from the stopped run's: " + "; ".join(changed)
                           + ".\nResume with the same flags (or none), or run without --resume to start over.")

    def save(self):
        files.write_json(self.run_folder.state, {"flags": self.flags, "finished": self.finished})

    def finish_model(self, name, result):
        self.finished[name] = result
        self.save()

    def finish_run(self):
        """The run is complete: nothing is left to resume."""
        self.run_folder.state.unlink()
        if self.run_folder.backups.exists() and not any(self.run_folder.backups.iterdir()):
            self.run_folder.backups.rmdir()


def lock(run_folder):
    """Hold the run folder for this process, so that a second train.py cannot train into it at once.

    An flock on the folder itself: the kernel lets it go when the process ends, however it ends,
    so a crash leaves no stale lock behind. Returns the open descriptor (keep it until the end).
    """
    path = run_folder.path
    path.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise RunError(f"{path} is being trained by another train.py right now. Wait for it to finish "
                       "(or stop it), or start a new run without --resume and --out.") from None
    return descriptor
