"""Every run of train.py gets a folder of its own; runs/latest names the newest complete one,
whose models visualize.py, predict.py and export.py use by default.

The runs are made in a copy of the project's scripts, as in a fresh clone, so that its
runs/ folder is the copy's and never the checkout's. test_resilience.py kills a run
there and resumes it with a bare --resume.
"""

import datetime
import hashlib
import json
import os
import re
import time
from pathlib import Path

import pytest

import export
import predict
import train
import visualize
from convlab import files, runs
from helpers import DATA_DIR, copy_project, run_script

TINY = ["--limit", "500", "--validation-size", "100"]
FIRST, SECOND = ["--models", "dnn", "--epochs", "1"], ["--models", "cnn", "--epochs", "1"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The project's scripts in a folder of their own, with no runs/ yet."""
    return copy_project(tmp_path_factory.mktemp("project"))


def checksums(folder):
    """{path inside folder: sha256} of every file in it."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def run_folders(runs):
    return sorted(path.name for path in runs.iterdir() if path.is_dir())


@pytest.fixture(scope="module")
def two_runs(project):
    """Two complete runs in a row, both with --tensorboard; the first run's files are summed
    before the second starts. Returns (runs/, first folder, its checksums, each run's stdout)."""
    runs, outputs = project / "runs", []
    for flags in (FIRST, SECOND):
        result = run_script(project / "train.py", *TINY, *flags, "--tensorboard")
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(result.stdout)
        if flags is FIRST:
            first = runs / run_folders(runs)[0]
            before = checksums(first)
    return runs, first, before, outputs


def test_two_runs_leave_two_complete_folders_and_latest_names_the_second(two_runs):
    runs, first, before, outputs = two_runs
    names = run_folders(runs)
    assert len(names) == 2 and names[0] == first.name
    assert names[0].endswith("-dnn") and names[1].endswith("-cnn")
    datetime.datetime.strptime(names[1][:17], "%Y-%m-%d_%H%M%S")  # the run's start: ls sorts by time
    assert (runs / "latest").read_text() == names[1] + "\n"
    for name, output in zip(names, outputs):
        assert f"\nRun folder: {runs / name}\n" in output
        assert output.splitlines()[-1] == (f"Wrote models, histories, results.json and figures to {runs / name}; "
                                           f"{runs / 'latest'} names it, for visualize.py, predict.py and export.py")
        results = json.loads((runs / name / "results.json").read_text())
        assert list(results["models"]) == (["dnn"] if name == first.name else ["cnn"])
        assert not (runs / name / "run_state.json").exists()
    assert checksums(first) == before  # the second run left the first one's files alone


def test_tensorboard_on_runs_shows_each_run_once(two_runs):
    from tensorboard.backend.event_processing import io_wrapper

    runs, *_ = two_runs
    found = sorted(str(Path(folder).relative_to(runs)) for folder in io_wrapper.GetLogdirSubdirectories(str(runs)))
    first, second = run_folders(runs)
    assert found == [f"{first}/logs/dnn/train", f"{first}/logs/dnn/validation", f"{second}/logs/cnn/feature_maps",
                     f"{second}/logs/cnn/train", f"{second}/logs/cnn/validation"]


# --- the other scripts use the latest run ------------------------------------------


@pytest.fixture
def in_project(two_runs, monkeypatch):
    """This process's scripts, looking at the copy's runs/."""
    runs_dir, *_ = two_runs
    monkeypatch.setattr(runs, "RUNS_DIR", runs_dir)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(DATA_DIR))
    return runs_dir / (runs_dir / "latest").read_text().strip()


def test_predict_and_visualize_use_the_latest_runs_cnn_and_draw_beside_it(in_project, capsys):
    latest = in_project
    predict.main(["--test-index", "0"])
    visualize.main(["filters"])
    err = capsys.readouterr().err
    accuracy = json.loads((latest / "results.json").read_text())["models"]["cnn"]["test_accuracy"]
    used = (f"Using {latest / 'cnn.keras'}, from the latest run (test accuracy {accuracy:.1%}, 1 epoch on 500 images)\n"
            "A quick run: fewer images or epochs than the model's recipe, so its answers are rougher than a full "
            "run's. `python train.py` trains the full model.\n")
    assert err.count(used) == 2
    assert (latest / "predictions.png").is_file() and (latest / "filters.png").is_file()


def test_export_takes_the_latest_runs_models(in_project, capsys):
    latest = in_project
    assert export.saved_models() == sorted(latest.glob("*.keras"))
    assert capsys.readouterr().out == f"Exporting the models of the latest run, {latest}\n"


@pytest.mark.parametrize("script", [predict, visualize, export])
def test_before_any_run_each_script_says_to_train_first(script, tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path / "runs")
    with pytest.raises(SystemExit) as exit:
        script.main(["--test-index", "0"] if script is predict else [])
    assert exit.value.code.startswith(f"error: no trained model yet: no run in {tmp_path / 'runs'} has finished.\n"
                                      "Run `python train.py` first, or pass ")
    assert not (tmp_path / "runs").exists()


def test_a_latest_run_that_was_deleted_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path)
    runs.mark_latest(tmp_path / "2026-01-02_030405-cnn")
    with pytest.raises(SystemExit) as exit:
        predict.main(["--test-index", "0"])
    assert exit.value.code.startswith(f"error: {tmp_path / 'latest'} names 2026-01-02_030405-cnn, "
                                      f"which is no longer in {tmp_path}.\n")


