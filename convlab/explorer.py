"""The explorer page: one HTML file in which a trained CNN runs in the browser, layer by layer.

    python visualize.py explorer                  # the latest run's cnn (and dnn) -> explorer.html in its folder

The page's HTML, CSS and JavaScript are files of their own in explorer/; this module
only reads the models, packs their weights and some test images into the page, and
hands back its text. Everything the page needs is inside it, so it opens offline by
double-click, with no server.

Weights travel as base64 of little-endian float32, the bytes Keras holds them in
(a mixed-precision model keeps float32 weights too), so the page starts from exactly
the numbers Keras starts from; images travel as base64 of uint8 pixels.
"""

import base64
import html
import json
import re
import subprocess
from pathlib import Path

import numpy as np

from convlab.runs import RunFolder
from convlab.data import CLASS_NAMES
from convlab.saved_models import ModelFileError, check_classes, check_input_shape, load_model

PAGE_DIR = Path(__file__).resolve().parents[1] / "explorer"
MARKER = re.compile(r"\{\{(\w+)\}\}")  # where page.html takes the style, the script, the data, the title
# The page checks itself against Keras on every embedded image (explorer.html#selftest),
# so there are enough of them for that check to mean something; its gallery shows 50.
EMBEDDED_IMAGES = 200
# What the page's forward pass can run: the layers train.py's dnn and cnn are made of, with
# the settings under which the page computes exactly what Keras computes.
SETTINGS = {
    "Rescaling": {},
    "Conv2D": {"padding": "valid", "strides": (1, 1), "dilation_rate": (1, 1), "groups": 1,
               "data_format": "channels_last"},
    "MaxPooling2D": {"padding": "valid", "data_format": "channels_last"},
    "Flatten": {},
    "Dense": {},
}
ACTIVATIONS = {"Conv2D": ("relu", "linear"), "Dense": ("relu", "softmax", "linear")}
SUPPORTED_LAYERS = f"{', '.join(list(SETTINGS)[:-1])} and {list(SETTINGS)[-1]}"
# How the project's checks open the page: Debian's `chromium`, headless, and kept off the
# network (the page must need none).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REFUSED_FIX = (f"The explorer runs models made of {SUPPORTED_LAYERS} layers only, like train.py's cnn "
               "(any --conv-filters).\nPass --model PATH to such a model, e.g. runs/RUN/cnn.keras.")


def dnn_beside(model_file):
    """The dnn train.py saved in the same run folder as the CNN, or None."""
    dnn_file = RunFolder(Path(model_file).parent).model("dnn")
    return dnn_file if dnn_file.is_file() else None


def load_runnable(model_file):
    """Load a model the page can run: 28x28x1 in, 10 probabilities out, supported layers only."""
    model = load_model(model_file)
    check_input_shape(model, model_file)
    check_classes(model, model_file)
    check_runnable(model, model_file)
    return model


def page(cnn, cnn_file, dnn, dnn_file, images, labels):
    """The whole page as text: explorer/page.html with the style, the script and the data inlined.

    cnn, dnn: Keras models (dnn may be None); images: uint8 (N, 28, 28) test images,
    labels: their classes, both in test-set order from index 0.
    """
    images = np.asarray(images[:EMBEDDED_IMAGES], dtype=np.uint8)
    data = {
        "classes": CLASS_NAMES,
        "images": {"pixels": packed(images), "count": len(images), "labels": [int(y) for y in labels[:len(images)]]},
        "cnn": network(cnn, cnn_file),
        "dnn": network(dnn, dnn_file) if dnn is not None else None,
        "dnnExpected": shown_path(RunFolder(Path(cnn_file).parent).model("dnn")),
        "colours": colour_tables(),
    }
    # JSON inside <script> is safe as long as it never spells "</": base64, numbers and
    # class names never do, and escaping "/" makes sure of it.
    parts = {
        "style": read("style.css"),
        "script": read("explorer.js"),
        "data": json.dumps(data, separators=(",", ":")).replace("/", "\\/"),
        "title": html.escape(f"CNN explorer: {Path(cnn_file).name}"),
    }
    template = read("page.html")
    assert sorted(MARKER.findall(template)) == sorted(parts), "explorer/page.html must hold each marker once"
    # One pass over the template: the text put in is never searched for markers itself.
    return MARKER.sub(lambda marker: parts[marker.group(1)], template)


def read(name):
    return (PAGE_DIR / name).read_text(encoding="utf-8")


def network(model, model_file):
    """A model as the page runs it: its name, file, precision and layers."""
    return {"name": model.name, "file": shown_path(model_file), "precision": precision(model),
            "layers": [spec(layer) for layer in computing_layers(model)]}


