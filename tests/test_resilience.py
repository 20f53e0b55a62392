"""A stopped run resumes, a crash leaves whole files, a diverging run saves nothing, several devices train."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from convlab import callbacks, cluster, files, recipe, runs, snapshots
from convlab.data import Images, Splits
from helpers import REPO, SCRIPT_ENV, copy_project, run_script

QUICK = ["--limit", "3000", "--validation-size", "1000", "--models", "cnn"]


def start_training(epochs, out=None, script=REPO / "train.py", flags=()):
    """train.py in the background, as a user's terminal would run it; without `out`, into a new folder in runs/."""
    return subprocess.Popen([sys.executable, script, *QUICK, "--epochs", str(epochs), *flags,
                             *(["--out", out] if out else [])],
                            cwd=REPO, env=SCRIPT_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_epochs(out, count, process):
    deadline = time.monotonic() + 300
    while len(history(out)) < count and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def history(out, name="cnn"):
    try:
        return json.loads((out / f"{name}_history.json").read_text())
    except (OSError, ValueError):
        return []


def logged_epochs(folder):
    """The epochs TensorBoard shows in `folder`'s accuracy curve, as it reads them."""
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return sorted(event.step for event in events.Tensors("epoch_accuracy"))


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """A run of 6 epochs with --tensorboard in its own folder under runs/ of a copy of the project,
    SIGKILLed as soon as its history shows 2 completed epochs. Returns that folder."""
    runs_dir = copy_project(tmp_path_factory.mktemp("killed")) / "runs"
    process = start_training(epochs=6, script=runs_dir.parent / "train.py", flags=["--tensorboard"])
    while not list(runs_dir.glob("*/run_state.json")) and process.poll() is None:
        time.sleep(0.02)
    (out,) = [state.parent for state in runs_dir.glob("*/run_state.json")]
    wait_for_epochs(out, 2, process)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert 2 <= len(history(out)) < 6, "the run was not stopped mid-way"
    return out


def test_a_killed_run_never_becomes_the_latest(killed_run):
    assert not (killed_run.parent / "latest").exists() and (killed_run / "run_state.json").exists()


def test_ctrl_c_says_where_it_stopped_and_how_to_resume(tmp_path):
    process = start_training(epochs=20, out=tmp_path)
    wait_for_epochs(tmp_path, 1, process)
    # Then until epoch 1's backup is written: a Ctrl-C while Keras writes it can be lost (seen on a loaded machine).
    backup = tmp_path / "backup" / "cnn" / "epoch.json"
    while process.poll() is None and not backup.exists():
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130  # as the shell reports a command stopped by Ctrl-C
    assert "Stopped during cnn after" in stderr and "of 20 epochs." in stderr
    assert f"Resume with: python train.py --resume {tmp_path}\n" in stderr
    assert "Traceback" not in stderr


@pytest.mark.slow  # a second train.py finishing 4 epochs, about 20 s
def test_a_bare_resume_finishes_the_killed_run_with_its_flags_and_makes_it_the_latest(killed_run, tmp_path):
    """In a second copy of the project holding the killed run and a run that finished before it:
    `python train.py --resume` alone trains on with the stopped run's flags, --tensorboard included."""
    runs_dir = copy_project(tmp_path) / "runs"
    out = runs_dir / killed_run.name
    shutil.copytree(killed_run, out)
    (runs_dir / "2000-01-01_000000-dnn").mkdir()
    files.write_json(runs_dir / "2000-01-01_000000-dnn" / "results.json", {"models": {"dnn": {}}})
    (runs_dir / "latest").write_text("2000-01-01_000000-dnn\n")
    result = run_script(runs_dir.parent / "train.py", "--resume")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"\nRun folder: {out} (resuming)\n" in result.stdout
    assert "Resuming cnn after epoch" in result.stdout
    assert [row["epoch"] for row in history(out)] == [1, 2, 3, 4, 5, 6]
    # The snapshots of the epochs before the stop are kept, and the resumed ones added.
    kept = snapshots.load(out / "cnn_snapshots.npz")
    assert kept.epochs.tolist() == [0, 1, 2, 3, 4, 5, 6]
    before = snapshots.load(killed_run / "cnn_snapshots.npz")
    for epoch in range(len(history(killed_run))):
        for a, b in zip(before.at(epoch), kept.at(epoch)):
            np.testing.assert_array_equal(a, b)
    results = json.loads((out / "results.json").read_text())
    assert results["models"]["cnn"]["epochs"] == 6 and list(results["models"]) == ["cnn"]
    assert logged_epochs(out / "logs" / "cnn" / "train") == [0, 1, 2, 3, 4, 5]  # each epoch logged once
    assert not (out / "backup").exists() and not (out / "run_state.json").exists()
    assert (runs_dir / "latest").read_text() == f"{killed_run.name}\n"
    assert sorted(path.name for path in runs_dir.iterdir()) == ["2000-01-01_000000-dnn", killed_run.name, "latest"]


def test_resume_with_other_flags_is_refused(killed_run, tmp_path, train_here):
    out = tmp_path / "out"
    shutil.copytree(killed_run, out)
    code, _, _ = train_here(*QUICK, "--epochs", "6", "--batch-size", "64", "--out", out, "--resume")
    assert "cannot resume: the flags differ from the stopped run's: --batch-size was 128, now 64." in code


@pytest.mark.parametrize("damage", ["truncated", "deleted", "record deleted", "another model"])
def test_a_damaged_backup_is_refused_with_one_message_naming_it(killed_run, tmp_path, damage, train_here):
    """A full disk cuts the weights short, a user deletes a file, or the backup is another model's: the
    resume stops before training, never training on from random or half-loaded weights."""
    out = tmp_path / "out"
    shutil.copytree(killed_run, out)
    (weights,) = (out / "backup" / "cnn").glob("epoch-*.weights.h5")
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "deleted":
        weights.unlink()
    elif damage == "record deleted":
        (out / "backup" / "cnn" / "epoch.json").unlink()
    else:  # the dnn's weights, recorded as if they were the cnn's

        import model

        model.build_model("dnn").save_weights(weights)
        record = json.loads((out / "backup" / "cnn" / "epoch.json").read_text())
        size, digest = callbacks.checksum(weights)
        files.write_json(out / "backup" / "cnn" / "epoch.json", {**record, "bytes": size, "sha256": digest})
    code, stdout, _ = train_here(*QUICK, "--epochs", "6", "--out", out, "--resume")
    last = str(code).strip().splitlines()
    expected = {"truncated": f"error: the backup {weights} is missing, truncated or changed since it was written",
                "deleted": f"error: the backup {weights} is missing, truncated or changed since it was written",
                "record deleted": f"error: the backup {out / 'backup' / 'cnn' / 'epoch.json'} is missing or damaged",
                "another model": f"error: the backup {weights} does not fit cnn as built now"}[damage]
    assert last[-2].startswith(expected), code
    assert last[-1] == "Run again without --resume to train this model from the start."
    assert "Epoch" not in stdout  # nothing trained


def test_resume_without_a_stopped_run_is_refused(tmp_path, train_here):
    code, _, _ = train_here(*QUICK, "--out", tmp_path, "--resume")
    assert code.startswith(f"error: nothing to resume in {tmp_path}: no stopped run was found there.")


def test_diverging_run_stops_with_no_model(tmp_path):
    result = run_script("train.py", "--models", "dnn", "--limit", "2000", "--validation-size", "1000",
                        "--epochs", "3", "--learning-rate", "1e30", "--out", tmp_path)
    assert result.returncode == 1
    assert "error: training dnn diverged: the loss became nan at epoch 1" in result.stderr
    assert "No model was saved. Run again with a lower --learning-rate." in result.stderr
    assert not list(tmp_path.glob("*.keras")) and not (tmp_path / "results.json").exists()


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    files.write_json(path, {"run": "previous"})

    def crash(source, destination):  # the process dies between writing and renaming
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        files.write_json(path, {"run": "newer"})
    assert json.loads(path.read_text()) == {"run": "previous"}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left behind


@pytest.mark.slow  # about 25 s: run with `python -m pytest -m slow` (CI does)
def test_mirrored_strategy_on_two_cpu_devices(tmp_path):
    result = run_script("train.py", *QUICK, "--epochs", "3", "--strategy", "mirrored", "--cpu-devices", "2",
                        "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "MirroredStrategy over 2 replicas" in result.stdout
    assert "batch 256" in result.stdout  # 128 per replica
    cnn = json.loads((tmp_path / "results.json").read_text())["models"]["cnn"]
    assert cnn["test_accuracy"] > 0.70  # one device reaches about 0.76 on this subset


# --- one run folder, one process; a stop never breaks a backup ------------------------


@pytest.mark.slow  # two train.py processes, about 15 s
def test_a_second_train_py_on_a_run_in_training_is_refused_until_the_first_ends(tmp_path):
    first = start_training(epochs=20, out=tmp_path)
    while not (tmp_path / "run_state.json").exists() and first.poll() is None:
        time.sleep(0.02)
    second = run_script("train.py", "--resume", tmp_path)
    first.send_signal(signal.SIGKILL)  # a crash: the kernel releases the lock with the process
    first.communicate()
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path} is being trained by another train.py right now. Wait for it to finish "
        "(or stop it), or start a new run without --resume and --out.")
    os.close(runs.lock(runs.RunFolder(tmp_path)))  # free again


