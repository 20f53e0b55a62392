"""visualize.py explorer: the page against Keras and as a learner uses it, in a real headless browser.

The page, opened as explorer.html#selftest, runs its CNN and DNN on every embedded test
image, clicks one pixel of each feature-map layer, drives the keyboard through three test
images, and writes the results into itself; Chromium's --dump-dom hands them back
(benchmarks/chromium.py). Needs Debian's `chromium` package (.ci/run installs it). The page
as a learner uses it (screen sizes, the panel, keys, the address, undo, the flow, the dense
half, axe-core) is tested after, with Playwright driving that Chromium, one browser for the
module. The forward pass alone is tested in node (test_explorer_forward.py).
"""

import re
import shutil

import browser
import keras
import numpy as np
import pytest
from browser import CHROMIUM, NO_CHROMIUM

import visualize
from convlab import explorer_page, feature_maps
from convlab.data import CLASS_NAMES
from helpers import DATA_DIR, cnn_plus_far_from_init, mixed_bfloat16_copy, run_script
from model import build_model, with_mirror

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
AGREEMENT = 1e-4  # float32 in Keras and in the page: only the order of the additions differs


def self_test(page, tmp_path):
    return browser.self_test(page, tmp_path / "chromium")


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
    return feature_maps.extract(model, feature_maps.feature_layers(model), images)


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


def test_keyboard_explains_the_pixel_the_map_shows(page_results, trained, fashion_mnist):
    """On three test images loaded one after another from the gallery, Enter on conv_1's filter 9
    explains that map's strongest pixel for the image shown (Keras' argmax), with Keras' value;
    an arrow on the enlarged map moves the pixel; Escape closes the panel and returns to the map."""
    _, (x_test, _) = fashion_mnist
    keyboard = page_results["keyboard"]
    images = [k["image"] for k in keyboard]
    assert len(set(images)) == 3 and 0 not in images, "three images loaded after test image 0"
    conv_1, _ = keras_answers(keras.models.load_model(trained / "cnn.keras", compile=False), x_test[images])
    for found, maps in zip(keyboard, conv_1["conv_1"]):
        keras_map = maps[..., 9]
        row, col = np.unravel_index(keras_map.argmax(), keras_map.shape)
        assert (found["channel"], found["row"], found["col"]) == (9, row, col), found
        assert found["strongest"] == {"channel": 9, "row": row, "col": col}
        assert found["explained"] == pytest.approx(keras_map[row, col], abs=AGREEMENT), found
        assert f"pixel (row {row}, column {col}) = {keras_map[row, col]:.4f}" in found["title"]
        assert found["focus"] == "zoom" and found["moved"] == {"row": row, "col": col + 1 if col < 25 else col - 1}
        assert found["closed"] and found["focusAfter"] == "conv_1 filter 9"
        assert found["tabs"] == 3, "one tab stop each for the test images, the flow and the colour scale"


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
    page.write_text(explorer_page.page(cnn, tmp_path / "cnn.keras", None, None, x_test, y_test))
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
    page.write_text(explorer_page.page(cnn, tmp_path / "cnn.keras", None, None, x_test, y_test))
    results = self_test(page, tmp_path)
    expected = cnn.predict(x_test[: results["images"], ..., None], verbose=0)
    difference = np.abs(np.array(results["cnn"]) - expected).max()
    print(f"\nmixed_bfloat16 CNN: page vs Keras, largest probability difference {difference:.4f}")
    assert AGREEMENT < difference < 0.02
    assert np.mean(np.array(results["cnnClasses"]) == expected.argmax(axis=1)) >= 0.98


@pytest.fixture(scope="module")
def cnn_plus_page(fashion_mnist, tmp_path_factory):
    """cnn_plus (conftest: batch-norm statistics far from their start), saved with its mirror as train.py
    saves it, loaded back (the network inside: the page follows one image) and written as a page."""
    model = cnn_plus_far_from_init()
    folder = tmp_path_factory.mktemp("cnn_plus")
    with_mirror(model).save(folder / "cnn_plus.keras")
    model = explorer_page.load_runnable(folder / "cnn_plus.keras")
    assert model.name == "cnn_plus"
    _, (x_test, y_test) = fashion_mnist
    page = folder / "explorer.html"
    page.write_text(explorer_page.page(model, folder / "cnn_plus.keras", None, None, x_test, y_test))
    return model, page


def test_cnn_plus_packs_as_keras_runs_it_at_inference(cnn_plus_page):
    """Batch norm folded into its conv, the ReLU layer made the conv's activation, dropout and
    augmentation left out: 11 layers where Keras has 25."""
    model, _ = cnn_plus_page
    layers = explorer_page.page_layers(model)
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
    assert explorer_page.problem(layer) == problem


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


