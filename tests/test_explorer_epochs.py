"""The explorer page's epoch control and its lists of where one network beats the other, with the moves
that shift a drawing by a pixel: against Keras, in a real headless browser.

The page is written by `python visualize.py explorer` from the suite's short run of train.py
(conftest's short_run: dnn and cnn, 3 epochs each, float32), so the snapshots and histories are
train.py's own. At every epoch the page's forward pass must equal Keras running the weights as the
page holds them (the float16 snapshots; the saved float32 model at the last epoch), epoch 0 must be
the model as train.py builds it, and the lists must be comparison.fixes' for the trained models.
One Chromium and one tab for the module (Playwright), and the page's own self-test
(explorer.html#selftest, benchmarks/chromium.py), which steps the control through every epoch.
"""

import base64
import contextlib
import io
import json
import re
import shutil

import browser
import keras
import numpy as np
import pytest
from browser import CHROMIUM, NO_CHROMIUM

import visualize
from convlab import comparison, explorer_page, recipe, runs, snapshots
from convlab.data import CLASS_NAMES
from helpers import DATA_DIR
from model import build_model

AGREEMENT = 1e-4  # the same float32 weights in Keras and in the page: only the order of the additions differs
NETWORKS = ("cnn", "dnn")


def page_json(page):
    """What the page embeds for its scripts (explorer_page.page_data), read back from the written file."""
    found = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page.read_text(), re.S)
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def run(short_run):
    return short_run[0]


@pytest.fixture(scope="module")
def kept(run):
    return {name: snapshots.load(runs.RunFolder(run).snapshots(name)) for name in NETWORKS}


@pytest.fixture(scope="module")
def saved(run):
    """The trained models as the page packs them (float32, loaded as visualize.py loads them)."""
    return {name: explorer_page.load_runnable(run / f"{name}.keras") for name in NETWORKS}


# Each weight array of a network (page.js's CNN or DNN), as base64 of its float32 bytes.
PAGE_WEIGHTS = """network => network.layers.filter(l => l.kernel).flatMap(l => [l.kernel.values, l.bias.values])
    .map(values => {
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      let text = "";
      for (let k = 0; k < bytes.length; k += 0x8000) text += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
      return btoa(text);
    })"""


def weights_in(page, name):
    """The weights a network computes with in the page now, each layer's kernel and bias: a quarter of a million
    numbers travel far faster as bytes than as JSON."""
    found = page.evaluate(f"({PAGE_WEIGHTS})({name.upper()})")
    return [np.frombuffer(base64.b64decode(values), "<f4") for values in found]


def at_epoch(model, weights, images):
    """Keras' probabilities with `weights` in the model (put back afterwards)."""
    trained = model.get_weights()
    model.set_weights(weights)
    try:
        return model.predict(images[..., None], verbose=0)
    finally:
        model.set_weights(trained)


@pytest.fixture(scope="module")
def page_run(run, tmp_path_factory):
    """`visualize.py explorer` on the run's cnn, and what it printed; in this process, where TensorFlow has
    loaded already (test_explorer.py runs the script itself)."""
    out = tmp_path_factory.mktemp("explorer")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setenv("FASHION_MNIST_DIR", str(DATA_DIR))
        visualize.main(["explorer", "--model", str(run / "cnn.keras"), "--out", str(out)])
    return out / "explorer.html", printed.getvalue()


