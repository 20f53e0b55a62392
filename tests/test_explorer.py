"""visualize.py explorer: the page's JavaScript forward pass against Keras, in a real headless browser.

The page, opened as explorer.html#selftest, runs its CNN and DNN on every embedded test
image, clicks one pixel of each feature-map layer and writes the results into itself;
Chromium's --dump-dom hands them back (tests/browser.py). Needs Debian's `chromium`
package (.ci/run installs it). The page as a learner uses it (sizes, keys, the address,
undo, axe-core) is tested in test_explorer_page.py, with Playwright.
"""

import re
import shutil

import keras
import numpy as np
import pytest

import browser
import explorer
import visualize
from browser import CHROMIUM, NO_CHROMIUM
from conftest import DATA_DIR, mixed_bfloat16_copy, run_script
from model import build_model

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
AGREEMENT = 1e-4  # float32 in Keras and in the page: only the order of the additions differs


def self_test(page, tmp_path):
    return browser.self_test(page, CHROMIUM, tmp_path / "chromium")


@pytest.fixture(scope="module")
def trained(model_dir, fashion_mnist, tmp_path_factory):
    """The test suite's CNN and, beside it in the same folder, a dnn trained for a moment
    (an untrained one answers ~0.1 everywhere, which would make class agreement meaningless)."""
    keras.utils.set_random_seed(0)
    (x_train, y_train), _ = fashion_mnist
    folder = tmp_path_factory.mktemp("run")
    shutil.copy(model_dir / "cnn.keras", folder / "cnn.keras")
    dnn = build_model("dnn")
    dnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    dnn.fit(x_train[:2000, ..., None], y_train[:2000], epochs=1, batch_size=64, verbose=0)
    dnn.save(folder / "dnn.keras")
    return folder


@pytest.fixture(scope="module")
def page_run(trained, tmp_path_factory):
    """`python visualize.py explorer` as a user runs it, and the page's self-test."""
    out = tmp_path_factory.mktemp("explorer")
    result = run_script("visualize.py", "explorer", "--model", trained / "cnn.keras", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "explorer.html", result


@pytest.fixture(scope="module")
def page_results(page_run, tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    return self_test(page_run[0], tmp_path_factory.mktemp("chromium"))


def keras_answers(model, images):
    """Keras' probabilities, and every Conv2D/MaxPooling2D layer's maps, for uint8 images."""
    layers = visualize.feature_layers(model, "model")
    return visualize.extract_features(model, layers, images)


def test_writes_one_self_contained_page(page_run):
    page, result = page_run
    assert f"Wrote {page}" in result.stdout
    text = page.read_text()
    # Nothing fetched from anywhere: no src=, no href=, no url(...) and no http in the markup or style.
    assert not re.search(r"\b(src|href)\s*=|url\(|https?://", text.split('id="explorer-data"')[0])
    assert not list(page.parent.glob(".*partial*"))


def test_page_agrees_with_keras_on_200_test_images(page_results, trained, fashion_mnist):
    results = page_results
    _, (x_test, _) = fashion_mnist
    assert results["images"] >= 200
    images = x_test[: results["images"]]
    for name in ("cnn", "dnn"):
        model = keras.models.load_model(trained / f"{name}.keras", compile=False)
        expected = model.predict(images[..., None], verbose=0)
        assert results[f"{name}Classes"] == expected.argmax(axis=1).tolist(), name
        np.testing.assert_allclose(results[name], expected, atol=AGREEMENT, rtol=0, err_msg=name)
    print(f"\nforward pass of the CNN in the page: {results['forwardMs']:.1f} ms; "
          f"a whole redraw: {results['updateMs']:.1f} ms")


def test_clicked_arithmetic_reproduces_the_feature_maps(page_results, trained, fashion_mnist):
    """For each layer the page clicks the strongest pixel of test image 0; the arithmetic it shows
    must give the map's value, which must be Keras' value for that layer, filter and pixel."""
    results = page_results
    _, (x_test, _) = fashion_mnist
    layer_maps, _ = keras_answers(keras.models.load_model(trained / "cnn.keras", compile=False), x_test[:1])
    assert [click["layer"] for click in results["clicks"]] == ["conv_1", "pool_1", "conv_2", "pool_2"]
    for click in results["clicks"]:
        assert click["aim"] == {key: click[key] for key in ("channel", "row", "col")}, "the click missed its pixel"
        keras_value = layer_maps[click["layer"]][0, click["row"], click["col"], click["channel"]]
        assert keras_value > 0, click  # the strongest pixel: the ReLU let it through
        assert click["explained"] == pytest.approx(click["map"], abs=1e-6), click
        assert click["explained"] == pytest.approx(keras_value, abs=AGREEMENT), click


@needs_chromium
@pytest.mark.parametrize("conv_filters", [(6,), (4, 8, 8)])
def test_any_conv_stack_train_py_builds(conv_filters, trained, fashion_mnist, tmp_path):
    """One block or three (the most a 28x28 image allows): the page runs them as Keras does."""
    keras.utils.set_random_seed(1)
    cnn = build_model("cnn", conv_filters)  # untrained: random filters are as good a test of the arithmetic
    page = tmp_path / "explorer.html"
    _, (x_test, y_test) = fashion_mnist
    page.write_text(explorer.page(cnn, tmp_path / "cnn.keras", None, None, x_test, y_test))
    results = self_test(page, tmp_path)
    images = x_test[: results["images"]]
    layer_maps, expected = keras_answers(cnn, images)
    assert results["dnn"] == []  # no dnn beside this one
    np.testing.assert_allclose(results["cnn"], expected, atol=AGREEMENT, rtol=0)
    assert len(results["clicks"]) == 2 * len(conv_filters)
    for click in results["clicks"]:
        keras_value = layer_maps[click["layer"]][0, click["row"], click["col"], click["channel"]]
        assert click["explained"] == pytest.approx(keras_value, abs=AGREEMENT), click


@pytest.mark.slow
@needs_chromium
def test_mixed_bfloat16_model_stays_within_bfloat16_rounding(model_dir, fashion_mnist, tmp_path):
    """train.py saves mixed_bfloat16 models on CPUs with AVX512_BF16: Keras then rounds every layer's
    output to bfloat16's 8-bit mantissa and the page, in float32, does not. Measured with this model:
    0.0044 at most; the probabilities differ, but only by rounding, and the classes hardly ever."""
    cnn = mixed_bfloat16_copy(model_dir / "cnn.keras")
    page = tmp_path / "explorer.html"
    _, (x_test, y_test) = fashion_mnist
    page.write_text(explorer.page(cnn, tmp_path / "cnn.keras", None, None, x_test, y_test))
    results = self_test(page, tmp_path)
    expected = cnn.predict(x_test[: results["images"], ..., None], verbose=0)
    difference = np.abs(np.array(results["cnn"]) - expected).max()
    print(f"\nmixed_bfloat16 CNN: page vs Keras, largest probability difference {difference:.4f}")
    assert AGREEMENT < difference < 0.02
    assert np.mean(np.array(results["cnnClasses"]) == expected.argmax(axis=1)) >= 0.98


@pytest.fixture(scope="module")
def cnn_plus_page(fashion_mnist, tmp_path_factory):
    """cnn_plus, untrained but with batch-norm statistics and scales far from their initial
    0 and 1 (else folding them would change nothing), saved, loaded back and written as a page."""
    keras.utils.set_random_seed(3)
    model = build_model("cnn_plus")
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 2.0, n))
            layer.beta.assign(rng.normal(0, 0.3, n))
            layer.moving_mean.assign(rng.normal(0, 0.2, n))
            layer.moving_variance.assign(rng.uniform(0.05, 0.5, n))
    folder = tmp_path_factory.mktemp("cnn_plus")
    model.save(folder / "cnn_plus.keras")
    model = explorer.load_runnable(folder / "cnn_plus.keras")
    _, (x_test, y_test) = fashion_mnist
    page = folder / "explorer.html"
    page.write_text(explorer.page(model, folder / "cnn_plus.keras", None, None, x_test, y_test))
    return model, page


