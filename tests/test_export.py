"""export.py: the SavedModel and the TFLite file predict what the .keras model predicts; bad input is refused whole."""

import re
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter  # LiteRT, the runtime phones use

import export
from convlab import files, runs
from helpers import DATA_DIR, REPO, copy_project, mixed_bfloat16_copy, run_script
from model import build_model, with_mirror

TEST_IMAGES = 200
NEAR_TIE = 0.02  # a class may change only where the .keras model's top two probabilities are this close
EXPORTS = ["cnn", "cnn_bf16", "cnn_plus"]


@pytest.fixture(scope="module")
def exported(model_dir, tmp_path_factory):
    """Three models exported by `python export.py`: the trained CNN, the same in mixed bfloat16
    (as train.py saves it on hardware with native bfloat16), and an untrained cnn_plus with its
    mirror, as train.py saves it, whose random augmentation layers must stay off when served."""
    folder = tmp_path_factory.mktemp("export")
    shutil.copy(model_dir / "cnn.keras", folder / "cnn.keras")
    mixed_bfloat16_copy(folder / "cnn.keras").save(folder / "cnn_bf16.keras")
    keras.utils.set_random_seed(0)
    with_mirror(build_model("cnn_plus")).save(folder / "cnn_plus.keras")

    result = run_script("export.py", *(folder / f"{name}.keras" for name in EXPORTS))
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, result.stdout


def predictions(folder, name, images):
    """Class probabilities of the .keras model, the SavedModel and the TFLite file."""
    run_folder = runs.RunFolder(folder)
    original = keras.models.load_model(run_folder.model(name), compile=False).predict(images, verbose=0)
    served = tf.saved_model.load(str(run_folder.saved_model(name)))  # kept: its functions need it alive
    saved_model = served.serve(images).numpy()
    tflite = Interpreter(str(run_folder.tflite(name))).get_signature_runner()(image=images)["output_0"]
    return np.asarray(original, np.float32), saved_model, tflite


def test_exports_lie_next_to_each_model(exported):
    folder, stdout = exported
    for name in EXPORTS:
        assert (folder / f"{name}_savedmodel" / "saved_model.pb").is_file()
        assert (folder / f"{name}.tflite").stat().st_size > 100_000
        assert f"Wrote {folder / name}_savedmodel/ (TF Serving) and {folder / name}.tflite (TensorFlow Lite" in stdout
    assert not list(folder.glob(".*"))  # no temporaries left behind


@pytest.mark.parametrize("name", ["cnn", "cnn_bf16"])
def test_saved_model_and_tflite_predict_the_classes_of_the_keras_model(exported, fashion_mnist, name):
    folder, _ = exported
    _, (x_test, _) = fashion_mnist
    images = x_test[:TEST_IMAGES, ..., None]  # uint8, as the .keras model takes them
    original, saved_model, tflite = predictions(folder, name, images)
    top_two = np.sort(original, axis=1)[:, -2:]
    near_tie = top_two[:, 1] - top_two[:, 0] < NEAR_TIE
    for exported_probabilities in (saved_model, tflite):
        assert exported_probabilities.shape == (TEST_IMAGES, 10) and exported_probabilities.dtype == np.float32
        changed = exported_probabilities.argmax(axis=1) != original.argmax(axis=1)
        assert not (changed & ~near_tie).any()
        if name == "cnn":  # float32 all the way: the same numbers up to summation order
            assert not changed.any() and np.abs(exported_probabilities - original).max() < 1e-4
    np.testing.assert_allclose(tflite, saved_model, atol=1e-4)  # both float32, from the same graph


def test_served_cnn_plus_averages_with_its_mirror_but_never_shifts(exported, fashion_mnist):
    """model.export() would call the model in training mode for its random layers; the mirror must stay."""
    folder, _ = exported
    _, (x_test, _) = fashion_mnist
    original, saved_model, tflite = predictions(folder, "cnn_plus", x_test[:32, ..., None])
    np.testing.assert_allclose(saved_model, original, atol=1e-4)
    np.testing.assert_allclose(tflite, original, atol=1e-4)


def test_exporting_again_replaces_the_exports(exported, capsys):
    folder, _ = exported
    before = (folder / "cnn_savedmodel" / "saved_model.pb").stat().st_mtime_ns
    export.main([str(folder / "cnn.keras")])
    assert (folder / "cnn_savedmodel" / "saved_model.pb").stat().st_mtime_ns > before
    assert not list(folder.glob(".*"))


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    folder = tmp_path / "cnn_savedmodel"
    folder.mkdir()
    (folder / "saved_model.pb").write_text("old")
    with pytest.raises(RuntimeError), files.atomic_directory(folder) as temporary:
        temporary.mkdir()
        (temporary / "saved_model.pb").write_text("half")
        raise RuntimeError("crash while writing")
    assert (folder / "saved_model.pb").read_text() == "old" and list(tmp_path.iterdir()) == [folder]
    with files.atomic_directory(folder) as temporary:
        temporary.mkdir()
        (temporary / "saved_model.pb").write_text("new")
    assert [path.name for path in folder.iterdir()] == ["saved_model.pb"]
    assert (folder / "saved_model.pb").read_text() == "new" and list(tmp_path.iterdir()) == [folder]


