"""train.py: impossible flags are refused, and a short real run writes everything it promises."""

import json

import keras
import pytest

import train
from convlab import report
from helpers import run_script


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "-1"], "argument --epochs: must be from 1 to 1,000, got -1"),
    (["--epochs", "0"], "argument --epochs: must be from 1 to 1,000, got 0"),
    (["--epochs", "100000000000"], "argument --epochs: must be from 1 to 1,000, got 100,000,000,000"),
    (["--epochs", "two"], "argument --epochs: expected a whole number, got 'two'"),
    (["--batch-size", "0"], "argument --batch-size: must be from 1 to 8,192, got 0"),
    (["--batch-size", "10000000"], "argument --batch-size: must be from 1 to 8,192, got 10,000,000"),
    (["--seed", "-1"], "argument --seed: must be from 0 to 4,294,967,295, got -1"),
    (["--seed", "100000000000"], "argument --seed: must be from 0 to 4,294,967,295, got 100,000,000,000"),
    (["--cpu-devices", "1000000"], "argument --cpu-devices: must be from 1 to 64, got 1,000,000"),
    (["--models", "resnet"], "--models: unknown model resnet; choose from dnn, cnn, cnn_plus"),
    (["--models", "cnn_pluss"], "--models: unknown model cnn_pluss (did you mean cnn_plus?)"),
    (["--models", "cnn", "cnn"], "--models lists a model twice"),
    (["--models", "cnn:32,32", "cnn:032,32"], "--models lists a model twice"),
    (["--models", "cnn:32,32,32,32"], "--models: cnn:32,32,32,32: the cnn takes 1 to 3 conv blocks"),
    (["--models", "cnn:99999"], "--models: cnn:99999: each conv block takes 1 to 1024 filters"),
    (["--limit", "60000"],
     "--limit 60000 is more than the 55000 training images left after holding out --validation-size 5000"),
    (["--validation-size", "60000"],
     "argument --validation-size: must be from 0 to 59,999 (of the 60000 training images)"),
    (["--validation-size", "-5"], "argument --validation-size: must be from 0 to 59,999"),
    (["--learning-rate", "-0.1"], "argument --learning-rate: must be a positive number, got -0.1"),
    (["--learning-rate", "nan"], "argument --learning-rate: must be a positive number, got nan"),
    (["--target-accuracy", "91"], "argument --target-accuracy: is a fraction in (0, 1], e.g. 0.91; got 91"),
    (["--target-accuracy", "0.9", "--validation-size", "0"], "--target-accuracy watches validation accuracy"),
    (["--precision", "int8"], "argument --precision: invalid choice: 'int8'"),
])
def test_impossible_flags_are_refused(flags, message, capsys):
    with pytest.raises(SystemExit) as exit:
        train.parse_args(flags)
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