def precision(model):
    """The policy the layers compute with (a loaded mixed-precision model says float32 for itself):
    mixed_bfloat16 if train.py saved it so; the page then differs from Keras by bfloat16's rounding."""
    policies = {layer.dtype_policy.name for layer in model.layers}
    return next((policy for policy in sorted(policies) if policy != "float32"), "float32")


def shown_path(path):
    """A path as the page shows it: relative to the current folder when inside it (runs/cnn.keras)."""
    path = Path(path).absolute()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def check_runnable(model, model_file):
    """Raise ModelFileError, naming the layers and what is wrong with them, unless the page can run the model."""
    layers = computing_layers(model)
    problems = {}
    for layer in layers:
        what = problem(layer)
        if what:
            problems.setdefault(what, []).append(layer.name)
    if problems:
        listed = "; ".join(f"{what} ({', '.join(names)})" for what, names in problems.items())
        raise ModelFileError(f"{model_file} (model '{model.name}') has layers the explorer page cannot run: "
                             f"{listed}.\n{REFUSED_FIX}")
    # The page passes each layer's output to the next: the model must be one chain.
    if any(layer.input is not previous.output for previous, layer in zip(layers, layers[1:])):
        raise ModelFileError(f"{model_file} (model '{model.name}') is not a single chain of layers.\n{REFUSED_FIX}")


def computing_layers(model):
    import keras

    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def problem(layer):
    """What keeps the page from computing `layer` exactly as Keras does, or None.

    E.g. "BatchNormalization", or "Conv2D with padding='same'" (the page's convolution only
    slides where the filter fits, as train.py's cnn does).
    """
    import keras

    kind = type(layer).__name__
    if kind not in SETTINGS:
        return kind
    different = [f"{name}={getattr(layer, name)!r}" for name, value in SETTINGS[kind].items()
                 if getattr(layer, name) != value]
    if kind in ACTIVATIONS and keras.activations.serialize(layer.activation) not in ACTIVATIONS[kind]:
        different.append(f"activation={keras.activations.serialize(layer.activation)!r}")
    if kind == "MaxPooling2D" and (len(set(layer.pool_size)) > 1 or layer.strides != layer.pool_size):
        different.append(f"pool_size={layer.pool_size}, strides={layer.strides}")
    if kind == "Rescaling" and (np.ndim(layer.scale) or np.ndim(layer.offset)):
        different.append("a scale or offset per channel")
    return f"{kind} with {', '.join(different)}" if different else None


def spec(layer):
    """One layer, checked by `problem`, as the page runs it: its kind, settings and weights."""
    import keras

    kind = type(layer).__name__
    found = {"type": kind, "name": layer.name}
    if kind in ACTIVATIONS:
        found["activation"] = keras.activations.serialize(layer.activation)
    if kind == "Rescaling":
        found.update(scale=float(layer.scale), offset=float(layer.offset))
    if kind == "MaxPooling2D":
        found["size"] = layer.pool_size[0]
    if kind in ("Conv2D", "Dense"):
        found.update(weights(layer))
    return found


def weights(layer):
    """A Conv2D's or Dense layer's kernel (Keras' own axis order) and bias (zeros without one)."""
    kernel = layer.kernel.numpy()
    bias = layer.bias.numpy() if layer.use_bias else np.zeros(kernel.shape[-1])
    return {"kernel": {"shape": list(kernel.shape), "data": packed(kernel)},
            "bias": {"shape": list(bias.shape), "data": packed(bias)}}


def packed(array):
    """base64 of the array's bytes: uint8 stays uint8, anything else becomes little-endian float32."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = array.astype("<f4")
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def colour_tables():
    """The colour maps of the project's figures (figures.py), 256 RGB steps each, for the page's maps."""
    import matplotlib

    from convlab import figures

    steps = np.linspace(0, 1, 256)
    table = {"response": figures.RESPONSE_COLOURS(steps),
             "kernel": matplotlib.colormaps["RdBu_r"](steps)}  # as figures.py draws filters: red +, blue -
    return {name: packed(np.round(rgba[:, :3] * 255).astype(np.uint8)) for name, rgba in table.items()}


def self_test(page, chromium, profile_dir):
    """Open `page`#selftest in headless Chromium and return what the page wrote into itself.

    The page runs its networks on every embedded image and clicks one pixel per feature-map
    layer (explorer.js, selfTest): {"images", "cnn", "dnn" (probabilities per image),
    "cnnClasses", "dnnClasses", "forwardMs", "updateMs", "clicks"}.
    """
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--dump-dom",
                          f"{Path(page).absolute().as_uri()}#selftest"],
                         capture_output=True, text=True, timeout=300).stdout
    # The last match: the script's own text, dumped above it, may mention the element.
    found = re.findall(r'<pre id="selftest">(\{.*?\})</pre>', dom, re.S)
    if not found:
        raise RuntimeError(f"{page}#selftest wrote no results; the end of its page:\n{dom[-2000:]}")
    return json.loads(html.unescape(found[-1]))