# --- The page as a learner uses it: Playwright driving the system Chromium --------------

SIZES = [(390, 844), (768, 1024), (1366, 768), (1920, 1080)]
WIDEST_ELEMENT = """() => Math.max(...Array.from(document.querySelectorAll('body *'))
    .filter(e => !e.closest('[hidden]')).map(e => e.getBoundingClientRect().right))"""


@pytest.fixture(scope="module")
def chromium():
    missing = browser.playwright_missing()
    if missing:
        pytest.skip(missing)
    with browser.browser() as opened:
        yield opened


@pytest.fixture
def open_page(page_run, chromium):
    """open_page(width, height, hash): the written page in a new tab; afterwards, no errors in its console."""
    tabs = []

    def opened(width=1366, height=768, hash=""):
        tab = browser.open_page(chromium, page_run[0], width, height, hash)
        tabs.append(tab)
        return tab

    yield opened
    for tab in tabs:
        assert tab.errors == [], tab.errors
        tab.close()


def rect(tab, selector):
    return tab.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect(); "
                                          "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; }")


def inside_viewport(box, width, height):
    return box["top"] >= 0 and box["left"] >= 0 and box["bottom"] <= height and box["right"] <= width


def overlap(a, b):
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def moved(a, b):
    return max(abs(a[side] - b[side]) for side in ("top", "left", "bottom", "right"))


MAP = '.layer-card[data-layer="{layer}"] .map[data-channel="{channel}"]'
# The image rows and columns one pixel (row, col) of the course CNN's layers depends on: each 3x3
# convolution adds 2, each 2x2 pooling doubles (the receptive fields test_explorer_forward.py checks).
FIELD = {"conv_1": lambda r, c: (r, c, 3), "pool_1": lambda r, c: (2 * r, 2 * c, 4),
         "conv_2": lambda r, c: (2 * r, 2 * c, 8), "pool_2": lambda r, c: (4 * r, 4 * c, 10)}


def shown_field(tab):
    """The box on the panel's copy of the image, in image pixels: (top row, left column, size)."""
    image, box = rect(tab, "#field"), rect(tab, "#field-mark")
    scale = 28 / (image["bottom"] - image["top"])
    return (round((box["top"] - image["top"]) * scale), round((box["left"] - image["left"]) * scale),
            round((box["bottom"] - box["top"]) * scale))


@pytest.mark.parametrize("width, height", SIZES)
def test_the_panel_opens_beside_what_was_clicked_and_moves_nothing(open_page, width, height):
    """At each size: no sideways scrolling; nothing selected at first; a click on a map of any layer
    (conv_2's arithmetic is the longest) opens the panel beside it, never over it, with the image and
    the pixel's receptive field, the enlarged map and the arithmetic on screen; opening and closing it
    moves the clicked map by at most 4 px."""
    tab = open_page(width, height, "image=19")
    assert tab.evaluate("document.documentElement.scrollWidth") <= width
    assert tab.evaluate(WIDEST_ELEMENT) <= width + 0.5
    if width < 700:  # a phone: the canvas and the predictions on the first screen together
        assert inside_viewport(rect(tab, "#drawing"), width, height)
        assert inside_viewport(rect(tab, "#bars"), width, height)
    assert tab.is_hidden("#inspector") and tab.is_hidden("#drawing-mark")
    assert tab.locator('.map[aria-pressed="true"]').count() == 0
    if width >= 1366:
        box = rect(tab, MAP.format(layer=1, channel=0))
        assert box["right"] - box["left"] >= 56

    for layer, channel, name in [(3, 20, "conv_2"), (2, 5, "pool_1"), (1, 40, "conv_1"), (4, 63, "pool_2")]:
        clicked = MAP.format(layer=layer, channel=channel)
        tab.locator(clicked).scroll_into_view_if_needed()
        before = rect(tab, clicked)
        tab.click(clicked)
        assert moved(before, rect(tab, clicked)) <= 4, f"{name}: opening the panel moved the map"
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        assert tab.evaluate(WIDEST_ELEMENT) <= width + 0.5
        assert tab.eval_on_selector("#inspector", "e => e.scrollWidth <= e.clientWidth")  # the arithmetic wraps
        assert not overlap(rect(tab, clicked), rect(tab, "#inspector"))
        for part in ("#field", "#zoom"):
            assert inside_viewport(rect(tab, part), width, height), (name, part)
        assert rect(tab, "#explanation")["top"] < height  # the arithmetic starts on screen
        row, col = tab.evaluate("[state.selected.row, state.selected.col]")
        assert shown_field(tab) == FIELD[name](row, col)
        assert tab.text_content("#inspector-title").startswith(f"{name}, ")
        tab.keyboard.press("Escape")
        assert tab.is_hidden("#inspector")
        assert moved(before, rect(tab, clicked)) <= 4, f"{name}: closing the panel moved the map"

    # From the keyboard too: Enter on a map explains its strongest pixel for the image shown, beside it.
    chosen = MAP.format(layer=3, channel=21)
    tab.focus(MAP.format(layer=3, channel=20))
    tab.keyboard.press("ArrowRight")
    before = rect(tab, chosen)
    tab.keyboard.press("Enter")
    assert tab.evaluate("document.activeElement.id") == "zoom"
    assert moved(before, rect(tab, chosen)) <= 4 and not overlap(rect(tab, chosen), rect(tab, "#inspector"))
    assert tab.evaluate("[state.selected.row, state.selected.col]") == tab.evaluate(
        "(p => [p.row, p.col])(strongestPixel(state.outputs[3], 21))")
    row, col = tab.evaluate("[state.selected.row, state.selected.col]")
    assert inside_viewport(rect(tab, "#field"), width, height) and shown_field(tab) == FIELD["conv_2"](row, col)
    tab.keyboard.press("Escape")
    assert tab.evaluate("document.activeElement.getAttribute('aria-label')") == "conv_2 filter 21"
    assert moved(before, rect(tab, chosen)) <= 4


