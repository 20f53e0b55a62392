"""benchmarks/speed.py and whole_run.py: their short modes run end to end and record the CPU next to every time."""

import json

import pytest

from helpers import run_script

pytestmark = pytest.mark.slow  # each runs TensorFlow for 20 to 40 s


def test_smoke_records_cpu_time_for_every_window_and_epoch(tmp_path):
    result = run_script("-m", "benchmarks.speed", "--smoke", "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(next(tmp_path.glob("speed-*.json")).read_text())
    results, cores = report["results"], report["machine"]["cores"]
    for recipe in ("course", "project"):
        windows = results["cnn_throughput"][recipe]["windows"]
        assert len(windows) == 2
        for record in windows + results["cnn_race"][recipe]["epochs"]:
            assert 0 < record["cpu_seconds"] and 0 < record["busy_cores"] <= cores + 0.05
            assert any(thread["name"].endswith("(main)") for thread in record["threads"])
        cpu_ms = results["cnn_throughput"][recipe]["cpu_ms_per_image_median"]
        assert f"{cpu_ms:.3f}" in result.stdout  # the table shows CPU time per image beside images/s
    assert "CNN CPU time to 90.0% test acc." in result.stdout


def test_whole_run_smoke_times_both_sides_in_turn(tmp_path):
    result = run_script("-m", "benchmarks.whole_run", "--smoke", "--repeats", "1", "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(next(tmp_path.glob("whole-run-*.json")).read_text())["results"]
    assert report["commands"]["project"].endswith("train.py --limit 2000 --epochs 1")
    assert [run["recipe"] for run in report["runs"]] == ["project", "course"]  # train.py first: it checks its flags
    for run in report["runs"]:
        assert run["cpu_seconds"] > 1  # a whole process: TensorFlow's start-up alone takes seconds
        assert 0 < run["utilisation"] <= 1.02 and 0 <= run["idle_share"] <= 1
        for name in ("dnn", "cnn"):
            accuracy = run["models"][name]["test_accuracy"]
            assert accuracy > 0.5  # 2,000 images, one epoch; chance is 0.10
            assert f"{accuracy:.2%}" in result.stdout
    assert "median of the runs" in result.stdout and "CPU seconds" in result.stdout


def test_whole_run_stops_at_once_on_flags_train_py_refuses(tmp_path):
    result = run_script("-m", "benchmarks.whole_run", "--smoke", "--repeats", "1", "--out", tmp_path,
                        "--train-flags=--epochs 0")
    assert result.returncode == 1
    assert "error: the project run failed (exit code 2)" in result.stderr
    assert "argument --epochs: must be from 1 to 1,000, got 0" in result.stderr and not list(tmp_path.iterdir())