@pytest.fixture(scope="module")
def page_results(page_run, tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    return browser.self_test(page_run[0], tmp_path_factory.mktemp("chromium"))


@pytest.fixture(scope="module")
def tab(page_run):
    """One tab for the module; show(hash) opens the page afresh on it (a reload: no state carried over)."""
    missing = browser.playwright_missing()
    if missing:
        pytest.skip(missing)
    with browser.browser() as chromium:
        opened = browser.open_page(chromium, page_run[0], 1366, 768)

        def show(hash="", page=page_run[0]):
            opened.goto(page.absolute().as_uri() + f"#{hash}")
            opened.reload()
            opened.wait_for_function("window.explorerReady === true")
            return opened

        opened.show = show
        yield opened
        assert opened.errors == [], opened.errors


# --- What the page holds ----------------------------------------------------------------


def test_the_page_holds_every_epoch_as_train_py_kept_it(page_run, kept):
    """Each epoch but the last as the snapshots' own float16, byte for byte; the last is the saved model in
    float32; the validation accuracy of each epoch from the history beside the model."""
    page, printed = page_run
    assert f"Wrote {page}: open it in a browser (the cnn, with the dnn beside it)" in printed
    data = page_json(page)
    for name in NETWORKS:
        network, snapshot = data[name], kept[name]
        assert network["epochs"]["kept"] == snapshot.epochs.tolist() == [0, 1, 2, 3]
        assert network["epochs"]["file"] == f"{name}_snapshots.npz" and network["noEpochs"] is None
        layers = [layer for layer in network["layers"] if "kernel" in layer]
        for layer in layers:
            for role in ("kernel", "bias"):
                rows = layer["epochs"][role]
                assert len(rows) == 3, (name, layer["name"], role)
                held = np.stack([np.frombuffer(base64.b64decode(row), "<f2") for row in rows])
                expected = snapshot.weights[snapshot.names.index(f"{layer['name']}/{role}")][:-1]
                np.testing.assert_array_equal(held, expected.reshape(3, -1))
    assert len(page.read_bytes()) < 10e6


def test_validation_accuracy_comes_from_the_history(page_run, run):
    data = page_json(page_run[0])
    for name in NETWORKS:
        history = json.loads((run / f"{name}_history.json").read_text())
        assert data[name]["epochs"]["accuracy"] == [None] + [row["val_accuracy"] for row in history]


def test_a_cnn_alone_without_snapshots_says_so_and_how_to_get_them(run, tab, tmp_path, capsys, monkeypatch):
    """A .keras file alone: the page runs it at its saved weights, and where the epoch control would be,
    says there are no snapshots and how to get them; visualize.py says the dnn is not there."""
    shutil.copy(run / "cnn.keras", tmp_path / "cnn.keras")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(DATA_DIR))
    visualize.main(["explorer", "--model", str(tmp_path / "cnn.keras")])
    page = tmp_path / "explorer.html"
    assert capsys.readouterr().out.strip().endswith(
        f"Wrote {page}: open it in a browser (the cnn alone: no dnn.keras beside it)")
    data = page_json(page)
    assert data["cnn"]["epochs"] is None and data["dnn"] is None and data["wins"] is None
    shown = tab.show("image=3", page)
    assert shown.is_hidden("#epoch-controls") and shown.is_hidden("#epoch-strip") and shown.is_hidden("#lists")
    assert shown.text_content("#epoch-note") == (
        f"CNN: no snapshots of this model (cnn_snapshots.npz is not beside it): {snapshots.HOW_TO_GET}")
    assert "epoch" not in shown.evaluate("location.hash")
    assert shown.text_content("#verdict").startswith("CNN: ")


def test_snapshots_damaged_or_of_another_training_are_named(run, saved, tmp_path):
    """No epochs then, and the reason with how to get them; never a crash, never this machine's folders."""
    model_file = tmp_path / "cnn.keras"
    (tmp_path / "cnn_snapshots.npz").write_bytes(b"not a zip")
    network = explorer_page.network(saved["cnn"], model_file)
    assert network["epochs"] is None
    assert network["noEpochs"] == f"cnn_snapshots.npz is damaged: {snapshots.HOW_TO_GET}"
    shutil.copy(run / "cnn_snapshots.npz", tmp_path / "cnn_snapshots.npz")
    other = build_model("cnn")  # the same layers, other weights: the snapshots do not end at them
    assert explorer_page.network(other, model_file)["noEpochs"] == (
        f"cnn_snapshots.npz holds the epochs of another training than cnn.keras's: {snapshots.HOW_TO_GET}")
    assert "epochs" not in explorer_page.network(other, model_file)["layers"][1]
    assert explorer_page.network(saved["cnn"], model_file)["epochs"]["kept"] == [0, 1, 2, 3]


# --- Every epoch against Keras: the page's self-test steps the control through them ----------


