"""visualize.py end to end: its figures, its feature-extraction model, its messages for bad input.

The CLI runs as a user runs it, in a subprocess. Each run that loads a model pays
TensorFlow's start-up (~4 s), so each command runs once and its tests share the result.
"""

import keras
import matplotlib.image
import numpy as np
import pytest

import visualize
from convlab import feature_maps
from convlab.data import TEST_FILES
from convlab.preprocess import as_photo
from convlab.saved_models import load_model
from helpers import DATA_DIR, copy_project, run_script
from model import build_model

# Pixels (height, width) = figsize in inches x 100 dpi, for the course CNN and three images.
FIGURE_SIZES = {
    "feature_maps.png": (710, 1070),
    "feature_maps_all_filters.png": (780, 960),
    "filters.png": (960, 1000),
    "convolution.png": (620, 1260),
}
BLANK_VARIANCE = 0.005  # a white page with titles only stays below this; every real figure is well above
MAX_PNG_BYTES = 300_000


@pytest.fixture(scope="module")
def figures_run(model_dir, tmp_path_factory):
    """All three commands, writing into one folder; returns the folder and each command's output.

    Their data folder holds only the two test files: the 26 MB training file is not needed.
    """
    out, test_files = tmp_path_factory.mktemp("figures"), tmp_path_factory.mktemp("test_files_only")
    for name in TEST_FILES:
        (test_files / name).symlink_to(DATA_DIR / name)
    cnn = model_dir / "cnn.keras"
    runs = {  # no command name: maps is the default
        "maps": run_script("visualize.py", "--model", cnn, "--data-dir", test_files, "--out", out),
        "filters": run_script("visualize.py", "filters", "--model", cnn, "--out", out),
        "convolution": run_script("visualize.py", "convolution", "--explain", 10, 12, "--data-dir", test_files,
                                  "--out", out),
    }
    for command, result in runs.items():
        assert result.returncode == 0, f"{command} failed:\n{result.stderr}"
    return out, {command: result.stdout for command, result in runs.items()}


@pytest.mark.parametrize("name", FIGURE_SIZES)
def test_each_figure_is_a_png_of_the_documented_size_and_not_blank(figures_run, name):
    out, _ = figures_run
    pixels = matplotlib.image.imread(out / name)  # fails unless it is a valid PNG
    assert pixels.shape[:2] == FIGURE_SIZES[name]
    assert pixels[..., :3].var() > BLANK_VARIANCE
    assert (out / name).stat().st_size <= MAX_PNG_BYTES
    assert not list(out.glob(".*partial*")), "a temporary file was left behind"


def test_each_command_names_what_it_wrote(figures_run):
    out, stdout = figures_run
    assert f"Wrote {out / 'feature_maps.png'}" in stdout["maps"]
    assert f"Wrote {out / 'feature_maps_all_filters.png'}" in stdout["maps"]
    assert f"Wrote {out / 'filters.png'}" in stdout["filters"]
    assert f"Wrote {out / 'convolution.png'}" in stdout["convolution"]


def test_explain_prints_the_worked_example(figures_run):
    _, stdout = figures_run
    text = stdout["convolution"]
    assert "Convolution: output pixel (row 10, col 12) of the vertical filter." in text
    assert "centred on input pixel (11, 13)" in text
    assert text.count(" x ") == 9  # one product per neighbour
    assert "sum =" in text and "cross-correlation" in text
    assert "4x4 block" in text and "2x2 pooled" in text


