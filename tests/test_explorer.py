"""visualize.py explorer: the page's JavaScript forward pass against Keras, in a real headless browser.

The page, opened as explorer.html#selftest, runs its CNN and DNN on every embedded test
image, clicks one pixel of each feature-map layer and writes the results into itself;
Chromium's --dump-dom hands them back (tests/browser.py). Needs Debian's `chromium`
package (.ci/run installs it). The page as a learner uses it (screen sizes, keys, the
address, undo, the dense half, axe-core) is tested at the end, with Playwright driving
that Chromium.
"""

import re
import shutil

import keras
import numpy as np
import pytest

import browser
from convlab import explorer_page, feature_maps
import visualize
from browser import CHROMIUM, NO_CHROMIUM
from convlab.data import CLASS_NAMES
from conftest import DATA_DIR, mixed_bfloat16_copy, run_script
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
    """cnn_plus, untrained but with batch-norm statistics and scales far from their initial
    0 and 1 (else folding them would change nothing), saved with its mirror as train.py saves it,
    loaded back (the network inside: the page follows one image) and written as a page."""
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


MAP = '.layer-card[data-layer="{layer}"] .map[data-channel="{channel}"]'


@pytest.mark.parametrize("width, height", SIZES)
def test_no_sideways_scrolling_and_the_arithmetic_beside_its_map(open_page, width, height):
    tab = open_page(width, height)
    assert tab.evaluate("document.documentElement.scrollWidth") <= width
    assert tab.evaluate(WIDEST_ELEMENT) <= width + 0.5
    if width < 700:  # a phone: the canvas and the predictions on the first screen together
        assert inside_viewport(rect(tab, "#drawing"), width, height)
        assert inside_viewport(rect(tab, "#bars"), width, height)
    # No pixel is selected until the learner selects one.
    assert tab.is_hidden("#inspector") and tab.is_hidden("#drawing-mark")
    assert tab.locator('.map[aria-pressed="true"]').count() == 0

    selected = MAP.format(layer=3, channel=20)  # conv_2: its arithmetic is the longest
    tab.click(selected)
    tab.wait_for_timeout(100)
    assert tab.is_visible("#explanation")
    assert tab.evaluate("document.documentElement.scrollWidth") <= width
    assert tab.evaluate(WIDEST_ELEMENT) <= width + 0.5
    # The arithmetic wraps inside its panel, and the clicked map stays in sight beside it.
    assert tab.eval_on_selector("#inspector", "e => e.scrollWidth <= e.clientWidth")
    panel, chosen = rect(tab, "#inspector"), rect(tab, selected)
    assert inside_viewport(chosen, width, height) and not overlap(chosen, panel)
    assert rect(tab, "#explanation")["top"] < height  # the arithmetic starts on screen