def test_cnn_plus_packs_as_keras_runs_it_at_inference(cnn_plus_page):
    """Batch norm folded into its conv, the ReLU layer made the conv's activation, dropout and
    augmentation left out: 11 layers where Keras has 25."""
    model, _ = cnn_plus_page
    layers = explorer.page_layers(model)
    assert [(layer["name"], layer.get("folded")) for layer in layers] == [
        ("rescale", None), ("conv_1", ["bn_1", "relu_1"]), ("pool_1", None),
        ("conv_2a", ["bn_2a", "relu_2a"]), ("conv_2b", ["bn_2b", "relu_2b"]), ("pool_2", None),
        ("conv_3", ["bn_3", "relu_3"]), ("pool_3", None), ("flatten", None), ("dense", []), ("predictions", [])]
    assert {layer.get("padding") for layer in layers if layer["type"] == "Conv2D"} == {"same"}


@needs_chromium
def test_cnn_plus_page_agrees_with_keras(cnn_plus_page, fashion_mnist, tmp_path):
    model, page = cnn_plus_page
    results = self_test(page, tmp_path)
    _, (x_test, _) = fashion_mnist
    images = x_test[: results["images"]]
    assert results["images"] >= 200
    layer_maps, expected = keras_answers(model, images)
    np.testing.assert_allclose(results["cnn"], expected, atol=AGREEMENT, rtol=0)
    assert results["cnnClasses"] == expected.argmax(axis=1).tolist()
    # The page's conv_1 is Keras' relu_1 (conv, batch norm and ReLU in one); the clicked
    # arithmetic, with the folded weights, gives Keras' value.
    names = {"conv_1": "relu_1", "conv_2a": "relu_2a", "conv_2b": "relu_2b", "conv_3": "relu_3"}
    features = keras.Model(model.inputs, [model.get_layer(names.get(c["layer"], c["layer"])).output
                                          for c in results["clicks"]])
    values = features.predict(x_test[:1, ..., None], verbose=0)
    assert [click["layer"] for click in results["clicks"]] == [
        "conv_1", "pool_1", "conv_2a", "conv_2b", "pool_2", "conv_3", "pool_3"]
    for click, value in zip(results["clicks"], values):
        assert click["explained"] == pytest.approx(click["map"], abs=1e-6), click
        assert click["explained"] == pytest.approx(value[0, click["row"], click["col"], click["channel"]],
                                                   abs=AGREEMENT), click


