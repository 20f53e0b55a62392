"""The explorer page's forward pass (convlab/explorer_page/forward.js) against Keras, in node.

The weights are packed exactly as the page embeds them (explorer_page.page_data), the script
runs in node on the embedded test images (tests/forward_in_node.js), and every layer's
output, the logits and the probabilities must equal Keras' own within 1e-4: for the course
CNN, the dnn, and cnn_plus (batch norm folded into its convs, SAME padding). So must the
arithmetic of single pixels. No browser needed; without node these tests are skipped.
"""

import json
import shutil
import subprocess

import keras
import numpy as np
import pytest

from convlab import explorer_page, snapshots
from helpers import REPO, cnn_plus_far_from_init
from model import with_mirror

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node (Debian's `nodejs` package) to run the page's "
                                                      "JavaScript outside a browser")
AGREEMENT = 1e-4  # float32 in Keras and in the script: only the order of the additions differs
IMAGES = 12


@pytest.fixture(scope="module")
def networks(model_dir, tmp_path_factory):
    """The three kinds of network the page runs, as load_runnable gives them (cnn_plus saved with
    its mirror, as train.py saves it, and loaded back: the page follows the network inside)."""
    folder = tmp_path_factory.mktemp("cnn_plus")
    with_mirror(cnn_plus_far_from_init()).save(folder / "cnn_plus.keras")
    return {"cnn": explorer_page.load_runnable(model_dir / "cnn.keras"),
            "dnn": explorer_page.load_runnable(model_dir / "dnn.keras"),
            "cnn_plus": explorer_page.load_runnable(folder / "cnn_plus.keras")}


def keras_name(layer):
    """The Keras layer whose output is this page layer's: the last one folded into it, if any."""
    return (layer.get("folded") or [layer["name"]])[-1]