def test_every_epoch_equals_keras_on_the_weights_the_page_holds(page_results, saved, kept, fashion_mnist):
    """At every epoch, both networks' probabilities for the 200 embedded images equal Keras' with the float16
    weights the page holds (at the last epoch, the saved float32 model itself), within 1e-4."""
    _, (x_test, _) = fashion_mnist
    epochs = page_results["epochs"]
    images = x_test[: page_results["images"]]
    assert epochs["kept"] == [0, 1, 2, 3]
    for name in NETWORKS:
        assert sorted(map(int, epochs[name])) == [0, 1, 2, 3], name
        for epoch in range(4):
            expected = (saved[name].predict(images[..., None], verbose=0) if epoch == 3
                        else at_epoch(saved[name], kept[name].at(epoch), images))
            np.testing.assert_allclose(epochs[name][str(epoch)], expected, atol=AGREEMENT, rtol=0,
                                       err_msg=f"{name}, epoch {epoch}")
    # The buttons went from the first epoch to the last and back: 3 switches each way.
    assert len(epochs["firstMs"]) == len(epochs["againMs"]) == 3
    assert epochs["shownAtFirst"] == {"epoch": 0, "value": "epoch 0 of 3 (as built)", "slider": 0}
    print(f"\npage load {page_results['loadMs']:.0f} ms; epoch switches, first visit "
          f"{', '.join(f'{ms:.0f}' for ms in epochs['firstMs'])} ms, again "
          f"{', '.join(f'{ms:.0f}' for ms in epochs['againMs'])} ms")


def test_epoch_0_is_the_model_as_built_and_the_last_the_saved_model(tab, saved, page_results, fashion_mnist):
    """Epoch 0's weights are, rounded to float16, those of the model train.py builds with the run's seed; its
    answers stay within that rounding of the unrounded model's. After epoch 0, the last epoch's weights are
    the saved model's float32 weights again, bit for bit."""
    _, (x_test, _) = fashion_mnist
    images = x_test[: page_results["images"]]
    page = tab.show("image=0&epoch=0")
    for name in NETWORKS:
        keras.utils.set_random_seed(recipe.Settings.for_model(recipe.parse_model(name)).weights_seed)
        built = build_model(name)
        for ours, theirs in zip(weights_in(page, name), built.get_weights(), strict=True):
            np.testing.assert_array_equal(ours, theirs.astype(np.float16).astype(np.float32).ravel())
        difference = np.abs(np.array(page_results["epochs"][name]["0"]) -
                            built.predict(images[..., None], verbose=0)).max()
        print(f"\n{name} as built: page's epoch 0 (float16) vs the float32 model, largest difference {difference:.1e}")
        assert difference < 2e-3
    page.click("#epoch-next")
    page.focus("#epoch")
    page.keyboard.press("End")
    assert page.evaluate("state.epoch") == 3
    for name in NETWORKS:
        for ours, theirs in zip(weights_in(page, name), saved[name].get_weights(), strict=True):
            np.testing.assert_array_equal(ours, theirs.ravel())


def test_switching_epochs_recomputes_the_maps_the_arithmetic_and_the_dense_half(tab, saved, kept, fashion_mnist,
                                                                                run):
    """From the slider (the keyboard) and the buttons: the inspected pixel's arithmetic, the dense units and the
    probabilities are Keras' at the new epoch; the address, the words and the strip's mark follow."""
    _, (x_test, _) = fashion_mnist
    image = x_test[7:8]
    page = tab.show("image=7&layer=conv_1&map=3&row=12&col=12&scale=map&epoch=3")
    cnn = saved["cnn"]
    conv_1 = keras.Model(cnn.inputs, [cnn.get_layer("conv_1").output, cnn.get_layer("dense").output,
                                      cnn.output])
    history = json.loads((run / "cnn_history.json").read_text())
    page.click("#epoch-back")
    page.focus("#epoch")
    page.keyboard.press("ArrowLeft")  # epoch 1
    for epoch in (1, 0, 2):
        if epoch == 0:
            page.keyboard.press("Home")
        if epoch == 2:
            page.click("#epoch-next")
            page.click("#epoch-next")
        assert page.evaluate("state.epoch") == epoch
        trained = cnn.get_weights()
        cnn.set_weights(kept["cnn"].at(epoch))
        try:
            maps, units, probabilities = conv_1.predict(image[..., None], verbose=0)
        finally:
            cnn.set_weights(trained)
        title = page.text_content("#inspector-title")
        assert title == f"conv_1, filter 3, pixel (row 12, column 12) = {maps[0, 12, 12, 3]:.4f}", epoch
        shown_units = page.eval_on_selector_all('.units[data-layer="dense"] .unit',
                                                "us => us.map(u => Number(u.dataset.value))")
        np.testing.assert_allclose(shown_units, units[0], atol=AGREEMENT, rtol=0)
        bars = page.eval_on_selector_all("#bars .bar.cnn .value", "vs => vs.map(v => parseFloat(v.textContent))")
        np.testing.assert_allclose(bars, 100 * probabilities[0], atol=0.05 + 1e-3, rtol=0, err_msg=str(epoch))
        page.wait_for_function("e => location.hash.endsWith(`&epoch=${e}`)", arg=epoch, timeout=2000)
        assert page.text_content("#epoch-value").startswith(f"epoch {epoch} of 3")
        assert page.get_attribute("#epoch", "aria-valuetext") == f"epoch {epoch} of 3"
        accuracy = page.text_content("#epoch-accuracy")
        if epoch:
            assert f"CNN {100 * history[epoch - 1]['val_accuracy']:.1f}%" in accuracy
        else:
            assert accuracy == "Validation accuracy: none before training."
        now = float(page.get_attribute("#epoch-strip line.now", "x1"))
        marked = page.eval_on_selector_all("#epoch-strip circle.cnn[r='4']",
                                           "cs => cs.map(c => Number(c.getAttribute('cx')))")
        assert marked == ([now] if epoch else []), epoch  # epoch 0 has no validation accuracy to mark
    assert page.is_disabled("#epoch-back") is False and page.is_disabled("#epoch-next") is False
    page.click("#epoch-next")
    assert page.is_disabled("#epoch-next")
    assert "float16" in page.text_content("#epoch-note") and "float32" in page.text_content("#epoch-note")