# --- bad input: one clear message, exit code 1, nothing written -------------------------

@pytest.mark.parametrize("layer, problem", [
    (keras.layers.Conv2D(4, 3, activation="relu"), None),
    (keras.layers.Dense(3, activation="softmax", use_bias=False), None),
    (keras.layers.MaxPooling2D(2), None),
    (keras.layers.Conv2D(4, 3, padding="same"), None),
    (keras.layers.Dropout(0.5), None),
    (keras.layers.RandomTranslation(0.1, 0.1), None),
    (keras.layers.Conv2D(4, 3, strides=2, padding="same"), "Conv2D with strides=(2, 2)"),
    (keras.layers.Conv2D(4, 2, padding="same"), "Conv2D with padding='same' with an even kernel_size=(2, 2)"),
    (keras.layers.Conv2D(4, 3, activation="softmax"), "Conv2D with activation='softmax'"),
    (keras.layers.Activation("tanh"), "Activation with activation='tanh'"),
    (keras.layers.MaxPooling2D(3, strides=2), "MaxPooling2D with pool_size=(3, 3), strides=(2, 2)"),
    (keras.layers.RandomCrop(20, 20), "RandomCrop"),  # not training-only: it crops at inference too
    (keras.layers.LayerNormalization(), "LayerNormalization"),
])
def test_what_the_page_cannot_compute_as_keras_does_is_named(layer, problem):
    assert explorer.problem(layer) == problem


def save_model(model, path):
    model.save(path)
    return path


BAD_INPUT = {
    "missing --model": (
        lambda tmp: tmp / "nowhere.keras",
        "error: no model file at {tmp}/nowhere.keras.\n"
        "Pass --model PATH to a .keras model saved by train.py, e.g. runs/RUN/cnn.keras."),
    "a dnn has no feature maps": (
        lambda tmp: save_model(build_model("dnn"), tmp / "dnn.keras"),
        "error: {tmp}/dnn.keras (model 'dnn') has no Conv2D layers"),
    "a layer the page cannot run": (
        lambda tmp: save_model(keras.Sequential([
            keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.BatchNormalization(name="bn_after_relu"), keras.layers.Dropout(0.2),
            keras.layers.LayerNormalization(name="norm"), keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax")], name="odd"), tmp / "odd.keras"),
        "error: {tmp}/odd.keras (model 'odd') has layers the explorer page cannot run: "
        "BatchNormalization after an activation (only one right after a Conv2D or Dense folds into it) "
        "(bn_after_relu); LayerNormalization (norm).\n"
        "The explorer runs models made of Rescaling, Conv2D, MaxPooling2D, BatchNormalization, Activation, "
        "Flatten and Dense layers (and training-only layers such as Dropout and RandomFlip, which it leaves out), "
        "like train.py's cnn and cnn_plus.\nPass --model PATH to such a model, e.g. runs/RUN/cnn.keras."),
    "wrong input shape": (
        lambda tmp: save_model(keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(),
                                                 keras.layers.Dense(10)]), tmp / "big.keras"),
        "error: {tmp}/big.keras takes inputs of shape (32, 32, 1), not one (28, 28, 1) image"),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_model_gives_one_message_and_exit_code_1(case, tmp_path, monkeypatch):
    make_model, message = BAD_INPUT[case]
    model_file = make_model(tmp_path)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(DATA_DIR))
    with pytest.raises(SystemExit) as exit:
        visualize.main(["explorer", "--model", str(model_file), "--out", str(tmp_path / "out")])
    assert isinstance(exit.value.code, str)  # Python prints it to stderr and exits with 1
    assert message.format(tmp=tmp_path) in exit.value.code
    assert not (tmp_path / "out").exists(), "nothing is written for bad input"


def test_out_that_cannot_be_written(model_dir, tmp_path, monkeypatch):
    """--out under a file is refused before any work; a page that cannot take its place leaves nothing."""
    monkeypatch.setenv("FASHION_MNIST_DIR", str(DATA_DIR))
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit) as exit:
        visualize.main(["explorer", "--model", str(model_dir / "cnn.keras"), "--out", str(tmp_path / "a_file" / "x")])
    assert exit.value.code == (f"error: cannot write into --out {tmp_path / 'a_file' / 'x'}: "
                               f"{tmp_path / 'a_file'} is a file, not a folder.\nPass --out a folder you can write to.")

    (tmp_path / "out" / "explorer.html").mkdir(parents=True)  # a folder where the page should go
    with pytest.raises(SystemExit) as exit:
        visualize.main(["explorer", "--model", str(model_dir / "cnn.keras"), "--out", str(tmp_path / "out")])
    assert exit.value.code.startswith(f"error: cannot write {tmp_path / 'out' / 'explorer.html'}: ")
    assert exit.value.code.endswith("\nPass --out a folder you can write to.")
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["explorer.html"], "a temporary file was left"