def test_keyboard_explains_each_images_strongest_pixel(open_page, trained, fashion_mnist):
    """Tab to the test images, load one, Tab to conv_1's maps, the arrows to filter 9, Enter: the panel
    explains the strongest pixel of filter 9 for that image (Keras' argmax), on three images loaded one
    after another; the arrows move the pixel; Shift+Tab and Tab cross the panel; Escape closes it."""
    _, (x_test, _) = fashion_mnist
    conv_1 = keras.Model(*(lambda m: (m.inputs, m.get_layer("conv_1").output))(
        keras.models.load_model(trained / "cnn.keras", compile=False)))
    tab = open_page(1366, 768)
    presses = 0
    while not tab.evaluate("document.activeElement.classList.contains('thumb')"):
        tab.keyboard.press("Tab")
        presses += 1
        assert presses < 30
    tab.keyboard.press("Home")  # the first T-shirt/top: test image 19
    for image_number in range(3):
        tab.keyboard.press("Enter")
        image = int(re.match(r"test image (\d+), ", tab.text_content("#source")).group(1))
        assert tab.evaluate("document.activeElement.dataset.image") == str(image)
        tabs_to_maps = 0
        while not tab.evaluate("document.activeElement.classList.contains('map')"):
            tab.keyboard.press("Tab")
            tabs_to_maps += 1
        assert tabs_to_maps <= 3, "one tab stop each for the test images, the layers and the colour scale"
        if image_number == 0:
            assert presses + tabs_to_maps <= 12, "one tab stop per group of maps or images, not one per map"
            outline = tab.evaluate("(e => [getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineWidth])"
                                   "(document.activeElement)")
            assert outline[0] != "none" and float(outline[1].rstrip("px")) >= 2, "no visible focus"
            columns = int(tab.evaluate("getComputedStyle(document.activeElement.parentNode)"
                                       ".getPropertyValue('--columns')"))
            assert tab.evaluate("document.activeElement.getAttribute('aria-label')") == "conv_1 filter 0"
            tab.keyboard.press("ArrowRight")
            tab.keyboard.press("ArrowDown")  # a row of maps down
            assert tab.evaluate("document.activeElement.getAttribute('aria-label')") == f"conv_1 filter {1 + columns}"
            for _ in range(1 + columns - 9):
                tab.keyboard.press("ArrowLeft")
        assert tab.evaluate("document.activeElement.getAttribute('aria-label')") == "conv_1 filter 9"
        assert tab.is_hidden("#inspector")
        tab.keyboard.press("Enter")
        assert tab.evaluate("document.activeElement.id") == "zoom"
        keras_map = conv_1.predict(x_test[image:image + 1, ..., None], verbose=0)[0, ..., 9]
        row, col = np.unravel_index(keras_map.argmax(), keras_map.shape)
        assert tab.text_content("#inspector-title") == (
            f"conv_1, filter 9, pixel (row {row}, column {col}) = {keras_map[row, col]:.4f}"), image
        tab.keyboard.press("ArrowDown" if row < 25 else "ArrowUp")
        assert tab.evaluate("[state.selected.row, state.selected.col]") == [row + (1 if row < 25 else -1), col]
        if image_number == 0:
            tab.keyboard.press("Shift+Tab")
            assert tab.evaluate("document.activeElement.id") == "close"
            tab.keyboard.press("Tab")
            assert tab.evaluate("document.activeElement.id") == "zoom"
        tab.keyboard.press("Escape")
        assert tab.is_hidden("#inspector")
        assert tab.evaluate("document.activeElement.getAttribute('aria-label')") == "conv_1 filter 9"
        for _ in range(tabs_to_maps):  # back to the test images
            tab.keyboard.press("Shift+Tab")
        tab.keyboard.press("ArrowDown")  # the first image of the next class


