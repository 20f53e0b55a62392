"""Where runs go, what a run folder holds, and what a stopped run needs to go on.

Every `python train.py` gets a new folder under runs/, so no run overwrites another's
models; runs/latest names the newest complete one, whose models visualize.py,
predict.py and export.py use. Used by the scripts, recipe.py, report.py and saved_models.py.

Standard library only: `visualize.py convolution` imports this without TensorFlow.
"""

import contextlib
import dataclasses
import datetime
import fcntl
import os
import shlex
from pathlib import Path

from convlab import files

PROJECT_DIR = Path(__file__).resolve().parents[1]
RUNS_DIR = PROJECT_DIR / "runs"  # every run of train.py gets a folder of its own in here
TRAIN_FIRST = "Run `python train.py` first, or pass --model PATH to a saved .keras model."


class RunError(Exception):
    """No run to use or to resume, or one that another process is training; the message says what to do."""


def file_stem(name):
    """A model's name as it begins its files' names: "cnn:32,32" (a conv stack of its own) -> "cnn-32-32"."""
    return name.replace(":", "-").replace(",", "-")


def model_name(model_file):
    """A model file's model, as results.json names it: cnn.keras -> cnn, cnn-32-32.keras -> cnn:32,32."""
    stem = Path(model_file).stem
    name, dash, stack = stem.partition("-")
    return f"{name}:{stack.replace('-', ',')}" if dash and stack.replace("-", "").isdigit() else stem


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """Where a run's files live: the one place their names are spelled out."""

    path: Path

    def model(self, name):
        return self.path / f"{file_stem(name)}.keras"

    def history(self, name):
        return self.path / f"{file_stem(name)}_history.json"

    def snapshots(self, name):
        """Every epoch's weights, from as built (epoch 0) to the last (snapshots.py)."""
        return self.path / f"{file_stem(name)}_snapshots.npz"

    def confusion_figure(self, name):
        return self.path / f"{file_stem(name)}_confusion.png"

    @property
    def per_class_figure(self):
        """Each model's test accuracy per class, side by side: where convolutions help."""
        return self.path / "per_class_accuracy.png"

    def backup(self, name):
        return self.path / "backup" / file_stem(name)

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

    def read_results(self):
        """results.json: {"models": {name: its results}, ...}; {} where the run wrote none. DamagedFileError
        naming it where it cannot be read."""
        results = files.read_json(self.results, default={}, kind=dict)
        if results and not isinstance(results.get("models"), dict):
            raise files.DamagedFileError(f"{self.results} cannot be read: it lists no models")
        return results

    def model_results(self, name):
        """Model `name`'s line of results.json (test accuracy, epochs, ...); None if the folder has none."""
        return self.read_results().get("models", {}).get(name)

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

    def saved_model(self, stem):
        """The model exported for TensorFlow Serving (a folder), beside stem.keras."""
        return self.path / f"{stem}_savedmodel"

    def tflite(self, stem):
        """The model exported for TensorFlow Lite (phones), beside stem.keras."""
        return self.path / f"{stem}.tflite"

    @property
    def fixes_figure(self):
        """The test images one model gets right and the other wrong, both ways."""
        return self.path / "cnn_fixes.png"

    @property
    def shifts_figure(self):
        """Test accuracy against how far every test image is shifted."""
        return self.path / "shifted_accuracy.png"

    @property
    def exercises_figure(self):
        """Test accuracy against training time, one point per model."""
        return self.path / "accuracy_vs_time.png"

    @property
    def learning_figure(self):
        """visualize.py learning's figure: conv_1's filters and the feature maps at every epoch."""
        return self.path / "learning.png"

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
    """A small text file in RUNS_DIR naming the run that finished last.

    Not a symlink: TensorBoard follows links, so `tensorboard --logdir runs` would show that run twice.
    """
    return RUNS_DIR / "latest"


def run_name(models, now=None):
    """A new run's folder name, its start and its models, so that `ls` sorts runs by time:
    e.g. 2026-11-25_203412-dnn-cnn."""
    return f"{(now or datetime.datetime.now()).strftime('%Y-%m-%d_%H%M%S')}-{'-'.join(map(file_stem, models))}"