def test_the_quick_paths_answer_without_loading_tensorflow(tmp_path):
    """--help, --list and a mistyped flag: no TensorFlow, so they answer at once (docs/train.md gives the time)."""
    probe = ("import sys, train\n"
             "for argv in (['--list'], ['--models', 'cnnplus'], ['--help']):\n"
             "    try:\n"
             "        train.main(argv)\n"
             "    except SystemExit:\n"
             "        pass\n"
             "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    result = run_script("-c", probe)
    assert result.stdout.splitlines()[-1] == "False False", result.stderr[-2000:]
    assert "did you mean cnn_plus?" in result.stderr


def test_defaults_compare_the_dnn_with_the_course_cnn():
    args = train.parse_args([])
    assert args.models == ["dnn", "cnn"] and args.validation_size == 5000 and args.epochs is None


def test_missing_data_gives_one_message_and_no_traceback(tmp_path):
    result = run_script("train.py", "--data-dir", tmp_path / "none", "--out", tmp_path / "out", "--epochs", "1")
    assert result.returncode == 1
    assert f"error: data folder not found: {tmp_path / 'none'}" in result.stderr
    assert "Traceback" not in result.stderr and "Run folder" not in result.stdout  # no folder named, none made
    assert not (tmp_path / "out").exists()  # nothing written, not even the folder


def test_short_run_writes_every_artifact(short_run):
    out, result = short_run
    lines = result.stdout.splitlines()
    # --out DIR: exactly there, once the data is loaded; runs/latest (in runs/ only) does not name it
    assert lines[lines.index(f"Run folder: {out}") - 1].startswith("Data: 3000 training")
    assert lines[-1] == f"Wrote models, histories, results.json and figures to {out}"
    results = json.loads((out / "results.json").read_text())
    assert list(results["models"]) == ["dnn", "cnn"]
    assert results["seed"] == 42 and results["settings"]["limit"] == 3000
    assert {"tensorflow", "keras", "numpy", "python"} <= set(results["versions"])
    for name, result in results["models"].items():
        history = json.loads((out / f"{name}_history.json").read_text())
        assert [row["epoch"] for row in history] == [1, 2, 3] == list(range(1, result["epochs"] + 1))
        assert {"accuracy", "loss", "val_accuracy", "val_loss", "seconds"} <= set(history[0])
        assert sum(sum(row) for row in result["confusion_matrix"]) == 10000
    for figure in ["training_curves.png", "per_class_accuracy.png", "dnn_confusion.png", "cnn_confusion.png"]:
        image = __import__("matplotlib.image").image.imread(out / figure)
        assert image.shape[0] > 300 and image.std() > 0.05  # drawn, not blank
    assert not list(out.glob(".*partial*"))  # no temporary files left behind
    assert not (out / "run_state.json").exists()


def test_saved_cnn_reproduces_the_reported_test_accuracy(short_run, fashion_mnist):
    out, _ = short_run
    reported = json.loads((out / "results.json").read_text())["models"]["cnn"]["test_accuracy"]
    model = keras.models.load_model(out / "cnn.keras")
    _, (x_test, y_test) = fashion_mnist
    _, accuracy = model.evaluate(x_test[..., None], y_test, verbose=0)
    assert round(accuracy, 4) == round(reported, 4)
    assert reported > 0.70  # 10 classes: chance is 0.10


def test_comparison_table_and_verdict_are_printed(short_run):
    out, result = short_run
    stdout = result.stdout
    results = json.loads((out / "results.json").read_text())["models"]
    gain = 100 * (results["cnn"]["test_accuracy"] - results["dnn"]["test_accuracy"])
    assert ("model           conv stack    params  epochs  train time  s/epoch  val acc  test acc  test loss"
            in stdout)
    assert "cnn                 64, 64   243,786       3" in stdout
    assert ("A quick run (dnn, cnn: fewer images or epochs than the recipe): these numbers are not the lesson's."
            in stdout)
    assert f"CNN vs DNN: {gain:+.1f} points test accuracy" in stdout


def test_comparison_verdict_counts_errors():
    table = report.comparison_table({
        "dnn": {"parameters": 1, "epochs": 1, "train_seconds": 1, "val_accuracy": 0.88, "test_accuracy": 0.88,
                "test_loss": 0.3},
        "cnn": {"parameters": 2, "epochs": 1, "train_seconds": 2, "val_accuracy": None, "test_accuracy": 0.91,
                "test_loss": 0.2},
    })  # full runs: no quick-run line
    assert table.splitlines()[-1] == "CNN vs DNN: +3.0 points test accuracy, 25% fewer test errors"


def test_target_accuracy_stops_after_the_epoch_that_reaches_it(capsys):
    import numpy as np

    from convlab.callbacks import StopAtAccuracy

    x, y = np.zeros((32, 2), np.float32), np.zeros(32, np.int64)  # one class: accuracy 100% at once
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, validation_data=(x, y), epochs=5, verbose=0, callbacks=[StopAtAccuracy(0.5)])
    assert len(history.history["loss"]) == 1
    assert capsys.readouterr().out == "Reached 100.0% validation accuracy (target 50.0%), so cancelling training!\n"


def test_a_one_epoch_run_draws_its_curves_at_epoch_1_only():
    from convlab import figures

    row = {"epoch": 1, "accuracy": 0.5, "loss": 1.0, "val_accuracy": 0.6, "val_loss": 0.9}
    figure = figures.training_curves({"dnn": [row], "cnn": [row]})
    assert [list(axis.get_xticks()) for axis in figure.axes] == [[1], [1]]


def test_the_per_class_figure_draws_each_models_accuracy_per_class_side_by_side():
    from convlab import figures
    from convlab.data import CLASS_NAMES

    results = {name: {"per_class_accuracy": {c: round(0.5 + offset + i / 100, 4) for i, c in enumerate(CLASS_NAMES)}}
               for name, offset in (("dnn", 0.0), ("cnn", 0.2))}
    axis = figures.per_class_accuracy(results).axes[0]
    dnn_bars, cnn_bars = axis.containers
    assert [bar.get_height() for bar in dnn_bars] == list(results["dnn"]["per_class_accuracy"].values())
    assert [bar.get_height() for bar in cnn_bars] == list(results["cnn"]["per_class_accuracy"].values())
    assert all(d.get_x() < c.get_x() for d, c in zip(dnn_bars, cnn_bars))  # dnn left of cnn in each class
    assert [label.get_text() for label in axis.get_xticklabels()] == CLASS_NAMES
    assert [text.get_text() for text in axis.get_legend().get_texts()] == ["dnn", "cnn"]
    assert axis.get_ylim() == (0.0, 1.0)  # bars from zero: the gaps as large as they are


def test_the_table_reads_each_models_conv_stack_from_its_layers_and_keeps_columns_apart():
    from model import build_model, with_mirror

    assert report.conv_stack(build_model("dnn")) == "-"
    assert report.conv_stack(build_model("cnn", (8, 16, 16))) == "8, 16, 16"
    stack = report.conv_stack(with_mirror(build_model("cnn_plus")))  # the network inside the mirror
    assert stack == "24, 48, 48, 96"
    row = {"conv_stack": stack, "parameters": 297_666, "epochs": 35, "train_seconds": 700, "val_accuracy": 0.94,
           "test_accuracy": 0.94, "test_loss": 0.17}
    header, line = report.comparison_table({"cnn_plus": row}).splitlines()[:2]
    assert header.split()[-2:] == ["test", "loss"]  # one model: no gain column
    assert line.split()[:6] == ["cnn_plus", "24,", "48,", "48,", "96", "297,666"]
    header = report.comparison_table({"cnn_plus": row, "cnn:64,64,64": row}).splitlines()[0]
    assert header.endswith("test loss  vs cnn_plus")