def test_keyboard_draws_and_undoes(open_page):
    """The pen shows only for the keyboard; Space inks one pixel, one step of undo; Shift with the arrows
    draws a line, one step of undo for the whole line."""
    tab = open_page(1366, 768, "image=1")
    before = tab.evaluate("Array.from(state.pixels)")
    box = rect(tab, "#drawing")
    tab.mouse.click(box["left"] + 3, box["top"] + 3)  # a mouse press inks, and shows no pen
    assert tab.is_hidden("#pen")
    tab.keyboard.press("Control+z")
    assert tab.evaluate("Array.from(state.pixels)") == before
    tab.keyboard.press("Tab")
    tab.keyboard.press("Shift+Tab")  # back to the canvas from the keyboard
    assert tab.evaluate("document.activeElement.id") == "drawing" and tab.is_visible("#pen")
    for key in ["ArrowLeft"] * 10 + ["ArrowUp"] * 12:  # to row 2, column 4: black in test image 1
        tab.keyboard.press(key)
    tab.keyboard.press(" ")
    dot = tab.evaluate("Array.from(state.pixels)")
    assert dot[2 * 28 + 4] == 255 and before[2 * 28 + 4] < 255
    assert tab.text_content("#source") == "your drawing"
    tab.keyboard.down("Shift")  # held down while the arrow goes right four times: one line
    for _ in range(4):
        tab.keyboard.press("ArrowRight")
    tab.keyboard.up("Shift")
    assert tab.evaluate("[5, 6, 7, 8].map(c => state.pixels[2 * 28 + c])") == [255] * 4
    tab.keyboard.press("Control+z")  # the whole line
    assert tab.evaluate("Array.from(state.pixels)") == dot
    tab.keyboard.press("Control+z")  # the dot
    assert tab.evaluate("Array.from(state.pixels)") == before


def address(tab, expected):
    """The tab's address reaches `expected` (the page rewrites it at most every 100 ms)."""
    try:
        tab.wait_for_function("expected => location.hash === expected", arg=expected, timeout=2000)
    except Exception:
        assert tab.evaluate("location.hash") == expected


def test_the_address_follows_the_view(open_page):
    tab = open_page(1366, 768)
    tab.click('.thumb[data-image="23"]')
    tab.check('input[name="scale"][value="layer"]')
    tab.click(MAP.format(layer=3, channel=7), position={"x": 2, "y": 2})  # the top-left pixel
    address(tab, "#image=23&layer=conv_2&map=7&row=0&col=0&scale=layer")
    tab.focus("#zoom")
    tab.keyboard.press("ArrowRight")
    address(tab, "#image=23&layer=conv_2&map=7&row=0&col=1&scale=layer")
    title = tab.text_content("#inspector-title")

    shared = open_page(390, 844, tab.evaluate("location.hash")[1:])  # a teacher's link, opened elsewhere
    assert shared.text_content("#inspector-title") == title
    assert shared.text_content("#source") == tab.text_content("#source")
    assert shared.is_checked('input[name="scale"][value="layer"]')
    shared.click("#clear")
    address(shared, "#layer=conv_2&map=7&row=0&col=1&scale=layer")

    # A drawing travels in the address too: a reload (or the link) shows the same pixels.
    box = rect(shared, "#drawing")
    shared.mouse.move(box["left"] + 40, box["top"] + 30)
    shared.mouse.down()
    shared.mouse.move(box["left"] + 120, box["top"] + 150, steps=6)
    shared.mouse.up()
    drawn = shared.evaluate("Array.from(state.pixels)")
    shared.wait_for_function("location.hash === written && written.startsWith('#drawing=')", timeout=2000)
    shared.reload()
    shared.wait_for_function("window.explorerReady === true")
    assert shared.evaluate("Array.from(state.pixels)") == drawn
    assert shared.text_content("#source") == "your drawing"
    assert shared.text_content("#inspector-title") == title.split(" = ")[0] + " = " + shared.evaluate(
        "fixed(at(state.outputs[3], 0, 1, 7))")