def claim_new_run(models, now=None):
    """Create a new run's folder in RUNS_DIR and return it: created by this process, no other's.

    Each name is tried with os.mkdir, which fails where the folder exists, so two runs
    started in the same instant get two folders (the second with -2), and no run ever
    writes into another's.
    """
    name, count = run_name(models, now), 1
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    while True:
        path = RUNS_DIR / (name if count == 1 else f"{name}-{count}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            count += 1


def claim_folder(path, resume):
    """--out DIR for a run: create it if needed; refuse one that holds a finished run (unless resuming,
    which checks its state itself), so that no finished run is ever written over."""
    path = Path(path)
    if not resume and RunFolder(path).results.exists() and not RunFolder(path).state.exists():
        raise RunError(f"{path} holds a finished run (its results.json): pass --out a new folder, "
                       "or leave out --out for a new folder under runs/.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"cannot write into --out {path}: {files.reason(error)}.\n{files.PASS_AN_OUT}") from None
    return path


def latest_run(fix=TRAIN_FIRST):
    """The folder of the run that finished last, as runs/latest names it; RunError, with `fix`, if there is none."""
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
    if Path(run_path).resolve().parent != RUNS_DIR.resolve():
        return None
    with files.atomic_path(latest_file()) as temporary:
        temporary.write_text(Path(run_path).name + "\n")
    return latest_file()


def finished_runs():
    """The finished runs in RUNS_DIR with their results, the last to finish first: [(folder, results)].

    A run whose results.json cannot be read is left out (`--list` shows it as damaged).
    """
    found = []
    for folder in (path for path in RUNS_DIR.iterdir() if path.is_dir()) if RUNS_DIR.is_dir() else []:
        run_folder = RunFolder(folder)
        if run_folder.state.exists() or not run_folder.results.is_file():
            continue
        try:
            found.append((run_folder.results.stat().st_mtime, folder, run_folder.read_results()))
        except (files.DamagedFileError, OSError):
            continue
    return [(folder, results) for _, folder, results in sorted(found, key=lambda item: item[0], reverse=True)]


def latest_full_run(name=None):
    """The folder of the run that finished last with a full (not quick) training of model `name`
    (None: of any model); None where there is none."""
    for folder, results in finished_runs():
        for model, result in results["models"].items():
            if (name in (None, model) and isinstance(result, dict) and not result.get("quick")
                    and RunFolder(folder).model(model).is_file()):
                return folder
    return None


def run_for_tools(name=None, fix=TRAIN_FIRST):
    """The run whose model `name` (None: whose models) the scripts use by default, and a line saying why.

    That is runs/latest's run, unless it is a quick run (--limit, or fewer epochs) and a full
    run exists: a quick model's answers are rougher, and should never be used silently.
    Returns (folder, note); note is None where the run is simply the latest.
    """
    latest = latest_run(fix)
    found = RunFolder(latest).read_results().get("models", {})
    chosen = {model: result for model, result in found.items() if name in (None, model)}
    if not chosen or not all(result.get("quick") for result in chosen.values()):
        return latest, None
    full = latest_full_run(name)
    if full is None:
        return latest, None
    what = f"its {name}" if name else "its models"
    return full, (f"The latest run, {latest.name}, is a quick run: using {what} from the latest full run, "
                  f"{full.name}. For the quick run's, pass its path, e.g. "
                  f"{RunFolder(latest).model(name or next(iter(chosen)))}.")


def stopped_runs():
    """The runs in runs/ that were stopped before they finished and can go on, the most recently active first.

    A diverged run is not among them: resuming it would diverge again.
    """
    if not RUNS_DIR.is_dir():
        return []
    states = [RunFolder(path).state for path in RUNS_DIR.iterdir() if path.is_dir()]
    stopped = [state for state in states if state.is_file() and not ResumeState.diverged_at(RunFolder(state.parent))]
    return [state.parent for state in sorted(stopped, key=lambda state: state.stat().st_mtime, reverse=True)]


def table():
    """Every run in runs/, oldest first, as a table: its state, and each model's test accuracy and files."""
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
        state, shown = describe_run(RunFolder(folder), folder == latest)
        lines.append(f"{folder.name:<{width}}  {state:<9}  {shown}")
    return "\n".join(lines)


def describe_run(run_folder, latest=False):
    """(state, models) of one run for `--list`: finished, latest, stopped, diverged, empty or damaged."""
    try:
        if run_folder.state.is_file():
            state = ResumeState.load(run_folder)
            models, status = state.finished, "diverged" if state.diverged else "stopped"
        else:
            models = run_folder.read_results().get("models", {})
            status = "latest" if latest else "finished" if models else "empty"
        shown = ", ".join(f"{name} {m['test_accuracy']:.1%} ({m['epochs']}, {m.get('train_images', 0):,})"
                          + (" +snapshots" if m.get("snapshots_file") else "")
                          for name, m in models.items())
    except (files.DamagedFileError, RunError, KeyError, TypeError, ValueError) as error:
        detail = (str(error) if isinstance(error, (files.DamagedFileError, RunError))
                  else "a model's results are incomplete")
        return "damaged", detail.splitlines()[0]
    return status, shown or "-"


def seconds_per_epoch(name, images, batch_size, precision, validation_images):
    """The seconds an epoch of model `name` took in the run that finished last training it at this size (as many
    training and validation images, the same batch size and precision); None where none did."""
    for _, results in finished_runs():
        model, settings = results["models"].get(name), results.get("settings", {})
        try:
            same = (model.get("train_images") == images and model.get("validation_images") == validation_images
                    and settings.get("batch_size") == batch_size and results.get("precision") == precision)
            if same and model["epochs"]:
                return model["train_seconds"] / model["epochs"]
        except (AttributeError, KeyError, TypeError, ZeroDivisionError):
            continue
    return None


# --- a stopped run, and the process that trains a run ----------------------------------


class ResumeState:
    """What a run records before it trains, so that a stopped run can go on: its flags and finished models.

    flags: every flag of the run ({name: value}, JSON values); finished: {model: its results};
    diverged: the model whose training diverged, if one did (such a run is not resumed).
    Written whole after each model, removed when the run finishes.
    """

    def __init__(self, run_folder, flags, finished=None, diverged=None):
        self.run_folder, self.flags, self.finished, self.diverged = run_folder, flags, finished or {}, diverged

    @classmethod
    def start(cls, run_folder, flags):
        state = cls(run_folder, flags)
        state.save()
        return state

    @classmethod
    def load(cls, run_folder):
        """The stopped run's state; RunError if the folder holds no stopped run, or a damaged record of one."""
        try:
            recorded = files.read_json(run_folder.state, kind=dict)
        except files.DamagedFileError as error:
            raise RunError(f"{error}: the stopped run's record is damaged. "
                           "Run again without --resume to start over.") from None
        if recorded is None:
            raise RunError(f"nothing to resume in {run_folder.path}: no stopped run was found there. "
                           "Run again without --resume.")
        if not isinstance(recorded.get("flags"), dict) or not isinstance(recorded.get("finished", {}), dict):
            raise RunError(f"{run_folder.state} is damaged: it does not hold the stopped run's flags. "
                           "Run again without --resume to start over.")
        return cls(run_folder, recorded["flags"], recorded.get("finished"), recorded.get("diverged"))

    @staticmethod
    def diverged_at(run_folder):
        """The model a stopped run diverged on; None for one that can be resumed (or cannot be read)."""
        try:
            return (files.read_json(run_folder.state, default={}, kind=dict) or {}).get("diverged")
        except files.DamagedFileError:
            return None

    @staticmethod
    def recorded_flags(run_folder):
        """The flags a stopped run in run_folder recorded; {} where there is none."""
        return ResumeState.load(run_folder).flags if run_folder.state.exists() else {}

    def check_unchanged(self, flags, keys):
        """Refuse a resume whose flags named by `keys` differ from the stopped run's: it would train something else."""
        changed = [f"--{key.replace('_', '-')} was {self.flags.get(key)}, now {flags[key]}"
                   for key in keys if self.flags.get(key) != flags[key]]
        if changed:
            raise RunError("cannot resume: the flags differ from the stopped run's: " + "; ".join(changed)
                           + ".\nResume with the same flags (or none), or run without --resume to start over.")
        if self.diverged:
            raise RunError(f"the stopped run in {self.run_folder.path} diverged while training {self.diverged}: "
                           "resuming it would diverge again. Run again without --resume, with a lower "
                           "--learning-rate.")

    def save(self):
        files.write_json(self.run_folder.state, {"flags": self.flags, "finished": self.finished,
                                                 **({"diverged": self.diverged} if self.diverged else {})})

    def kept(self, name):
        """A model the stopped run finished: its results and history, checked to be still there."""
        folder = self.run_folder
        if not folder.model(name).is_file():
            raise RunError(f"{folder.model(name)} is gone, although the stopped run had finished {name}. "
                           "Run again without --resume to train every model afresh.")
        history = files.read_json(folder.history(name), kind=list)
        if not history:
            raise RunError(f"{folder.history(name)} is missing: the stopped run is damaged. "
                           "Run again without --resume to train every model afresh.")
        print(f"\n== {name}: already finished in the stopped run, kept.")
        return self.finished[name], history

    def finish_model(self, name, result):
        self.finished[name] = result
        self.save()

    def mark_diverged(self, name):
        self.diverged = name
        self.save()

    def finish_run(self):
        """The run is complete: nothing is left to resume."""
        self.run_folder.state.unlink()
        if self.run_folder.backups.exists() and not any(self.run_folder.backups.iterdir()):
            self.run_folder.backups.rmdir()


def folder_to_resume(resume, out):
    """The folder --resume continues: --resume RUN, --out DIR, or the most recently stopped run in runs/."""
    named = [folder for folder in (resume, out) if isinstance(folder, Path)]
    if len(set(named)) > 1:
        raise RunError("--resume RUN and --out DIR name two folders: give the stopped run's folder once")
    if named:
        return named[0]
    stopped = stopped_runs()
    if not stopped:
        raise RunError(f"--resume: there is no stopped run in {RUNS_DIR} to continue. "
                       "Run again without --resume, or pass --resume RUN with the stopped run's folder.")
    return stopped[0]


@contextlib.contextmanager
def start(folder, args, resume_settings):
    """Within the block: a run's folder, claimed and locked for this process, and its ResumeState (a stopped
    run's, with --resume).

    folder: --out DIR (or a worker's own folder), else None for a new folder under runs/; args:
    train.py's flags, recorded; resume_settings: the flags a resumed run may not change.
    """
    resume = bool(args.resume)
    flags = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()
             if key != "specs"}
    path = claim_folder(folder, resume) if folder else claim_new_run(args.models)
    run_folder = RunFolder(path)
    print(f"Run folder: {path}" + (" (resuming)" if resume else ""))
    held = lock(run_folder)  # no second train.py trains into this folder meanwhile
    try:
        if resume:
            state = ResumeState.load(run_folder)
            state.check_unchanged(flags, resume_settings)
        else:  # recorded before training, so that a stopped run can be resumed
            state = ResumeState.start(run_folder, flags)
        yield run_folder, state
    finally:
        os.close(held)


def stop_advice(folder, out, during=None):
    """What a stopped train.py says, naming only what exists: the backups, and --resume only where there
    is a run to go on; None for a run that had finished. folder: where this process wrote, None
    before it claimed one; out: the folder --resume takes (--out, the same on every worker); during:
    what was training."""
    stopped = "Stopped" + (f" during {during}" if during else "")
    run_folder = RunFolder(Path(folder)) if folder else None
    if run_folder is not None and run_folder.results.exists() and not run_folder.state.exists():
        return None  # the run had finished: nothing was stopped
    if run_folder is None or not run_folder.state.exists():
        return f"\n{stopped}, before anything was kept: run the same command again to start over."
    backups = run_folder.backups
    kept = f" Completed epochs are backed up in {backups}." if backups.is_dir() and any(backups.iterdir()) else ""
    return f"\n{stopped}.{kept}\nResume with: {resume_command(out)}"


def resume_command(out):
    """The command that continues a run: a bare --resume for the latest stopped run, else with its folder."""
    latest_stopped = stopped_runs()[:1] == [Path(out).absolute()]
    return "python train.py --resume" + ("" if latest_stopped else f" {shlex.quote(str(out))}")


def lock(run_folder):
    """Hold the run folder for this process, so that a second train.py cannot train into it at once.

    An flock on the folder itself: the kernel lets it go when the process ends, however it ends,
    so a crash leaves no stale lock behind. Returns the open descriptor (closing it lets go).
    """
    descriptor = os.open(run_folder.path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise RunError(f"{run_folder.path} is being trained by another train.py right now. Wait for it to finish "
                       "(or stop it), or start a new run without --resume and --out.") from None
    return descriptor