def test_keyboard_reaches_the_maps_and_the_enlarged_map(open_page):
    tab = open_page(1366, 768)
    for _ in range(120):  # Tab through the controls until the first map (one tab stop per layer)
        tab.keyboard.press("Tab")
        if tab.evaluate("document.activeElement.classList.contains('map')"):
            break
        presses = _ + 1
    assert tab.evaluate("document.activeElement.getAttribute('aria-label')") == "conv_1 filter 0"
    assert presses <= 15, "one tab stop per group of maps or images, not one per map"
    outline = tab.evaluate("(e => [getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineWidth])"
                           "(document.activeElement)")
    assert outline[0] != "none" and float(outline[1].rstrip("px")) >= 2, "no visible focus"
    columns = int(tab.evaluate("getComputedStyle(document.activeElement.parentNode).getPropertyValue('--columns')"))
    tab.keyboard.press("ArrowRight")
    tab.keyboard.press("ArrowDown")  # a row of maps down
    assert tab.evaluate("document.activeElement.getAttribute('aria-label')") == f"conv_1 filter {1 + columns}"
    for _ in range(1 + columns - 9):
        tab.keyboard.press("ArrowLeft")
    assert tab.evaluate("document.activeElement.getAttribute('aria-label')") == "conv_1 filter 9"
    assert tab.is_hidden("#inspector")
    tab.keyboard.press("Enter")  # the arithmetic of the map's strongest pixel; the focus on the enlarged map
    assert tab.evaluate("document.activeElement.id") == "zoom"
    first = tab.evaluate("[state.selected.row, state.selected.col, Number(document.getElementById("
                         "'explained-value').dataset.value)]")
    strongest = tab.evaluate("(() => { const t = state.outputs[1]; let best = 0;"
                             " for (let k = 9; k < t.data.length; k += 64) best = Math.max(best, t.data[k]);"
                             " return best; })()")
    assert first[2] == pytest.approx(strongest, abs=1e-6)
    tab.keyboard.press("ArrowDown" if first[0] < 25 else "ArrowUp")
    moved = tab.evaluate("[state.selected.row, state.selected.col]")
    assert moved == [first[0] + (1 if first[0] < 25 else -1), first[1]]
    tab.wait_for_function("row => location.hash.includes(`row=${row}&`)", arg=moved[0], timeout=2000)
    tab.keyboard.press("Shift+Tab")
    assert tab.evaluate("document.activeElement.id") == "close"
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.id") == "zoom"
    tab.keyboard.press("Escape")
    assert tab.is_hidden("#inspector")
    assert tab.evaluate("document.activeElement.getAttribute('aria-label')") == "conv_1 filter 9"


def test_keyboard_loads_a_test_image(open_page):
    tab = open_page(390, 844)
    tab.locator(".thumb").first.focus()  # the first T-shirt/top
    tab.keyboard.press("ArrowDown")  # the next class
    tab.keyboard.press("ArrowRight")
    expected = tab.evaluate("document.querySelectorAll('.thumb')[6].dataset.image")
    assert tab.evaluate("document.activeElement.dataset.image") == expected
    tab.keyboard.press("Enter")
    assert tab.text_content("#source").startswith(f"test image {expected}, ")
    address(tab, f"#image={expected}&scale=map")


def test_keyboard_draws_and_undoes(open_page):
    tab = open_page(1366, 768, "image=1")
    before = tab.evaluate("Array.from(state.pixels)")
    tab.focus("#drawing")
    assert tab.is_visible("#pen")
    for key in ["ArrowLeft"] * 10 + ["ArrowUp"] * 12:  # to row 2, column 4: black in test image 1
        tab.keyboard.press(key)
    tab.keyboard.press(" ")
    after = tab.evaluate("Array.from(state.pixels)")
    assert after[2 * 28 + 4] == 255 and before[2 * 28 + 4] < 255
    assert tab.text_content("#source") == "your drawing"
    tab.keyboard.press("Shift+ArrowRight")
    assert tab.evaluate("state.pixels[2 * 28 + 5]") == 255
    tab.keyboard.press("Control+z")
    tab.keyboard.press("Control+z")
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
        units = tab.eval_on_selector_all('.units[data-layer="dense"] .unit', "us => us.map(u => Number(u.dataset.value))")
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


def test_the_window_slides_row_by_row(open_page):
    tab = open_page(1366, 768, "image=0&layer=conv_1&map=2&row=0&col=0")
    tab.select_option("#pace", "25")
    tab.click("#play")
    tab.wait_for_timeout(600)
    tab.click("#play")  # pause
    step = int(tab.get_attribute("#slide-status", "data-step"))
    assert 3 <= step < 26 * 26 - 1
    tab.wait_for_timeout(200)
    assert int(tab.get_attribute("#slide-status", "data-step")) == step, "the pause button did not pause"
    row, col = tab.evaluate("[state.selected.row, state.selected.col]")
    assert row * 26 + col == step
    # The enlarged map: computed up to the window, blank after it.
    blank = tab.evaluate("""() => { const c = document.getElementById('zoom');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, out = [];
        for (let k = 0; k < d.length; k += 4) out.push(d[k] === 42 && d[k + 1] === 51 && d[k + 2] === 64);
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
    tab.close()