def test_undo_and_redo_of_drawing(open_page):
    tab = open_page(1366, 768, "image=5")
    pixels = "Array.from(state.pixels)"
    original = tab.evaluate(pixels)
    box = rect(tab, "#drawing")
    tab.mouse.move(box["left"] + 5, box["top"] + 5)
    tab.mouse.down()
    tab.mouse.move(box["left"] + 80, box["top"] + 40, steps=5)
    tab.mouse.up()
    tab.wait_for_timeout(50)
    drawn = tab.evaluate(pixels)
    assert drawn != original
    tab.click("#clear")
    assert not any(tab.evaluate(pixels))
    tab.keyboard.press("Control+z")
    assert tab.evaluate(pixels) == drawn
    tab.keyboard.press("Control+z")
    assert tab.evaluate(pixels) == original
    assert tab.text_content("#source").startswith("test image 5")
    assert tab.is_disabled("#undo")
    tab.keyboard.press("Control+Shift+z")
    assert tab.evaluate(pixels) == drawn
    tab.click("#redo")
    assert not any(tab.evaluate(pixels))
    tab.click("#undo")
    assert tab.evaluate(pixels) == drawn


def test_dense_half_equals_keras_layer_outputs(open_page, trained, fashion_mnist):
    _, (x_test, _) = fashion_mnist
    image = 7
    tab = open_page(1366, 768, f"image={image}")
    for name in ("cnn", "dnn"):
        model = keras.models.load_model(trained / f"{name}.keras", compile=False)
        tab.check(f'input[name="which"][value="{name}"]')
        flat_text = tab.text_content("#flatten-text")
        assert ("5 x 5 x 64 = 1,600 numbers" if name == "cnn" else "one row of 784 numbers") in flat_text
        hidden = keras.Model(model.inputs, model.get_layer("dense").output).predict(x_test[image:image + 1, ..., None],
                                                                                  verbose=0)[0]
        kernel, bias = (w.astype(np.float64) for w in model.get_layer("predictions").get_weights())
        logits = hidden.astype(np.float64) @ kernel + bias
        units = tab.eval_on_selector_all('.units[data-layer="dense"] .unit',
                                         "us => us.map(u => Number(u.dataset.value))")
        shown = tab.eval_on_selector_all(".logit-value", "vs => vs.map(v => Number(v.dataset.value))")
        np.testing.assert_allclose(units, hidden, atol=AGREEMENT, rtol=0, err_msg=name)
        np.testing.assert_allclose(shown, logits, atol=AGREEMENT, rtol=0, err_msg=name)
        # Softmax worked for the top class: its result is Keras' probability, to the 4 decimals shown.
        probabilities = model.predict(x_test[image:image + 1, ..., None], verbose=0)[0]
        top = int(probabilities.argmax())
        equation = tab.text_content("#softmax")
        assert equation.startswith(f"p({CLASS_NAMES[top]}) = ")
        assert float(re.search(r"= (\d\.\d{4}), shown as", equation).group(1)) == pytest.approx(
            probabilities[top], abs=1e-4)
        # The class that comes second: the units that pushed its logit up and down most.
        second = int(np.argsort(probabilities)[-2])
        tab.click(f'.logit[data-class="{second}"]')
        contributions = hidden * kernel[:, second]
        up = [int(u) for u in np.argsort(-contributions)[:5] if contributions[u] > 0]
        down = [int(u) for u in np.argsort(contributions)[:5] if contributions[u] < 0]
        listed = tab.eval_on_selector_all("#pushes table", "ts => ts.map(t => Array.from(t.querySelectorAll("
                                                           "'tr[data-unit]'), r => Number(r.dataset.unit)))")
        assert listed == [up, down], name
        assert tab.eval_on_selector_all(".units .unit.up", "us => us.map(u => Number(u.dataset.unit))") == sorted(up)


def contrast(foreground, background):
    """WCAG 2's contrast ratio of two CSS rgb() colours."""
    def luminance(colour):
        r, g, b = (int(v) / 255 for v in re.findall(r"\d+", colour)[:3])
        return sum(w * (v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4)
                   for w, v in zip((0.2126, 0.7152, 0.0722), (r, g, b)))
    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


LABELS = """cells => cells.filter(c => c.querySelector('.value').textContent)
    .map(c => { const v = c.querySelector('.value'), f = c.querySelector('.fill').getBoundingClientRect(),
                      r = v.getBoundingClientRect();
                return {text: v.textContent, colour: getComputedStyle(v).color,
                        background: getComputedStyle(c.closest('.card')).backgroundColor,
                        clear: r.left >= f.right || r.right <= f.left}; })"""


