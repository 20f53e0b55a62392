"""Nothing lost under hostile use: stops at any moment, damaged run files, a full disk, odd --out folders,
parallel scripts. Each ends in a working run or in one message and a non-zero exit, never a traceback,
a half-written file, silent retraining, or a finished run touched.

docs/train.md#what-survives-what tables the cases.
"""

import contextlib
import json
import multiprocessing
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import export
import predict
import train
from convlab import files, report, runs
from helpers import DATA_DIR, REPO, SCRIPT_ENV, copy_project, run_script

TINY = ["--models", "dnn", "--limit", "500", "--validation-size", "100", "--epochs", "2"]


def weights(path):
    return keras.models.load_model(path, compile=False).get_weights()


@pytest.fixture(autouse=True)
def as_before():
    """train.main() in this process sets a global precision and a SIGTERM handler: put them back."""
    import signal

    handler = signal.getsignal(signal.SIGTERM)
    yield
    keras.mixed_precision.set_global_policy("float32")
    signal.signal(signal.SIGTERM, handler)


# --- stops: any moment, true advice -----------------------------------------------------------------


def test_a_stop_during_the_data_load_names_no_folder_and_no_resume(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("convlab.data.load_splits", interrupted)
    with pytest.raises(SystemExit) as exit:
        train.main([*TINY, "--out", str(tmp_path / "out")])
    assert exit.value.code == 130
    assert capsys.readouterr().err == ("\nStopped, before anything was kept: run the same command again to "
                                       "start over.\n")
    assert not (tmp_path / "out").exists()


def test_a_stop_during_the_evaluation_resumes_from_the_last_epoch_not_from_scratch(tmp_path, monkeypatch, capsys):
    """Keras would delete its backup when fit() ends; this run keeps it until the model is saved."""
    evaluate = report.evaluate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "evaluate", interrupted)
    with pytest.raises(SystemExit) as exit:
        train.main([*TINY, "--data-dir", str(DATA_DIR), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit.value.code == 130, exit.value.code
    assert f"Completed epochs are backed up in {tmp_path / 'backup'}." in err
    assert f"Resume with: python train.py --resume {tmp_path}" in err
    monkeypatch.setattr(report, "evaluate", evaluate)
    train.main(["--resume", str(tmp_path)])
    out = capsys.readouterr().out
    assert "Resuming dnn after epoch 2 of 2." in out and "Epoch 1/2" not in out  # no epoch trained again
    assert json.loads((tmp_path / "results.json").read_text())["models"]["dnn"]["epochs"] == 2
    assert not (tmp_path / "backup").exists()  # removed once the model was saved


@pytest.mark.slow  # about 60 s: two real runs and a stopped one
def test_a_resumed_run_ends_with_the_very_weights_of_an_uninterrupted_one(tmp_path):
    """Stopped during the cnn, after the dnn had finished: the resumed process builds no dnn, yet the cnn
    starts from the same weights and sees the same batches in every epoch, so both end identical."""
    flags = ["--models", "dnn", "cnn", "--limit", "2000", "--validation-size", "500", "--epochs", "3"]
    assert run_script("train.py", *flags, "--out", tmp_path / "whole").returncode == 0
    stopped = tmp_path / "stopped"
    process = subprocess.Popen([sys.executable, "train.py", *flags, "--out", stopped], cwd=REPO, env=SCRIPT_ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while process.poll() is None and not (stopped / "backup" / "cnn" / "epoch.json").exists():
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)  # Ctrl-C after the cnn's first epoch
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Stopped during cnn after 1 of 3 epochs." in err, err
    resumed = run_script("train.py", "--resume", stopped)
    assert resumed.returncode == 0 and "Resuming cnn after epoch 1 of 3." in resumed.stdout, resumed.stderr
    whole, again = (json.loads((folder / "results.json").read_text())["models"] for folder in (tmp_path / "whole",
                                                                                               stopped))
    for name in ("dnn", "cnn"):
        for a, b in zip(weights(tmp_path / "whole" / f"{name}.keras"), weights(stopped / f"{name}.keras")):
            np.testing.assert_array_equal(a, b)
        assert whole[name]["test_accuracy"] == again[name]["test_accuracy"]


# --- damaged run files: one message naming the file ------------------------------------------------


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A dnn + cnn run stopped during the cnn (its evaluation interrupted), in runs/ of a project copy."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    folder = project / "runs" / "2026-01-01_000000-dnn-cnn"
    folder.mkdir(parents=True)
    result = run_script(project / "train.py", "--models", "dnn", "cnn", "--limit", "500", "--validation-size",
                        "100", "--epochs", "1", "--out", folder)
    assert result.returncode == 0, result.stderr[-2000:]
    files.write_json(folder / "run_state.json", {"flags": json.loads((folder / "results.json").read_text())
                                                 ["settings"], "finished": {}})
    return project, folder


@pytest.mark.parametrize("damage, message", [
    ("truncated", "run_state.json cannot be read: it is not whole JSON (cut short or edited): the stopped run's "
                  "record is damaged. Run again without --resume to start over."),
    ("empty", "run_state.json cannot be read: it is not whole JSON (cut short or edited)"),
    ("flags-less", "run_state.json is damaged: it does not hold the stopped run's flags."),
])
def test_a_damaged_run_state_is_one_message_in_resume_and_a_damaged_row_in_list(stopped_run, tmp_path, damage,
                                                                                 message):
    project, folder = stopped_run
    copy = copy_project(tmp_path / "project") / "runs" / folder.name
    shutil.copytree(folder, copy)
    state = copy / "run_state.json"
    state.write_text({"truncated": state.read_text()[:40], "empty": "", "flags-less": '{"finished": {}}'}[damage])
    resumed = run_script(copy.parents[1] / "train.py", "--resume", copy)
    assert resumed.returncode == 1 and "Traceback" not in resumed.stderr
    assert resumed.stderr.startswith(f"error: {copy}/{message}"), resumed.stderr
    listed = run_script(copy.parents[1] / "train.py", "--list")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert f"{copy.name}  damaged" in listed.stdout


def test_a_truncated_results_json_is_one_message_in_list_predict_and_export(stopped_run, tmp_path, monkeypatch,
                                                                             capsys):
    _, folder = stopped_run
    copy = tmp_path / "runs" / folder.name
    shutil.copytree(folder, copy)
    (copy / "run_state.json").unlink()
    (copy / "results.json").write_text((copy / "results.json").read_text()[:100])
    (tmp_path / "runs" / "latest").write_text(f"{copy.name}\n")
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path / "runs")
    assert f"{copy.name}  damaged" in runs.table()
    message = f"error: {copy / 'results.json'} cannot be read: it is not whole JSON (cut short or edited)"
    for script, argv in ((predict, ["--test-index", "0"]), (export, [])):
        with pytest.raises(SystemExit) as exit:
            script.main(argv)
        assert str(exit.value.code).startswith(message), exit.value.code


def test_a_missing_history_or_model_of_a_finished_model_stops_the_resume(stopped_run, tmp_path):
    _, folder = stopped_run
    for missing, message in (("dnn_history.json", "dnn_history.json is missing: the stopped run is damaged."),
                             ("dnn.keras", "dnn.keras is gone, although the stopped run had finished dnn.")):
        copy = tmp_path / missing / folder.name
        shutil.copytree(folder, copy)
        state = json.loads((copy / "run_state.json").read_text())
        files.write_json(copy / "run_state.json", {**state, "finished": {"dnn": json.loads(
            (copy / "results.json").read_text())["models"]["dnn"]}})
        (copy / "results.json").unlink()
        (copy / missing).unlink()
        with pytest.raises(SystemExit) as exit:
            train.main(["--resume", str(copy)])
        assert message in str(exit.value.code) and not (copy / "results.json").exists()


def test_a_diverged_run_is_listed_so_and_a_bare_resume_passes_it_by(tmp_path):
    project = copy_project(tmp_path / "project")
    result = run_script(project / "train.py", *TINY, "--learning-rate", "1e30")
    assert result.returncode == 1 and "diverged" in result.stderr
    assert "diverged" in run_script(project / "train.py", "--list").stdout
    again = run_script(project / "train.py", "--resume")
    assert again.returncode == 2 and "there is no stopped run" in again.stderr
    (folder,) = (project / "runs").iterdir()
    state = runs.ResumeState.load(runs.RunFolder(folder))
    with pytest.raises(runs.RunError, match="diverged while training dnn: resuming it would diverge again"):
        state.check_unchanged(state.flags, train.RESUME_SETTINGS)  # what a named --resume does


# --- where a run writes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_an_out_that_cannot_be_written_is_refused_before_the_data_loads(tmp_path, where):
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" if where == "a file" else tmp_path / "file" / "run"
    result = run_script("train.py", *TINY, "--out", out)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"error: cannot write into --out {out}: {tmp_path / 'file'} is a "
                                                  "file, not a folder.", files.PASS_AN_OUT]


