"""What watches one model's fit(): its Keras callbacks, and a stop that always leaves a run to resume.

Every epoch is backed up (for --resume), logged whole, kept as a weights snapshot
(snapshots.py) and checked for a diverging loss; Ctrl-C or SIGTERM stops between batches.
train.py's train_model hands Training.callbacks to model.fit(), from Training.initial_epoch,
inside Training.stopping().
"""

import contextlib
import errno
import hashlib
import math
import os
import shutil
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import keras

from convlab import files, recipe, snapshots, tensorboard_logging
from convlab.recipe import Interrupted, TrainingError

AGAIN = "Run again without --resume to train this model from the start."


class Logging(NamedTuple):
    """What a run shows and records while it trains; none of it changes the training."""

    verbose: int = 1  # Keras' fit(): 0 nothing, 1 progress bar, 2 one line per epoch (for logs in files)
    tensorboard: Path = None  # TensorBoard logs go to a sub-folder per model; None: no TensorBoard
    probe: tuple = None  # (image, caption): the test image whose feature maps TensorBoard shows


class Training:
    """The callbacks of one model's fit(), and its first epoch: 0, or with resume the stopped run's last.

    settings: recipe.Settings; model: compiled, not yet fit; run_folder: runs.RunFolder;
    cluster: cluster.Cluster; logging: Logging. With resume, the model's backup is checked and
    loaded into the model here, so a damaged one stops the run before any training.
    """

    def __init__(self, settings, model, run_folder, cluster, logging, resume=False):
        self.settings, self.cluster, self.backups = settings, cluster, run_folder.backups
        name = settings.model
        backup = Backup(run_folder.backup(name))
        with cluster.scope():  # the optimizer's variables, built to load the backup, spread as the model's are
            self.initial_epoch = backup.restore(model) if resume else backup.clear()
        self.history = (files.read_json(run_folder.history(name), default=[]) if self.initial_epoch else [])
        if len(self.history) < self.initial_epoch:
            raise TrainingError(f"{run_folder.history(name)} holds {len(self.history)} epochs of {name}, its backup "
                                f"{self.initial_epoch}: the stopped run is damaged.\n{AGAIN}")
        del self.history[self.initial_epoch:]  # an epoch logged, then stopped before its backup: trained again
        self.stop = StopBetweenBatches()
        # The history and the snapshots before the backup: a stop between them leaves them an epoch ahead of
        # it, which a resume cuts back; never behind it.
        self.callbacks = [StopOnDivergence(name, settings.learning_rate),
                          EpochLog(name, run_folder.history(name), self.history),
                          KeepSnapshots(run_folder.snapshots(name), self.initial_epoch), backup, *cluster.callbacks]
        if settings.target_accuracy:
            self.callbacks.append(StopAtAccuracy(settings.target_accuracy))
        if logging.tensorboard:  # after the backup: an epoch is logged once it is backed up, so a resume logs it once
            self.callbacks += tensorboard_logging.callbacks(logging.tensorboard / name, logging.probe,
                                                            fresh=not self.initial_epoch)
        self.callbacks.append(self.stop)  # last: an epoch's backup and logs are written before it stops
        if self.initial_epoch:
            print(f"Resuming {name} after epoch {self.initial_epoch} of {settings.epochs}.")

    @contextlib.contextmanager
    def stopping(self):
        """Around fit(): Ctrl-C and SIGTERM stop it between batches, as Interrupted saying what is backed up."""
        try:
            with stops_between_batches(self.stop):
                yield
        except TrainingError:
            print()  # ends Keras' progress bar, so that the message starts a line of its own
            raise
        except KeyboardInterrupt:
            raise Interrupted(f"{self.settings.model} after {len(self.history)} of {self.settings.epochs} epochs",
                              self.backups) from None
        except self.cluster.lost_peer_errors as error:
            raise TrainingError(self.cluster.lost_peer_message(error, self.settings.model, len(self.history),
                                                               self.settings.epochs)) from None


# --- the backup: each completed epoch, checked before a resume trusts it ---------------------------