def test_probability_labels_readable_and_the_empty_canvas(open_page):
    """Every label beside its bar, at WCAG AA contrast, for a garment (bars up to 100%) and for the
    empty canvas, which gets a note and no verdict."""
    tab = open_page(390, 844, "image=0")
    for state in ("a test image", "the empty canvas"):
        labels = tab.eval_on_selector_all(".bar", LABELS)
        assert len(labels) == 20, state  # ten classes, two networks
        for label in labels:
            assert label["clear"], f"{state}: {label['text']} sits on its bar"
            assert contrast(label["colour"], label["background"]) >= 4.5, (state, label)
        if state == "a test image":
            tab.click("#clear")
    assert tab.text_content("#verdict").startswith("Nothing drawn: these are the biases")
    assert tab.locator(".bar.top").count() == 0
    tab.click("#undo")
    assert tab.text_content("#verdict").startswith("CNN: ")
    assert tab.locator(".bar.top").count() == 2


def shown_numbers(tab, selector):
    return tab.eval_on_selector_all(selector, "cells => cells.map(c => c.textContent)")


def test_shown_products_add_up_to_the_shown_total(open_page):
    tab = open_page(1366, 768, "image=0&layer=conv_1&map=3&row=12&col=12")
    products = shown_numbers(tab, ".grid.products td")
    total = tab.text_content(".worked .total")
    assert all(re.fullmatch(r"-?\d+\.\d{4}", number) for number in [*products, total]), (products, total)
    # Rounded to 4 decimals, as the page says: 9 products miss their total by 9 half-units at most.
    assert abs(sum(map(float, products)) - float(total)) <= 9 * 0.00005 + 1e-9
    assert "rounded to 4 decimals" in tab.text_content(".rounding")
    sums = [float(n) for n in shown_numbers(tab, ".sums .number")]
    assert sums[0] == float(total)  # the sum of the 9 products
    assert sums[2] == pytest.approx(sums[0] + sums[1], abs=0.0001)  # + the bias


def test_colour_scales_and_the_enlarged_map(open_page):
    """Per map (the default), every map that is not all 0 reaches the brightest colour; per layer, only
    those holding the layer's largest value do. The enlarged map always uses its own scale."""
    tab = open_page(1366, 768, "image=0&layer=conv_1&map=0")
    brightest = """sel => Array.from(document.querySelectorAll(sel)).map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let top = 0;
        for (let k = 0; k < d.length; k += 4) top = Math.max(top, d[k] + d[k + 1] + d[k + 2]);
        return top; })"""
    maps = '.layer-card[data-layer="1"] .map canvas'
    nonzero = tab.evaluate("Array.from({length: 64}, (_, c) => mapTop(state.outputs[1], c) > 0)")
    peak = max(tab.evaluate(brightest, maps))
    assert [top == peak for top in tab.evaluate(brightest, maps)] == nonzero
    assert tab.evaluate(brightest, "#zoom") == [peak]
    tab.check('input[name="scale"][value="layer"]')
    tab.wait_for_function("location.hash.endsWith('&scale=layer')", timeout=2000)
    at_peak = sum(top == peak for top in tab.evaluate(brightest, maps))
    assert 1 <= at_peak < sum(nonzero)
    tab.click(MAP.format(layer=1, channel=int(np.argmin([t if n else 1e9 for t, n in zip(
        tab.evaluate("Array.from({length: 64}, (_, c) => mapTop(state.outputs[1], c))"), nonzero)]))))
    assert tab.evaluate(brightest, "#zoom") == [peak], "the enlarged map is on its own scale"


def test_the_window_slides_row_by_row(open_page, fashion_mnist):
    """It starts on the first row whose window reads ink (the rows above read only 0s and are filled at
    once), fills the map up to the window, and pauses."""
    _, (x_test, _) = fashion_mnist
    first = next(row for row in range(26) if x_test[0][row:row + 3].any())
    tab = open_page(1366, 768, "image=0&layer=conv_1&map=2&row=0&col=0")
    tab.select_option("#pace", "25")
    tab.click("#play")
    assert tab.evaluate("state.slide.start") == first * 26
    tab.wait_for_timeout(600)
    tab.click("#play")  # pause
    step = int(tab.get_attribute("#slide-status", "data-step"))
    assert first * 26 + 3 <= step < 26 * 26 - 1
    tab.wait_for_timeout(200)
    assert int(tab.get_attribute("#slide-status", "data-step")) == step, "the pause button did not pause"
    row, col = tab.evaluate("[state.selected.row, state.selected.col]")
    assert row * 26 + col == step
    # The enlarged map: computed up to the window, blank after it.
    blank = tab.evaluate("""() => { const c = document.getElementById('zoom');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, out = [];
        for (let k = 0; k < d.length; k += 4)
          out.push(d[k] === BLANK[0] && d[k + 1] === BLANK[1] && d[k + 2] === BLANK[2]);
        return out; }""")
    assert blank == [k > step for k in range(26 * 26)]
    assert float(tab.text_content("#explained-value")) == pytest.approx(
        tab.evaluate(f"at(state.outputs[1], {row}, {col}, 2)"), abs=1e-4)