def run_in_node(model, images, labels, folder, pixels=()):
    """forward.js on the packed model: each page layer's outputs, the logits, the explained pixels."""
    folder.mkdir(exist_ok=True)
    data = explorer_page.page_data(model, folder / "model.keras", None, None, images, labels)
    (folder / "data.json").write_text(json.dumps(data))
    (folder / "pixels.json").write_text(json.dumps(list(pixels)))
    done = subprocess.run([NODE, REPO / "tests" / "forward_in_node.js", folder / "data.json", folder, str(IMAGES),
                           folder / "pixels.json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    layers = json.loads((folder / "cnn.json").read_text())
    outputs = [np.fromfile(folder / f"cnn_{k}.f32", "<f4").reshape(IMAGES, *layer["shape"])
               for k, layer in enumerate(layers)]
    logits = np.fromfile(folder / "cnn_logits.f32", "<f4").reshape(IMAGES, -1)
    return layers, outputs, logits, json.loads((folder / "explained.json").read_text())


@pytest.mark.parametrize("name", ["cnn", "dnn", "cnn_plus"])
def test_every_layer_equals_keras(name, networks, fashion_mnist, tmp_path):
    model = networks[name]
    _, (x_test, y_test) = fashion_mnist
    layers, outputs, logits, _ = run_in_node(model, x_test, y_test, tmp_path / "node")
    images = x_test[:IMAGES, ..., None]
    names = [keras_name(layer) for layer in layers]
    expected = keras.Model(model.inputs, [model.get_layer(n).output for n in names]).predict(images, verbose=0)
    for layer, ours, theirs in zip(layers, outputs, expected):
        np.testing.assert_allclose(ours.reshape(theirs.shape), theirs, atol=AGREEMENT, rtol=0,
                                   err_msg=f"{name}: {layer['name']}")
    assert names[-1] == model.layers[-1].name and layers[-1]["type"] == "Dense"
    # The logits: the last layer's sums before its softmax, from the layer before's Keras output.
    kernel, bias = (w.astype(np.float64) for w in model.layers[-1].get_weights())
    np.testing.assert_allclose(logits, expected[-2].reshape(IMAGES, -1) @ kernel + bias, atol=AGREEMENT, rtol=0)
    if name == "cnn_plus":  # what the page runs of it: batch norm and ReLU folded into each conv
        assert [(layer["name"], layer["folded"]) for layer in layers if layer["folded"]] == [
            ("conv_1", ["bn_1", "relu_1"]), ("conv_2a", ["bn_2a", "relu_2a"]), ("conv_2b", ["bn_2b", "relu_2b"]),
            ("conv_3", ["bn_3", "relu_3"])]


def test_one_pixels_arithmetic_and_receptive_field(networks, fashion_mnist, tmp_path):
    """explainConv and explainPool give Keras' value at the strongest pixel of some maps and at the
    corners, on the course CNN and on cnn_plus (whose SAME-padded corners read 0 outside the image);
    the receptive field is the documented 3x3 (conv_1) and 8x8 (conv_2), and Keras' value at the
    pixel does not change when every image pixel outside that field does."""
    _, (x_test, y_test) = fashion_mnist
    for name in ("cnn", "cnn_plus"):
        model = networks[name]
        page_layers = explorer_page.page_layers(model)
        maps = [k for k, layer in enumerate(page_layers) if layer["type"] in ("Conv2D", "MaxPooling2D")]
        keras_model = keras.Model(model.inputs, [model.get_layer(keras_name(page_layers[k])).output for k in maps])
        values = keras_model.predict(x_test[:3, ..., None], verbose=0)
        pixels = []
        for image in range(3):
            for k, value in zip(maps, values):
                height, width, channels = value.shape[1:]
                for channel in (0, channels - 1):
                    row, col = np.unravel_index(value[image, ..., channel].argmax(), (height, width))
                    for where in [(row, col), (0, 0), (height - 1, width - 1)]:
                        pixels.append({"image": image, "layer": k, "channel": channel,
                                       "row": int(where[0]), "col": int(where[1])})
        *_, explained = run_in_node(model, x_test, y_test, tmp_path / name, pixels)
        for pixel, found in zip(pixels, explained):
            keras_value = values[maps.index(pixel["layer"])][pixel["image"], pixel["row"], pixel["col"],
                                                             pixel["channel"]]
            assert found["value"] == pytest.approx(found["map"], abs=1e-6), (name, pixel)
            assert found["value"] == pytest.approx(keras_value, abs=AGREEMENT), (name, pixel)
        if name == "cnn":
            sizes = {page_layers[p["layer"]]["name"]: (f["field"]["rows"], f["field"]["cols"])
                     for p, f in zip(pixels, explained)}
            assert sizes == {"conv_1": (3, 3), "pool_1": (4, 4), "conv_2": (8, 8), "pool_2": (10, 10)}
        # Outside its field, nothing reaches the pixel: scramble all of it and Keras' value stays.
        rng = np.random.default_rng(1)
        checked = list(zip(pixels, explained))[:: 5]
        scrambled = []
        for pixel, found in checked:
            field = found["field"]
            image = x_test[pixel["image"]].copy()
            inside = np.zeros(image.shape, bool)
            rows = slice(max(0, field["row"]), field["row"] + field["rows"])
            inside[rows, max(0, field["col"]): field["col"] + field["cols"]] = True
            image[~inside] = rng.integers(0, 256, (~inside).sum())
            scrambled.append(image)
        after = keras_model.predict(np.stack(scrambled)[..., None], verbose=0)
        for n, (pixel, found) in enumerate(checked):
            k, at = maps.index(pixel["layer"]), (pixel["row"], pixel["col"], pixel["channel"])
            expected = values[k][pixel["image"]][at]
            assert after[k][n][at] == pytest.approx(expected, abs=1e-5), (name, pixel, found["field"])


def test_every_epoch_of_cnn_plus_is_folded_as_keras_runs_it(networks, fashion_mnist, tmp_path):
    """The page folds batch norm into each conv again at every epoch, from that epoch's own float16 weights
    (forward.js, weightsAt): three epochs whose kernels, scales and statistics all differ give, in node,
    Keras' probabilities and logits for the weights as the page holds them (epochs 0 and 1 rounded to
    float16, the last the model's own float32)."""
    model = networks["cnn_plus"]
    trained = model.get_weights()
    rng = np.random.default_rng(2)
    floating = [np.issubdtype(w.dtype, np.floating) for w in trained]
    earlier = [[w * rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) if f else w for w, f in zip(trained, floating)]
               for _ in range(2)]
    kept = snapshots.Snapshots(np.array([0, 1, 2]), [w.path for w in model.weights],
                               [np.stack(ws).astype(np.float16) for ws in zip(*earlier, trained)])
    folder = tmp_path / "node"
    folder.mkdir()
    snapshots.save(kept, folder / "model_snapshots.npz")
    _, (x_test, y_test) = fashion_mnist
    run_in_node(model, x_test, y_test, folder)
    found = np.fromfile(folder / "cnn_epochs.f32", "<f4").reshape(3, IMAGES, -1)
    logits = np.fromfile(folder / "cnn_epoch_logits.f32", "<f4").reshape(3, IMAGES, -1)
    before_softmax = keras.Model(model.inputs, model.layers[-2].output)
    try:
        for epoch in range(3):
            for variable, value, f in zip(model.weights, kept.at(epoch) if epoch < 2 else trained, floating):
                if f:
                    variable.assign(value)
            np.testing.assert_allclose(found[epoch], model.predict(x_test[:IMAGES, ..., None], verbose=0),
                                       atol=AGREEMENT, rtol=0, err_msg=f"epoch {epoch}")
            kernel, bias = (w.astype(np.float64) for w in model.layers[-1].get_weights())
            hidden = before_softmax.predict(x_test[:IMAGES, ..., None], verbose=0).astype(np.float64)
            np.testing.assert_allclose(logits[epoch], hidden @ kernel + bias, atol=AGREEMENT, rtol=0)
    finally:
        model.set_weights(trained)
    assert not np.allclose(found[0], found[2], atol=1e-3), "the epochs differ"


def test_every_script_passes_node_check():
    """Each JavaScript file of the project parses (what CI's `node --check` runs)."""
    scripts = sorted(REPO.glob("convlab/explorer_page/*.js")) + sorted(REPO.glob("tests/*.js"))
    assert len(scripts) >= 7
    for script in scripts:
        checked = subprocess.run([NODE, "--check", script], capture_output=True, text=True)
        assert checked.returncode == 0, f"{script}: {checked.stderr}"
