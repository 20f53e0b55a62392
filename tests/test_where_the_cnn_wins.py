"""Where the CNN wins: the test images it fixes, the shifts it survives, and the course's exercises in one run."""

import json

import keras
import numpy as np
import pytest

from convlab import comparison, report
from convlab.data import Images
from helpers import DATA_DIR, run_script
from model import build_model


def test_the_fixes_are_counted_from_the_saved_models_own_predictions(short_run, fashion_mnist):
    out, result = short_run
    _, test = fashion_mnist
    right = {name: keras.models.load_model(out / f"{name}.keras").predict(test.images[..., None], verbose=0)
             .argmax(axis=1) == test.labels for name in ("dnn", "cnn")}
    fixed, broken = int(np.sum(right["cnn"] & ~right["dnn"])), int(np.sum(right["dnn"] & ~right["cnn"]))
    models = json.loads((out / "results.json").read_text())["models"]
    assert models["cnn"]["vs_dnn"] == {"fixed": fixed, "new_errors": broken}
    assert fixed - broken == round(10000 * (models["cnn"]["test_accuracy"] - models["dnn"]["test_accuracy"]))
    assert f"The cnn fixes {fixed:,} of the dnn's test errors and makes {broken:,} new ones." in result.stdout
    image = __import__("matplotlib.image").image.imread(out / "cnn_fixes.png")
    assert image.shape[0] > 400 and image.std() > 0.05


def test_the_examples_drawn_are_the_clearest_and_never_vary():
    labels = np.array([0, 0, 1, 1])
    winner = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.45, 0.55]])
    loser = np.array([[0.4, 0.6], [0.4, 0.6], [0.6, 0.4], [0.6, 0.4]])
    assert comparison.clearest(np.array([0, 1, 2, 3]), winner, loser, labels, count=3).tolist() == [0, 2, 1]


@pytest.mark.parametrize("direction, expected", [("up", (0, 2)), ("down", (4, 2)), ("left", (2, 0)),
                                                  ("right", (2, 4))])
def test_a_shift_moves_each_pixel_and_fills_the_border_with_black(direction, expected):
    images = np.zeros((1, 5, 5), np.uint8)
    images[0, 2, 2] = 200
    moved = comparison.shifted(images, 2, direction)
    assert moved[0][expected] == 200 and moved.sum() == 200
    np.testing.assert_array_equal(comparison.shifted(images, 0, direction), images)
    assert comparison.shifted(images, 5, direction).sum() == 0  # moved right out of the frame


def test_zero_pixels_of_shift_is_exactly_the_plain_test_accuracy(short_run, fashion_mnist):
    out, _ = short_run  # trained and evaluated in float32
    _, test = fashion_mnist
    model = keras.models.load_model(out / "cnn.keras")
    def predict(images):
        return report.predict(model, Images(images, test.labels[:len(images)]), 500)

    found = comparison.accuracy_under_shifts(predict, test.images, test.labels, shifts=[0])
    assert found[0] == json.loads((out / "results.json").read_text())["models"]["cnn"]["test_accuracy"]
    moved = comparison.accuracy_under_shifts(predict, test.images[:1000], test.labels[:1000], shifts=[0, 3])
    assert moved[3] < moved[0] - 0.05  # three pixels cost every model of this project accuracy


def test_visualize_shifts_measures_every_model_of_the_run(short_run, fashion_mnist):
    out, _ = short_run
    result = run_script("visualize.py", "shifts", "--model", out / "cnn.keras", "--limit", "500")
    assert result.returncode == 0, result.stderr[-2000:]
    _, test = fashion_mnist
    for name in ("dnn", "cnn"):  # 0 px: the model's accuracy on those 500 images
        model = keras.models.load_model(out / f"{name}.keras")
        first = Images(*(part[:500] for part in test))
        plain = np.mean(report.predict(model, first, 128).argmax(1) == first.labels)
        assert f"{name}: test accuracy with every image moved by 0 px {plain:.1%}, 1 px " in result.stdout
    assert (out / "shifted_accuracy.png").is_file()
    using, quick = result.stderr.splitlines()  # nothing else: no TensorFlow notice, no warning
    assert using.startswith("Using ") and quick.startswith("A quick run:")


@pytest.fixture(scope="module")
def exercises(tmp_path_factory):
    """The course's exercises as one (tiny) run: the dnn beside the cnn with other conv stacks."""
    out = tmp_path_factory.mktemp("exercises")
    result = run_script("train.py", "--models", "dnn", "cnn:8", "cnn:8,16,16", "--limit", "500",
                        "--validation-size", "100", "--epochs", "1", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    return out, result.stdout


@pytest.mark.slow  # about 20 s with its run of three models
def test_the_exercises_table_gives_each_variants_stack_size_time_and_gain(exercises):
    out, stdout = exercises
    models = json.loads((out / "results.json").read_text())["models"]
    assert list(models) == ["dnn", "cnn:8", "cnn:8,16,16"]
    for name, stack in (("cnn:8", (8,)), ("cnn:8,16,16", (8, 16, 16))):
        saved = keras.models.load_model(out / f"cnn-{'-'.join(map(str, stack))}.keras")
        assert models[name]["parameters"] == saved.count_params() == build_model("cnn", stack).count_params()
        gain = 100 * (models[name]["test_accuracy"] - models["dnn"]["test_accuracy"])
        row = next(line for line in stdout.splitlines() if line.startswith(f"{name} "))
        assert row.startswith(f"{name:<14}{', '.join(map(str, stack)):>12}{models[name]['parameters']:>10,}")
        assert row.endswith(f"{gain:+.2f}")
    assert (out / "accuracy_vs_time.png").is_file()


@pytest.mark.slow  # shares the run above, and exports
def test_a_variant_is_used_by_the_other_scripts_as_the_cnn_is(exercises, monkeypatch, capsys):
    import export
    import predict
    import visualize

    out, _ = exercises
    variant = out / "cnn-8-16-16.keras"
    monkeypatch.setenv("FASHION_MNIST_DIR", str(DATA_DIR))
    predict.main(["--test-index", "0", "--model", str(variant)])
    visualize.main(["filters", "--model", str(variant)])
    export.main([str(variant)])
    err = capsys.readouterr().err
    accuracy = json.loads((out / "results.json").read_text())["models"]["cnn:8,16,16"]["test_accuracy"]
    assert err.count(f"Using {variant} (test accuracy {accuracy:.1%}, 1 epoch on 500 images)") == 3
    assert (out / "predictions.png").is_file() and (out / "filters.png").is_file()
    assert (out / "cnn-8-16-16.tflite").is_file() and (out / "cnn-8-16-16_savedmodel").is_dir()


def test_the_per_class_table_keeps_the_longest_variant_names_apart():
    from convlab.data import CLASS_NAMES

    results = {name: {"per_class_accuracy": dict.fromkeys(CLASS_NAMES, 0.5)} for name in ("dnn", "cnn", "cnn:64,64,64")}
    header, *rows = report.per_class_table(results).splitlines()
    assert header.split()[4:] == list(results)
    assert [row.split()[-3:] for row in rows] == [["50.0%"] * 3] * len(CLASS_NAMES)
