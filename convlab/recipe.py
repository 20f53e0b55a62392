"""The training recipe: one model, from its settings to a trained Keras model and its history.

Used by train.py for its runs, by the notebook, and by the benchmarks (speed.py times
the same recipe, cnn_plus_experiments.py varies it).
The recipe: Adam on a linear warm-up + cosine learning-rate schedule to each model's
peak learning rate (its entry in model.MODELS, which also holds its epochs), batch 128 per
replica, uint8 images through tf.data; every epoch backed up (for --resume), logged
whole, and checked for a diverging loss.
"""

import contextlib
import dataclasses
import math
import shutil
import signal
import threading
import time
from pathlib import Path

import keras

from convlab import files, runs, tensorboard_logging
from convlab.data import to_dataset

# Each model's epochs and peak learning rate are its entry in model.MODELS.
BATCH_SIZE = 128  # per replica; measured fastest on a 2-core CPU (docs/speed.md)
WARMUP_FRACTION = 0.05  # of all steps, learning rate ramps up from 0 to its peak
SEED = 42


class TrainingError(Exception):
    """Training cannot go on; the message says why and what to do."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during training; completed epochs are backed up in `backups`."""

    def __init__(self, where, backups):
        super().__init__(where)
        self.backups = backups


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that decides how one model trains, resolved once from flags and recipe."""

    model: str
    epochs: int
    learning_rate: float
    batch_size: int = BATCH_SIZE  # per replica
    seed: int = SEED  # the weights and the shuffling
    conv_filters: tuple = None  # the cnn's conv stack; None: the course's
    target_accuracy: float = None  # stop once validation accuracy reaches it

    @classmethod
    def for_model(cls, name, recipe, epochs=None, learning_rate=None, **others):
        """The model's recipe (its entry in model.MODELS: epochs, learning_rate), with any setting given
        (not None) taking its place."""
        return cls(name, epochs or recipe.epochs, learning_rate or recipe.learning_rate,
                   **{key: value for key, value in others.items() if value is not None})


@dataclasses.dataclass(frozen=True)
class Logging:
    """What a run shows and records while it trains; none of it changes the training."""

    verbose: int = 1  # Keras' fit(): 0 nothing, 1 progress bar, 2 one line per epoch (for logs in files)
    tensorboard: Path = None  # TensorBoard logs go to a sub-folder per model; None: no TensorBoard
    probe: tuple = None  # (image, caption): the test image whose feature maps TensorBoard shows


# --- callbacks -------------------------------------------------------------------


class StopAtAccuracy(keras.callbacks.Callback):
    """The course's callback: stop as soon as validation accuracy reaches the target."""

    def __init__(self, target):
        super().__init__()
        self.target = target
        self.reached = None  # the validation accuracy that stopped this fit, if any

    def on_train_begin(self, logs=None):
        self.reached = None

    def on_epoch_end(self, epoch, logs=None):
        if logs.get("val_accuracy", 0) >= self.target:
            self.reached = logs["val_accuracy"]
            self.model.stop_training = True

    def on_train_end(self, logs=None):  # after Keras has printed the epoch's numbers
        if self.reached is not None:
            print(f"Reached {self.reached:.1%} validation accuracy (target {self.target:.1%}), "
                  "so cancelling training!")


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

    It runs before BackupAndRestore at each epoch end, so the history may hold one
    epoch more than the backup. fit() starts at the epoch the backup restored, so the
    first epoch it begins tells how many rows to keep: each epoch is logged once.
    """

    def __init__(self, name, path, rows):
        super().__init__()
        self.name, self.path, self.rows = name, path, rows
        self.first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch and epoch > 0:
            print(f"Resuming {self.name} after epoch {epoch} of {self.params['epochs']}.")
        if self.first_epoch:
            del self.rows[epoch:]
            self.first_epoch = False
            self.first_epoch_trained = epoch
        self.started = self.first_batch_done = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:  # the first step of an epoch includes tracing the graph, which later epochs skip
            self.first_batch_done = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        done = time.perf_counter()
        row = {"epoch": epoch + 1, **{k: round(float(v), 6) for k, v in logs.items() if k != "learning_rate"},
               "seconds": round(done - self.started, 3)}
        self.rows.append(row)
        files.write_json(self.path, self.rows)
        left = self.params["epochs"] - epoch - 1
        if left and epoch == self.first_epoch_trained:  # once, after the first epoch this fit trains
            steps = self.params.get("steps") or 1
            # The later epochs' pace: the steps after the first, scaled to all of them.
            later = (done - self.first_batch_done) * steps / (steps - 1) if steps > 1 else row["seconds"]
            print(f"\n{self.name}: epoch {epoch + 1} took {row['seconds']:.0f} s; "
                  f"about {duration(left * later)} to go.")


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


class StopBetweenBatches(keras.callbacks.Callback):
    """Ctrl-C or SIGTERM during fit() stops at the end of a batch, or of an epoch once it is backed up.

    While fit() runs (see `stops_between_batches`) the signals only set a flag, so a stop
    never lands inside a backup's write: the backup is always whole and can be resumed.
    Last in the callback list, so that an epoch's backup and logs are written before it stops.
    """

    def __init__(self):
        super().__init__()
        self.requested = False

    def request(self, signal_number, frame):
        self.requested = True

    def on_train_batch_end(self, batch, logs=None):
        if self.requested:
            raise KeyboardInterrupt

    on_epoch_end = on_train_batch_end


@contextlib.contextmanager
def stops_between_batches(callback):
    """Within the block, Ctrl-C and SIGTERM ask `callback` to stop; outside it they act as usual."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread handles signals
        yield
        return
    previous = {number: signal.signal(number, callback.request) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def duration(seconds):
    """'40 s', '3 min', '1 h 05 min': as precise as an estimate deserves."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:02.0f} min"


def estimate(name, images, epochs):
    """How long training `name` on `images` for `epochs` will take, from the last finished run of it here."""
    rate = runs.seconds_per_image(name)
    if rate is None:
        return "Time: estimated after the first epoch."
    return (f"Time: about {duration(rate * images * epochs)}, at the last finished {name} run's speed in "
            f"{runs.RUNS_DIR.name}/; refined after the first epoch.")


# --- the recipe ------------------------------------------------------------------


def learning_rate_schedule(peak, total_steps, warmup_fraction=WARMUP_FRACTION):
    """Linear warm-up to the peak, then cosine decay to zero at the last step."""
    warmup = int(total_steps * warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(total_steps - warmup, 1), warmup_target=peak, warmup_steps=warmup)


def compile_for_training(model, peak_learning_rate, total_steps):
    """Adam on the warm-up + cosine schedule, with the loss and metric every run reports."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(peak_learning_rate, total_steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def train_model(settings, build, train, validation, cluster, run_folder, resume=False, logging=Logging()):
    """Train one model (or, with resume, finish a stopped one); return it and its per-epoch history.

    build: model.build_model, called as build(name, conv_filters) inside the cluster's scope.
    train, validation: data.Images; validation may be empty. cluster: the run's
    cluster.Cluster (where the model is built and trained); run_folder: runs.RunFolder
    (its backups and history). logging: a Logging.
    """
    name = settings.model
    batch = settings.batch_size * cluster.replicas
    steps_per_epoch = math.ceil(len(train.images) / batch)
    with cluster.scope():
        model = build(name, settings.conv_filters)
        compile_for_training(model, settings.learning_rate, steps_per_epoch * settings.epochs)
    cluster.prepare(model)

    backup_dir, history_path = run_folder.backup(name), run_folder.history(name)
    rows = []
    if resume and backup_dir.exists():
        rows = files.read_json(history_path, default=[])  # EpochLog trims it to the backup
    elif backup_dir.exists():
        shutil.rmtree(backup_dir)  # a fresh run starts from scratch

    callbacks = [StopOnDivergence(name, settings.learning_rate), EpochLog(name, history_path, rows),
                 Backup(backup_dir), *cluster.callbacks]
    if settings.target_accuracy:
        callbacks.append(StopAtAccuracy(settings.target_accuracy))
    if logging.tensorboard:  # after Backup: an epoch is logged once it is backed up, so a resume logs it once
        callbacks += tensorboard_logging.callbacks(logging.tensorboard / name, logging.probe,
                                                   fresh=not (resume and backup_dir.exists()))
    stop = StopBetweenBatches()
    callbacks.append(stop)
    epochs = f"{settings.epochs} epoch" + ("s" if settings.epochs > 1 else "")
    print(f"\n== {name}: {model.count_params():,} parameters, {epochs}, "
          f"batch {batch}, peak learning rate {settings.learning_rate:g}")
    print(estimate(name, len(train.images), settings.epochs - len(rows)))
    try:
        with stops_between_batches(stop):
            model.fit(to_dataset(*train, batch, shuffle_seed=settings.seed),
                      validation_data=to_dataset(*validation, batch) if len(validation.images) else None,
                      epochs=settings.epochs, callbacks=callbacks, shuffle=False,  # the dataset shuffles
                      verbose=logging.verbose)
    except KeyboardInterrupt:
        raise Interrupted(f"{name} after {len(rows)} of {settings.epochs} epochs", run_folder.backups) from None
    except cluster.lost_peer_errors as error:
        raise TrainingError(cluster.lost_peer_message(error, name, len(rows), settings.epochs)) from None
    return model, rows