def train_quickly(folder, fashion_mnist, resume=False, epochs=3):
    """train.py's train_model on 1,024 images, in this process: each epoch is a few steps, each ending in a backup."""
    import tensorflow as tf

    (x, y), (x_test, y_test) = fashion_mnist
    settings = recipe.Settings("dnn", "dnn", epochs=epochs, learning_rate=1e-3, batch_size=128, seed=0)
    data = Splits(Images(x[:1024], y[:1024]), Images(x[:0], y[:0]), Images(x_test, y_test))
    return train.train_model(settings, data, cluster.Cluster(tf.distribute.get_strategy()), runs.RunFolder(folder),
                             callbacks.Logging(verbose=0), resume=resume)


def test_ctrl_c_while_the_backup_is_written_stops_after_it_and_the_run_resumes(tmp_path, fashion_mnist,
                                                                                monkeypatch):
    write = callbacks.Backup.on_epoch_end

    def interrupted_write(self, epoch, logs=None):  # Ctrl-C lands in the middle of epoch 1's backup
        os.kill(os.getpid(), signal.SIGINT)
        write(self, epoch, logs)

    monkeypatch.setattr(callbacks.Backup, "on_epoch_end", interrupted_write)
    with pytest.raises(recipe.Interrupted):
        train_quickly(tmp_path, fashion_mnist)
    monkeypatch.undo()
    assert [row["epoch"] for row in history(tmp_path, "dnn")] == [1]
    _, rows = train_quickly(tmp_path, fashion_mnist, resume=True)
    assert [row["epoch"] for row in rows] == [1, 2, 3]


@pytest.mark.slow  # about 60 s: run with `python -m pytest -m slow` (CI does)
def test_ctrl_c_at_many_points_always_leaves_a_run_that_resumes(tmp_path, fashion_mnist):
    """Ctrl-C at 12 moments spread over a training's length: inside batches, epoch ends and backups."""
    import threading

    started = time.perf_counter()
    train_quickly(tmp_path / "timed", fashion_mnist, epochs=8)
    seconds = time.perf_counter() - started
    # A Ctrl-C that lands after a trial's training has ended is dropped, not taken as the test's own.
    previous = signal.signal(signal.SIGINT, lambda number, frame: None)
    try:
        for trial in range(12):
            folder = tmp_path / str(trial)
            timer = threading.Timer(seconds * (0.05 + 0.08 * trial), os.kill, (os.getpid(), signal.SIGINT))
            timer.start()
            try:
                train_quickly(folder, fashion_mnist, epochs=8)
            except recipe.Interrupted:
                pass
            timer.cancel()
            timer.join()
            _, rows = train_quickly(folder, fashion_mnist, resume=True, epochs=8)
            assert [row["epoch"] for row in rows] == list(range(1, 9)), trial
    finally:
        signal.signal(signal.SIGINT, previous)