@contextlib.contextmanager
def small_disk(folder, size, read_only=False):
    """A tmpfs of `size` at `folder`, where this machine lets a test mount one (root in a sandbox); else skip."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip("needs a small file system: mount -t tmpfs is not permitted here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_read_only_out_is_refused_before_the_data_loads(tmp_path):
    with small_disk(tmp_path / "ro", "1m", read_only=True) as out:
        result = run_script("train.py", *TINY, "--out", out / "run")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: cannot write into --out {out / 'run'}: {out} is not writable.")


@pytest.mark.slow  # a real run onto a 1 MB file system
def test_a_full_disk_gives_one_message_and_leaves_nothing_half_written(tmp_path):
    """1 MB fills during the first epochs' backups and snapshots (the dnn's weights with Adam's are 1.2 MB)."""
    with small_disk(tmp_path / "disk", "1m") as disk:
        result = run_script("train.py", *TINY, "--out", disk / "run")
        left = sorted(path.name for path in (disk / "run").rglob("*"))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "Segmentation" not in result.stderr
    (message,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "No space left on device" in message, result.stderr[-2000:]
    assert not [name for name in left if "partial" in name], left


# --- several processes at once ---------------------------------------------------------------------------


def _write_many(path, tag):
    for index in range(200):
        files.write_json(path, {"writer": tag, "index": index, "padding": "x" * 10_000})


def test_scripts_writing_one_file_at_once_never_collide(tmp_path):
    """Eight processes rewrite one file 200 times each (predict.py runs sharing an --out): none fails, and
    the file is always one writer's whole JSON."""
    with multiprocessing.get_context("fork").Pool(8) as pool:
        pool.starmap(_write_many, [(tmp_path / "same.json", tag) for tag in range(8)])
    assert json.loads((tmp_path / "same.json").read_text())["index"] == 199
    assert [path.name for path in tmp_path.iterdir()] == ["same.json"]


# --- model files that are not what they seem ----------------------------------------------------------------


def test_an_unbuilt_model_file_is_one_message_in_predict_and_export(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that the model it saves is unbuilt: that is the point
        keras.Sequential([keras.layers.Dense(10)]).save(tmp_path / "unbuilt.keras")
    for script, argv in ((predict, ["--test-index", "0", "--model"]), (export, [])):
        with pytest.raises(SystemExit) as exit:
            script.main([*argv, str(tmp_path / "unbuilt.keras")])
        assert str(exit.value.code).startswith(f"error: {tmp_path / 'unbuilt.keras'} holds a model that was never "
                                               "built"), exit.value.code


def test_a_stop_after_the_run_finished_leaves_it_finished_with_exit_0(tmp_path, monkeypatch, capsys):
    """SIGTERM just after "Wrote models...": the run is complete, so the process ends as a finished run."""
    mark_latest = runs.mark_latest

    def then_stopped(path):
        mark_latest(path)
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "mark_latest", then_stopped)
    train.main([*TINY, "--data-dir", str(DATA_DIR), "--out", str(tmp_path)])  # no SystemExit: exit 0
    assert "Stopped" not in capsys.readouterr().err
    assert (tmp_path / "results.json").exists() and not (tmp_path / "run_state.json").exists()