def test_missing_model_gives_one_message_and_no_traceback(tmp_path):
    result = run_script("export.py", tmp_path / "cnn.keras")
    assert result.returncode == 1
    assert result.stderr.endswith(f"error: no model file at {tmp_path / 'cnn.keras'}.\n"
                                  "Pass the path of a .keras model saved by train.py, "
                                  "e.g. python export.py runs/RUN/cnn.keras.\n")
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())


def error_of(*argv):
    with pytest.raises(SystemExit) as exit:
        export.main([str(arg) for arg in argv])
    return exit.value.code


def test_no_models_in_runs_says_to_train_first(tmp_path):
    with pytest.raises(export.ExportError) as error:
        export.saved_models(tmp_path)
    assert str(error.value) == (f"no .keras models in {tmp_path}.\nRun `python train.py` first, "
                                "or pass the paths of .keras models, e.g. python export.py runs/RUN/cnn.keras.")


def test_a_file_that_is_not_a_keras_model_is_refused(tmp_path):
    (tmp_path / "notes.keras").write_text("not a model")
    assert error_of(tmp_path / "notes.keras") == (
        f"error: {tmp_path / 'notes.keras'} is not a Keras model file that Keras {keras.__version__} can load.\n"
        "Pass the path of a .keras model saved by train.py, e.g. python export.py runs/RUN/cnn.keras.")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.keras"]


def test_a_model_for_other_images_is_refused(tmp_path):
    inputs = keras.Input((32, 32, 3))
    keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs))).save(tmp_path / "cifar.keras")
    assert error_of(tmp_path / "cifar.keras") == (
        f"error: {tmp_path / 'cifar.keras'} takes inputs of shape (32, 32, 3), not one (28, 28, 1) image "
        "like the models of this project.\n"
        "Pass the path of a .keras model saved by train.py, e.g. python export.py runs/RUN/cnn.keras.")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cifar.keras"]


def test_a_failed_conversion_writes_neither_file(model_dir, tmp_path, monkeypatch):
    shutil.copy(model_dir / "dnn.keras", tmp_path / "dnn.keras")

    class FailingConverter:
        def convert(self):
            raise RuntimeError("op 'Foo' is neither a custom op nor a flex op\n... pages of MLIR ...")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_saved_model", lambda path: FailingConverter())
    assert error_of(tmp_path / "dnn.keras") == (
        f"error: cannot make dnn.tflite from {tmp_path / 'dnn.keras'}: op 'Foo' is neither a custom op nor a flex op\n"
        "Nothing was written for this model.")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dnn.keras"]  # no SavedModel either


def test_an_unwritable_export_path_writes_neither_file(model_dir, tmp_path):
    shutil.copy(model_dir / "dnn.keras", tmp_path / "dnn.keras")
    (tmp_path / "dnn.tflite").mkdir()  # a folder in the way of the TFLite file
    (tmp_path / "dnn.tflite" / "keep.txt").write_text("not ours")
    message = error_of(tmp_path / "dnn.keras")
    assert message.startswith(f"error: cannot write {tmp_path / 'dnn_savedmodel'} and {tmp_path / 'dnn.tflite'}: ")
    assert message.endswith("\nexport.py writes next to the .keras file: copy the model into a folder "
                            "you can write to, and export it there.")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dnn.keras", "dnn.tflite"]
    assert (tmp_path / "dnn.tflite" / "keep.txt").read_text() == "not ours"


def test_the_docs_inference_snippet_runs_as_written_with_nothing_on_stderr(exported, tmp_path):
    """docs/export.md's snippet, in a project whose runs/latest names an exported run: it prints the five
    test images' classes, and on stderr only LiteRT's line that the docs explain: not one warning or CUDA line."""
    folder, _ = exported
    project = copy_project(tmp_path / "project")
    shutil.copytree(folder, project / "runs" / "RUN")
    (project / "runs" / "latest").write_text("RUN\n")
    snippet = re.search(r"```python\n(.*?)```", (REPO / "docs" / "export.md").read_text(), re.S).group(1)
    snippet = snippet.replace("load_test_images()", f"load_test_images({str(DATA_DIR)!r})")
    result = run_script("-c", snippet, cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
    assert re.fullmatch(r"\[\d \d \d \d \d\] \[9 2 1 1 6\]\n", result.stdout), result.stdout