# --- naming and finding runs ---------------------------------------------------------


def test_run_folders_are_named_by_start_and_models_and_never_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path / "runs")
    start = datetime.datetime(2026, 11, 25, 20, 34, 5)
    first = runs.claim_new_run(["dnn", "cnn"], now=start)
    assert first == tmp_path / "runs" / "2026-11-25_203405-dnn-cnn" and first.is_dir()
    assert runs.claim_new_run(["dnn", "cnn"], now=start) == tmp_path / "runs" / "2026-11-25_203405-dnn-cnn-2"
    assert runs.claim_new_run(["dnn", "cnn:32,32"], now=start).name == "2026-11-25_203405-dnn-cnn-32-32"


def test_runs_started_in_the_same_instant_claim_a_folder_each(tmp_path, monkeypatch):
    """Eight processes claim a folder for the same models at the same second: each gets its own."""
    import multiprocessing

    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path)
    with multiprocessing.get_context("fork").Pool(8) as pool:
        claimed = pool.starmap(runs.claim_new_run, [(["dnn", "cnn"], datetime.datetime(2026, 1, 2, 3, 4, 5))] * 8)
    assert len(set(claimed)) == 8 and all(path.is_dir() for path in claimed)


def test_a_new_run_never_writes_into_a_finished_one(tmp_path):
    finished = tmp_path / "finished"
    files.write_json(runs.RunFolder(finished).results, {"models": {"dnn": {}}})
    with pytest.raises(runs.RunError, match="holds a finished run"):
        runs.claim_folder(finished, resume=False)


def test_a_bare_resume_takes_the_most_recently_stopped_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path)
    for minutes_ago, name in [(3, "old"), (1, "new"), (2, "middle")]:
        state = runs.RunFolder(tmp_path / name).state
        files.write_json(state, {"flags": {}, "finished": {}})
        os.utime(state, (time.time() - 60 * minutes_ago,) * 2)
    (tmp_path / "finished").mkdir()
    assert runs.stopped_runs() == [tmp_path / "new", tmp_path / "middle", tmp_path / "old"]
    assert train.parse_args(["--resume"]).out == tmp_path / "new"
    assert train.parse_args(["--resume", str(tmp_path / "old")]).out == tmp_path / "old"


def test_a_bare_resume_with_nothing_stopped_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path)
    (tmp_path / "finished").mkdir()
    with pytest.raises(SystemExit) as exit:
        train.parse_args(["--resume"])
    assert exit.value.code == 2
    assert f"--resume: there is no stopped run in {tmp_path} to continue." in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--strategy", "multiworker"], "--strategy multiworker needs --out DIR, the same on every worker"),
    (["--resume", "runs/a", "--out", "runs/b"], "--resume RUN and --out DIR name two folders"),
])
def test_flags_that_leave_the_run_folder_unclear_are_refused(flags, message, capsys):
    with pytest.raises(SystemExit) as exit:
        train.parse_args(flags)
    assert exit.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow  # two real runs
def test_the_time_estimate_comes_from_a_run_of_the_same_size_on_this_machine(tmp_path, monkeypatch, train_here):
    """Before a model's first epoch, train.py says how long it will take only from a finished run of the same
    model and size here; the estimate is within a factor of 3 of the time it then takes (the same machine
    can take 1x or 2x the time for the same work: docs/speed.md)."""
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path / "runs")
    _, first, _ = train_here(*TINY, *SECOND)
    _, second, _ = train_here(*TINY, *SECOND)
    assert "Time:" not in first  # nothing measured yet
    estimate = re.search(r"^Time: about (\d+) s, at the speed of the last such run in runs/", second, re.M)
    assert estimate, second
    newest = runs.latest_run()
    took = json.loads((newest / "results.json").read_text())["models"]["cnn"]["train_seconds"]
    assert took / 3 <= int(estimate.group(1)) <= took * 3 + 1, (estimate.group(0), took)


def test_no_estimate_comes_from_another_size_batch_or_precision(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path)
    files.write_json(tmp_path / "run" / "results.json", {
        "settings": {"batch_size": 128}, "precision": "float32",
        "models": {"cnn": {"train_images": 500, "validation_images": 100, "epochs": 2, "train_seconds": 8.0}}})
    assert runs.seconds_per_epoch("cnn", 500, 128, "float32", 100) == 4.0
    for other in [("cnn", 400, 128, "float32", 100), ("cnn", 500, 64, "float32", 100),
                  ("cnn", 500, 128, "mixed_bfloat16", 100), ("cnn", 500, 128, "float32", 0),
                  ("dnn", 500, 128, "float32", 100)]:
        assert runs.seconds_per_epoch(*other) is None, other