def test_no_serious_accessibility_violations(open_page):
    if not browser.AXE.is_file():
        pytest.skip(browser.NO_AXE)
    for width, height, hash in [(1366, 768, "image=0&layer=conv_2&map=5&row=4&col=4"), (390, 844, "image=3")]:
        tab = open_page(width, height, hash)
        if width < 700:
            tab.click("#clear")
        found = browser.axe_violations(tab)
        assert [v for v in found if v[0] in ("serious", "critical")] == [], found


def test_cnn_plus_page_opens_and_explains_a_padded_pixel(cnn_plus_page, chromium):
    _, page = cnn_plus_page
    tab = browser.open_page(chromium, page, 1366, 768, "image=0&layer=conv_1&map=0&row=0&col=0")
    assert tab.errors == []
    assert "with bn_1 and relu_1 folded in" in tab.text_content('.layer-card[data-layer="1"]')
    assert tab.locator(".grid.window td.pad").count() == 5  # a corner: 5 of the 9 window cells are padding
    assert float(tab.text_content("#explained-value")) == pytest.approx(
        tab.evaluate("at(state.outputs[1], 0, 0, 0)"), abs=1e-6)
    # No dnn beside it: no DNN column, no switch to a DNN, and the flow ends in its own softmax.
    assert tab.eval_on_selector_all("#bars thead th", "ths => ths.map(th => th.textContent)") == ["class", "CNN"]
    assert tab.is_hidden("#which")
    assert tab.eval_on_selector_all(".stage-name", "names => names.map(n => n.textContent)") == [
        "input", "conv_1", "pool_1", "conv_2a", "conv_2b", "pool_2", "conv_3", "pool_3", "dense", "softmax"]
    tab.close()


def test_the_network_at_a_glance(open_page):
    """At 1366x768 the first screen holds the input, the predictions and the flow. The flow lists the
    layers in order; clicking a layer there inspects it; its thumbnail is the map inspected, the lines to
    what it reads and to what reads it light up (fanned where a layer reads every map), and the
    neighbours show the maps it reads and that read it. The dense stage brings back the dense half."""
    tab = open_page(1366, 768, "image=19")
    for part in ("#drawing", "#bars", "#flow"):
        assert inside_viewport(rect(tab, part), 1366, 768), part
    assert tab.eval_on_selector_all(".stage-name", "names => names.map(n => n.textContent)") == [
        "input", "conv_1", "pool_1", "conv_2", "pool_2", "dense", "softmax"]
    tab.click('.stage[data-layer="3"] .stage-button')
    assert tab.is_visible("#inspector")
    channel = tab.evaluate("state.selected.channel")
    assert tab.evaluate("[state.selected.layer, state.selected.row, state.selected.col]") == tab.evaluate(
        f"[3, strongestPixel(state.outputs[3], {channel}).row, strongestPixel(state.outputs[3], {channel}).col]")
    assert tab.get_attribute('.stage[data-layer="3"] .stage-button', "aria-current") == "true"
    pixels = "sel => Array.from(document.querySelector(sel).getContext('2d').getImageData(0, 0, 11, 11).data)"
    assert tab.evaluate(pixels, '.stage[data-layer="3"] canvas') == tab.evaluate(pixels, MAP.format(
        layer=3, channel=channel) + " canvas"), "the thumbnail is the map inspected"
    lit = tab.eval_on_selector_all("#flow-lines line.on", "ls => ls.map(l => [l.dataset.from, l.dataset.to])")
    assert lit == [["2", "3"]] * 3 + [["3", "4"]], "three lines fan in from pool_1's maps, one goes on to pool_2"
    # What it reads: the pool_1 map the panel shows; what reads it: the same map of pool_2.
    source = re.search(r"pool_1 map (\d+)", tab.text_content("#source-caption")).group(1)
    assert f"showing map {source}:" in tab.get_attribute('.stage[data-layer="2"] .stage-button', "aria-label")
    assert f"showing map {channel}:" in tab.get_attribute('.stage[data-layer="4"] .stage-button', "aria-label")
    assert tab.text_content("#flow-hint") == (f"conv_2 filter {channel} reads all 64 maps of pool_1; "
                                              f"pool_2 map {channel} reads it")
    tab.click('.stage[data-kind="dense"] .stage-button')
    assert tab.is_hidden("#inspector") and tab.is_visible("#dense")
    assert inside_viewport(rect(tab, "#dense-layer-6"), 1366, 768)