def test_the_first_screen_still_holds_the_input_the_predictions_and_the_flow(tab):
    """At 1366x768, with the lists' switch above the test images and the move buttons under the canvas, the
    first screen still holds the input, the predictions and the network at a glance; the epoch control
    follows it."""
    page = tab.show("image=0")
    page.evaluate("scrollTo(0, 0)")  # a reload keeps the scroll of the test before
    flow = page.locator("#flow").bounding_box()
    assert page.locator("#epoch-controls").bounding_box()["y"] > flow["y"] + flow["height"]
    for part in ("#drawing", "#bars", "#flow"):
        box = page.locator(part).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 768 and box["x"] + box["width"] <= 1366, part


def test_the_epoch_control_and_the_lists_pass_axe(tab):
    """No serious or critical accessibility violation with the control at an epoch between and a list shown."""
    if not browser.AXE.is_file():
        pytest.skip(browser.NO_AXE)
    page = tab.show("image=5&epoch=1&list=dnn")
    found = browser.axe_violations(page)
    assert [v for v in found if v[0] in ("serious", "critical")] == [], found


def test_play_steps_through_the_epochs_and_pauses(tab):
    page = tab.show("image=0&epoch=3")
    page.click("#epoch-play")  # at the last epoch, play starts from the first
    assert page.evaluate("state.epoch") == 0 and page.get_attribute("#epoch-play", "aria-pressed") == "true"
    page.wait_for_function("state.epoch === 1", timeout=3000)
    page.click("#epoch-play")
    assert page.get_attribute("#epoch-play", "aria-pressed") == "false"
    page.wait_for_timeout(1200)
    assert page.evaluate("state.epoch") == 1, "pause did not pause"


# --- Where one network beats the other, and moving a drawing by a pixel -------------------


@pytest.fixture(scope="module")
def lists(saved, fashion_mnist):
    """comparison.fixes over all 10,000 test images for the trained models, each way the 24 clearest."""
    _, (x_test, y_test) = fashion_mnist
    answers = {name: saved[name].predict(x_test[..., None], batch_size=256, verbose=0) for name in NETWORKS}
    found = comparison.fixes("dnn", "cnn", answers, y_test)
    clearest = {winner: comparison.clearest(indices, answers[winner], answers[loser], y_test, 24)
                for winner, loser, indices in (("cnn", "dnn", found.fixed), ("dnn", "cnn", found.broken))}
    return answers, {"cnn": (found.fixed, clearest["cnn"]), "dnn": (found.broken, clearest["dnn"])}


def test_the_lists_are_comparison_fixes_of_the_embedded_models(tab, lists, fashion_mnist):
    _, (x_test, y_test) = fashion_mnist
    answers, expected = lists
    page = tab.show("image=0")
    shown = page.evaluate("DATA.wins.lists.map(l => [l.winner, l.total, l.indices, l.loserSays])")
    assert [[winner, total, indices] for winner, total, indices, _ in shown] == [
        [winner, len(every), chosen.tolist()] for winner, (every, chosen) in expected.items()]
    for winner, _, indices, loser_says in shown:
        loser = "dnn" if winner == "cnn" else "cnn"
        assert loser_says == answers[loser][indices].argmax(axis=1).tolist()
    assert page.text_content("#lists").count("right") == 2
    for winner, (every, chosen) in expected.items():
        page.check(f'input[name="list"][value="{winner}"]')
        thumbs = page.eval_on_selector_all("#gallery .thumb", "ts => ts.map(t => Number(t.dataset.image))")
        assert thumbs == chosen.tolist()
        pixels = page.evaluate("ks => ks.map(k => Array.from(EMBEDDED.get(k).pixels))", chosen.tolist())
        np.testing.assert_array_equal(np.array(pixels).reshape(-1, 28, 28), x_test[chosen])
        assert f"gets {len(every):,} of the 10,000 test images right" in page.text_content("#list-note")
        label = page.get_attribute(f'#gallery .thumb[data-image="{chosen[0]}"]', "aria-label")
        assert label.startswith(f"test image {chosen[0]}: {CLASS_NAMES[y_test[chosen[0]]]}; the {winner.upper()} "
                                "is right")
    page.wait_for_function("location.hash.endsWith('&list=dnn')", timeout=2000)