def test_feature_maps_of_your_own_photo(model_dir, fashion_mnist, tmp_path):
    """A photo made from test image 0 reaches the model looking like test image 0 again."""
    _, (x_test, _) = fashion_mnist
    as_photo(x_test[0], tmp_path / "boot.jpg", np.random.default_rng(0))
    images, captions = visualize.photos([tmp_path / "boot.jpg"])
    assert images.shape == (1, 28, 28) and captions == ["boot.jpg"]
    assert np.corrcoef(images[0].ravel(), x_test[0].ravel())[0, 1] > 0.8  # measured: 0.86
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "feature_maps.png").write_bytes(b"the test images' figure")
    result = run_script("visualize.py", "--image-file", tmp_path / "boot.jpg", "--model", model_dir / "cnn.keras",
                        "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-2000:]
    pixels = matplotlib.image.imread(tmp_path / "out" / "feature_maps_boot.png")  # named after the photo
    assert pixels[..., :3].var() > BLANK_VARIANCE
    assert (tmp_path / "out" / "feature_maps_all_filters_boot.png").is_file()
    assert (tmp_path / "out" / "feature_maps.png").read_bytes() == b"the test images' figure"  # not overwritten


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_feature_maps_of_a_saved_model_have_the_documented_shapes_in_float32(policy, tmp_path):
    """28 -> conv 26 -> pool 13 -> conv 11 -> pool 5, 64 filters each, in one batched call.

    train.py saves mixed-precision models where the hardware has bfloat16: loaded, they
    compute in float32 (which matplotlib can draw), with the weights they were saved with.
    """
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_model("cnn")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.save(tmp_path / "cnn.keras")
    loaded = load_model(tmp_path / "cnn.keras")
    layers = visualize.feature_layers(loaded, "cnn.keras")
    assert [layer.name for layer in layers] == ["conv_1", "pool_1", "conv_2", "pool_2"]

    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    layer_maps, probabilities = feature_maps.extract(loaded, layers, images)
    assert {name: maps.shape for name, maps in layer_maps.items()} == {
        "conv_1": (3, 26, 26, 64), "pool_1": (3, 13, 13, 64), "conv_2": (3, 11, 11, 64), "pool_2": (3, 5, 5, 64)}
    assert all(maps.dtype == np.float32 for maps in layer_maps.values()) and probabilities.dtype == np.float32
    saved = np.asarray(model.predict(images[..., None], verbose=0), np.float32)
    np.testing.assert_allclose(probabilities, saved, atol=1e-6 if policy == "float32" else 2e-2)


# --- bad input: one clear message, exit code 1, no traceback ------------------------

# case: (arguments, the message on stderr); the test fills in {cnn}, {dnn}, {tmp} and {keras}.
BAD_INPUT = {
    "missing --model": (
        ["--model", "{tmp}/nowhere.keras"],
        "error: no model file at {tmp}/nowhere.keras.\n"
        "Pass --model PATH to a .keras model saved by train.py, e.g. runs/RUN/cnn.keras."),
    "image index": (
        ["--model", "{cnn}", "--images", 0, 10000],
        "error: --images takes test-image indices from 0 to 9999, got 10000"),
    "negative image index": (
        ["convolution", "--image", -1],
        "error: --image takes a test-image index from 0 to 9999, got -1"),
    "explained pixel": (
        ["convolution", "--explain", 26, 0],
        "error: --explain ROW COL names a pixel of the 26x26 filtered image: "
        "ROW from 0 to 25, COL from 0 to 25, got 26 0"),
    "filter index": (
        ["--model", "{cnn}", "--filter", 64],
        "error: --filter must be from 0 to 63 (conv_1 has 64 filters), got 64"),
    "no conv layers": (
        ["filters", "--model", "{dnn}"],
        "error: {dnn} (model 'dnn') has no Conv2D layers, so it has no filters or feature maps to show.\n"
        "Pass --model PATH to a CNN, e.g. runs/RUN/cnn.keras."),
    "photo not found": (
        ["--model", "{cnn}", "--image-file", "{tmp}/nowhere.jpg"],
        "error: no such file: {tmp}/nowhere.jpg. Check the path."),
    "not a Keras file": (
        ["--model", "{tmp}/notes.keras"],
        "error: {tmp}/notes.keras is not a Keras model file that Keras {keras} can load.\n"
        "Pass --model PATH to a .keras model saved by train.py, e.g. runs/RUN/cnn.keras."),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_gives_one_message_and_exit_code_1(case, model_dir, tmp_path, monkeypatch):
    """In-process, for speed: sys.exit with a message is exit code 1 and that message on
    stderr, no traceback (the subprocess runs above and below check the real exit)."""
    (tmp_path / "notes.keras").write_text("not a model")
    places = {"cnn": model_dir / "cnn.keras", "dnn": model_dir / "dnn.keras", "tmp": tmp_path,
              "keras": keras.__version__}
    args, message = BAD_INPUT[case]
    monkeypatch.setenv("FASHION_MNIST_DIR", str(DATA_DIR))
    with pytest.raises(SystemExit) as exit:
        visualize.main([*[str(arg).format(**places) for arg in args], "--out", str(tmp_path / "out")])
    assert isinstance(exit.value.code, str)  # Python prints it to stderr and exits with 1
    assert message.format(**places) in exit.value.code
    assert not (tmp_path / "out").exists(), "nothing is written for bad input"


def test_no_trained_model_tells_the_user_to_train_first(tmp_path):
    """A fresh checkout: the project's code, and no runs/ folder yet."""
    result = run_script(copy_project(tmp_path) / "visualize.py")
    assert result.returncode == 1
    assert (f"error: no trained model yet: no run in {tmp_path / 'runs'} has finished.\n"
            "Run `python train.py` first, or pass --model PATH to a saved .keras model.") in result.stderr
    assert "Traceback" not in result.stderr