def test_small_things_a_learner_would_notice(open_page, page_run):
    """The percentages never wrap; pooling maps have no sliding window; a silent map says so; a hovered
    thumbnail is not marked as the chosen one; Flatten is named once; the page names no folder of this
    machine; on a phone the softmax never breaks inside a term."""
    tab = open_page(390, 844, "image=0")
    lines = tab.eval_on_selector_all(".bar .value", """vs => vs.map(v => { v.textContent = '100.0%';
        return Math.round(v.getBoundingClientRect().height / parseFloat(getComputedStyle(v).lineHeight)); })""")
    assert lines == [1] * 20, "a percentage wraps"
    assert "Flatten:" not in tab.text_content("#dense") and tab.locator("#dense h3", has_text="Flatten").count() == 1
    folder = str(page_run[0].parent.parent)
    assert folder not in tab.text_content("body") and "/tmp" not in tab.text_content("body")
    terms = tab.eval_on_selector_all("#softmax .term", "ts => ts.map(t => [t.textContent, t.getClientRects().length])")
    assert ["e^z(T-shirt/top)", 1] in terms and all(count == 1 for _, count in terms)

    chosen, other = '.thumb[data-image="0"]', '.thumb[data-image="1"]'
    tab.hover(other)
    style = ("e => [getComputedStyle(e).borderColor, getComputedStyle(e).borderStyle, "
             "getComputedStyle(e).backgroundColor]")
    assert tab.eval_on_selector(other, style) != tab.eval_on_selector(chosen, style)

    # The units ringed in the dense half: a dark ring, then a light (up) or blue (down) one, so that
    # one of the two stands out at 3:1 from every colour a unit can have.
    rings = tab.evaluate("""['up', 'down'].map(kind => { const e = document.createElement('span');
        e.className = `unit ${kind}`; document.body.appendChild(e); const ring = getComputedStyle(e).boxShadow;
        e.remove(); return ring.match(/rgb[(][^)]*[)]/g); })""")
    cells = tab.evaluate("Array.from({length: 256}, "
                         "(_, k) => `rgb(${Array.from(colourOf(COLOURS.response, k / 255))})`)")
    for dark, ring in rings:
        assert min(max(contrast(dark, cell), contrast(ring, cell)) for cell in cells) >= 3

    tab.click(MAP.format(layer=2, channel=0))  # pool_1: no window slides there
    assert tab.is_hidden("#play") and tab.is_hidden("#pace")
    tab.keyboard.press("Escape")
    tab.click("#clear")  # nothing drawn: a filter with a negative bias is 0 everywhere
    silent = tab.evaluate("Array.from({length: 64}, (_, c) => c).find(c => mapTop(state.outputs[1], c) === 0)")
    assert silent is not None
    tab.click(MAP.format(layer=1, channel=silent))
    assert tab.is_visible("#play")
    assert "This map is 0 everywhere for this input" in tab.text_content("#zoom-note")



def test_names_that_spell_html_stay_text(chromium, fashion_mnist, tmp_path):
    """A model, a layer and a folder named with "<!--<script>" and "</script" (the sequences that end or
    change the state of a <script> element, wherever they stand in it): the page still loads and shows
    each name as text."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv<!--<script>")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Dense(10, activation="softmax", name="predictions")(keras.layers.Flatten(name="flatten")(x))
    model = keras.Model(inputs, x, name="cnn<!--<script>")
    folder = tmp_path / "run<!--<script><"  # the page names the file by folder and name: ...<</script.keras
    folder.mkdir()
    model.save(folder / "script.keras")
    _, (x_test, y_test) = fashion_mnist
    page = tmp_path / "explorer.html"
    page.write_text(explorer_page.page(explorer_page.load_runnable(folder / "script.keras"), folder / "script.keras",
                                       None, None, x_test, y_test))
    tab = browser.open_page(chromium, page, 1366, 768, "image=0&layer=conv%3C!--%3Cscript%3E&map=1")
    assert tab.errors == []
    assert tab.locator("script").count() == 1 + len(explorer_page.SCRIPTS)  # the data and the page's own
    assert tab.text_content("#layer-1").startswith("conv<!--<script>")
    assert tab.text_content("#inspector-title").startswith("conv<!--<script>, filter 1, ")
    models = tab.text_content("#models")
    assert "CNN: cnn<!--<script>, run<!--<script></script.keras: rescale → conv<!--<script> → pool" in models
    assert tab.title() == "CNN explorer: script.keras"
    tab.close()