def test_moving_a_listed_image_changes_the_dnns_mind_and_moves_back(tab, lists, saved, fashion_mnist):
    """One pixel, from the move buttons' arrow keys, moves the image as comparison.shifted does (and changes
    the dnn's answer on an image found here with Keras); one move is one step of undo; moving back restores
    an image whose edge was black."""
    _, (x_test, y_test) = fashion_mnist
    answers, expected = lists
    listed = [int(k) for _, chosen in expected.values() for k in chosen]
    opposite = {"left": "right", "right": "left", "up": "down", "down": "up"}
    found = None
    for k in listed:
        for direction in ("right", "left", "up", "down"):
            moved = comparison.shifted(x_test[k:k + 1], 1, direction)
            after = saved["dnn"].predict(moved[..., None], verbose=0).argmax()
            back = comparison.shifted(moved, 1, opposite[direction])
            if after != answers["dnn"][k].argmax() and np.array_equal(back[0], x_test[k]):
                found = k, direction, moved[0], int(after)
                break
        if found:
            break
    assert found, "no listed image where a 1-pixel move changes the dnn's answer"
    k, direction, moved, dnn_after = found
    winner = "cnn" if k in expected["cnn"][1] else "dnn"
    page = tab.show(f"list={winner}")
    page.click(f'#gallery .thumb[data-image="{k}"]')
    pixels = "Array.from(state.pixels)"
    assert page.evaluate(pixels) == x_test[k].ravel().tolist()
    dnn_says = "argmax(probabilities(state.dnnOutputs))"
    assert page.evaluate(dnn_says) == answers["dnn"][k].argmax()
    page.focus('#move button[tabindex="0"]')
    key = {"right": "ArrowRight", "left": "ArrowLeft", "up": "ArrowUp", "down": "ArrowDown"}
    page.keyboard.press(key[direction])
    assert page.evaluate(pixels) == moved.ravel().tolist()
    assert page.evaluate(dnn_says) == dnn_after != answers["dnn"][k].argmax()
    name = CLASS_NAMES[y_test[k]]
    assert page.text_content("#source") == f"test image {k} moved 1 pixel {direction}, true class: {name}"
    offset = {"right": "0,1", "left": "0,-1", "up": "-1,0", "down": "1,0"}[direction]
    page.wait_for_function("m => location.hash.includes(`&move=${m}&`)", arg=offset, timeout=2000)
    assert page.evaluate("document.activeElement.dataset.direction") == direction
    page.keyboard.press(key[opposite[direction]])
    assert page.evaluate(pixels) == x_test[k].ravel().tolist()
    assert page.text_content("#source") == f"test image {k}, true class: {name}"
    page.keyboard.press("Control+z")  # one move back
    assert page.evaluate(pixels) == moved.ravel().tolist()
    page.keyboard.press("Control+z")
    assert page.evaluate(pixels) == x_test[k].ravel().tolist()
    page.click('#move button[data-direction="up"]')  # the buttons move it too
    assert page.evaluate(pixels) == comparison.shifted(x_test[k:k + 1], 1, "up")[0].ravel().tolist()
    # Moved twice the same way: one image moved 2 pixels, in the address and after a reload.
    page.click('#move button[data-direction="up"]')
    page.wait_for_function("location.hash.includes('&move=-2,0&')", timeout=2000)
    hash = page.evaluate("location.hash")[1:]
    again = tab.show(hash)
    assert again.evaluate(pixels) == comparison.shifted(x_test[k:k + 1], 2, "up")[0].ravel().tolist()
    assert again.text_content("#source") == f"test image {k} moved 2 pixels up, true class: {name}"