class Backup(keras.callbacks.Callback):
    """The model's weights and optimizer state after each completed epoch, for --resume.

    Each epoch's weights go to a new file (epoch-3.weights.h5), then epoch.json, written whole,
    names it with its size and SHA-256; only then is the previous file removed. A stop at any
    moment leaves epoch.json naming a complete file, and a file damaged later (a full disk, an
    edit) fails the check with one message instead of training on from what loads. Kept after
    fit() ends, until train.py has saved the model: a stop during the evaluation or the save
    resumes from the last epoch, not from scratch.
    """

    def __init__(self, folder):
        super().__init__()
        self.folder = Path(folder)
        self.record = self.folder / "epoch.json"
        self.previous = None  # the weights file the record names now

    def clear(self):
        """Start afresh: no epoch is backed up. Returns 0, the first epoch."""
        shutil.rmtree(self.folder, ignore_errors=True)
        return 0

    def restore(self, model):
        """Load the last backed-up epoch into the compiled model; return how many epochs it completed.

        0 where nothing was backed up yet. TrainingError, naming the file, for a backup that is
        incomplete, damaged or of another model.
        """
        if not self.folder.exists():
            return 0
        try:
            record = files.read_json(self.record)
            epoch, weights = record["epoch"], self.folder / record["weights"]
            expected = (record["bytes"], record["sha256"])
        except (files.DamagedFileError, KeyError, TypeError):
            raise TrainingError(f"the backup {self.record} is missing or damaged, so it cannot say which epoch "
                                f"to resume from.\n{AGAIN}") from None
        if not weights.is_file() or checksum(weights) != expected:
            raise TrainingError(f"the backup {weights} is missing, truncated or changed since it was written "
                                f"(after epoch {epoch}).\n{AGAIN}")
        try:
            with warnings.catch_warnings():  # Keras warns of what it skips in another model's file: refused below
                warnings.simplefilter("ignore")
                model.optimizer.build(model.trainable_variables)
                model.load_weights(weights)
        except Exception as error:  # Keras and h5py raise many kinds for a file of another model
            raise TrainingError(f"the backup {weights} does not fit {model.name} as built now "
                                f"({(str(error).splitlines() or [type(error).__name__])[0][:200]}).\n{AGAIN}") from None
        self.previous = weights.name
        return epoch

    def on_epoch_end(self, epoch, logs=None):
        weights = self.folder / f"epoch-{epoch + 1}.weights.h5"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # h5py cannot take a disk filling up under it: it leaves a file open that crashes the process as it
            # exits. So a backup that would not fit is not begun.
            needed = sum(variable.numpy().nbytes for variable in [*self.model.weights, *self.model.optimizer.variables])
            free = shutil.disk_usage(self.folder).free
            if free < needed * 1.1 + 2**20:
                raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({free / 1e6:.1f} MB free, the backup "
                                            f"needs {needed / 1e6:.1f} MB)")
            self.model.save_weights(weights)  # a new name: nothing points at it until the record below
            size, digest = checksum(weights)
            files.write_json(self.record, {"epoch": epoch + 1, "weights": weights.name, "bytes": size,
                                           "sha256": digest})
        except Exception as error:  # a full disk: OSError from Python, other kinds from h5py
            weights.unlink(missing_ok=True)
            raise TrainingError(f"cannot back up epoch {epoch + 1} in {self.folder}: {files.reason(error)}.\n"
                                "Free some space, then resume with --resume: it continues from the last epoch "
                                "backed up.") from None
        if self.previous not in (None, weights.name):
            (self.folder / self.previous).unlink(missing_ok=True)
        self.previous = weights.name


def checksum(path):
    """(size in bytes, SHA-256) of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return Path(path).stat().st_size, digest.hexdigest()


# --- the other callbacks ----------------------------------------------------------------------


class KeepSnapshots(keras.callbacks.Callback):
    """Keeps the model's weights before its first epoch (epoch 0: as built) and after each epoch (snapshots.py).

    A resumed run keeps the snapshots of the epochs it finished before the stop; one resumed from
    a run made before snapshots existed keeps them from where it resumes.
    """

    def __init__(self, path, initial_epoch=0):
        super().__init__()
        self.path, self.initial_epoch = Path(path), initial_epoch
        self.kept = None

    def on_train_begin(self, logs=None):
        if self.initial_epoch == 0:
            self.kept = snapshots.of(self.model, 0)
            snapshots.save(self.kept, self.path)
            return
        try:
            self.kept = snapshots.load(self.path).kept_upto(self.initial_epoch)
        except snapshots.SnapshotError:
            self.kept = snapshots.of(self.model, self.initial_epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.kept = self.kept.with_epoch(epoch + 1, self.model)
        snapshots.save(self.kept, self.path)


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
    """Abort fit() at the first non-finite loss, before any epoch end can back it up."""

    def __init__(self, name, learning_rate):
        super().__init__()
        self.name, self.learning_rate = name, learning_rate
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not math.isfinite(float(logs["loss"])):
            raise Diverged(
                f"training {self.name} diverged: the loss became {float(logs['loss'])} at epoch "
                f"{self.epoch + 1}, step {batch + 1}, with a peak learning rate of {self.learning_rate:g}. "
                "No model was saved. Run again with a lower --learning-rate."
            )


class Diverged(TrainingError):
    """The loss became infinite or NaN: resuming would diverge again."""


class EpochLog(keras.callbacks.Callback):
    """The per-epoch history, rewritten whole after every epoch, and the time to go after the first.

    rows: the epochs completed before this fit (a resumed run's), extended in place.
    """

    SAY_UNDER = 10  # seconds: a shorter time to go is not worth a line

    def __init__(self, name, path, rows):
        super().__init__()
        self.name, self.path, self.rows = name, path, rows
        self.first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch
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
        if left and epoch == self.first_epoch:  # once, after the first epoch this fit trains
            steps = self.params.get("steps") or 1
            # The later epochs' pace: the steps after the first, scaled to all of them.
            later = (done - self.first_batch_done) * steps / (steps - 1) if steps > 1 else row["seconds"]
            if left * later >= self.SAY_UNDER:
                print(f"\n{self.name}: epoch {epoch + 1} took {row['seconds']:.0f} s; "
                      f"about {recipe.duration(left * later)} to go.")


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
