"""The explorer page: one HTML file in which a trained CNN runs in the browser, layer by layer.

    python visualize.py explorer                  # the latest run's cnn (and dnn) -> explorer.html in its folder

This package packs the page. Its files are the page's parts: page.html, the skeleton;
style.css, the look; forward.js, the forward pass and the arithmetic of any one pixel
(plain JavaScript that knows nothing of the page, so the tests also run it in node);
and the scripts that draw the page and answer the learner (SCRIPTS). This module reads
the models, packs their weights and some test images into the page, and hands back
its text. Everything the page needs is inside it, so it opens offline by double-click,
with no server.

Weights travel as base64 of little-endian float32, the bytes Keras holds them in
(a mixed-precision model keeps float32 weights too), so the page starts from exactly
the numbers Keras starts from; images travel as base64 of uint8 pixels.

Every epoch before the last travels too, from the snapshots train.py keeps beside each
model (snapshots.py), as the float16 they are kept in: the page's epoch control switches
both networks to any of them, and its last epoch is the saved model itself, in float32.
A model folded for the page (below) is folded again at each epoch, by the page, from that
epoch's own weights. Where there are no snapshots the page says how to get them.

With a dnn beside the CNN, the page also lists the test images one network gets right and
the other wrong (comparison.py, over every test image given), the clearest first.

Models like model.py's cnn_plus are packed as Keras runs them at inference: the layers
that act only while training (Dropout, RandomFlip, RandomTranslation, ...) are left out,
a BatchNormalization is folded into the Conv2D or Dense before it (its running mean and
variance, gamma and beta become that layer's weights and bias), and an Activation layer
right after such a layer becomes its activation. The page then shows one conv layer
where Keras has three (conv_1, bn_1, relu_1), and computes the same numbers.

Used by visualize.py explorer and the notebook. How the project's checks open the page
in a browser lives in benchmarks/chromium.py and tests/browser.py.
"""

import base64
import html
import json
import re
from pathlib import Path

import numpy as np

from convlab import comparison, files, runs, saved_models, snapshots
from convlab.data import CLASS_NAMES
from convlab.runs import RunFolder
from convlab.saved_models import ModelFileError, check_classes, check_input_shape, load_model

PAGE_DIR = Path(__file__).resolve().parent
MARKER = re.compile(r"\{\{(\w+)\}\}")  # where page.html takes the style, the scripts, the data, the title
# The page's scripts, in the order they load: forward.js first (the others call it), page.js
# last (it starts the page once every function is defined).
SCRIPTS = ("forward.js", "flow.js", "dense.js", "inspector.js", "epochs.js", "selftest.js", "page.js")
# The page checks itself against Keras on every embedded image (explorer.html#selftest),
# so there are enough of them for that check to mean something; its gallery shows 50.
EMBEDDED_IMAGES = 200
# The test images listed where one network is right and the other wrong, each way: the clearest of
# them, embedded (784 bytes each) so the page stays small.
LISTED_IMAGES = 24
# What the page's forward pass can run: the layers of train.py's dnn, cnn and cnn_plus, with
# the settings under which the page computes exactly what Keras computes (a set: any of these).
SETTINGS = {
    "Rescaling": {},
    "Conv2D": {"padding": {"valid", "same"}, "strides": (1, 1), "dilation_rate": (1, 1), "groups": 1,
               "data_format": "channels_last"},
    "MaxPooling2D": {"padding": "valid", "data_format": "channels_last"},
    "BatchNormalization": {},  # over the last axis (the channels): see problem()
    "Activation": {},
    "Flatten": {},
    "Dense": {},
}
ACTIVATIONS = {"Conv2D": ("relu", "linear"), "Dense": ("relu", "softmax", "linear"),
               "Activation": ("relu", "linear")}
SUPPORTED_LAYERS = f"{', '.join(list(SETTINGS)[:-1])} and {list(SETTINGS)[-1]}"
# Layers that act only inside fit(): at inference they pass their input on unchanged, so the
# page leaves them out. RandomCrop is not one of them: at inference it crops the centre.
TRAINING_ONLY = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
                 "GaussianDropout", "GaussianNoise", "ActivityRegularization")
REFUSED_FIX = (f"The explorer runs models made of {SUPPORTED_LAYERS} layers (and training-only layers such as "
               "Dropout and RandomFlip, which it leaves out), like train.py's cnn and cnn_plus.\n"
               "Pass --model PATH to such a model, e.g. runs/RUN/cnn.keras.")


def dnn_beside(model_file):
    """The dnn train.py saved in the same run folder as the CNN, or None."""
    dnn_file = RunFolder(Path(model_file).parent).model("dnn")
    return dnn_file if dnn_file.is_file() else None


def load_runnable(model_file):
    """Load a model the page can run: 28x28x1 in, 10 probabilities out, supported layers only.

    For cnn_plus, the network inside its mirror average (saved_models.network): the page
    follows one image through the layers.
    """
    model = saved_models.network(load_model(model_file))
    check_input_shape(model, model_file)
    check_classes(model, model_file)
    check_runnable(model, model_file)
    return model


def page(cnn, cnn_file, dnn, dnn_file, images, labels):
    """The whole page as text: page.html with the style, the scripts and the data inlined.

    cnn, dnn: Keras models (dnn may be None); images: uint8 (N, 28, 28) test images,
    labels: their classes, both in test-set order from index 0.
    """
    parts = {
        "style": inlined("style.css"),
        "scripts": "\n".join(f"<script>\n// {name}\n{inlined(name)}</script>" for name in SCRIPTS),
        "data": script_json(page_data(cnn, cnn_file, dnn, dnn_file, images, labels)),
        "title": html.escape(f"CNN explorer: {Path(cnn_file).name}"),
    }
    template = read("page.html")
    assert sorted(MARKER.findall(template)) == sorted(parts), "page.html must hold each marker once"
    # One pass over the template: the text put in is never searched for markers itself.
    return MARKER.sub(lambda marker: parts[marker.group(1)], template)


def page_data(cnn, cnn_file, dnn, dnn_file, images, labels):
    """What the page's scripts read: the classes, the test images, each network's layers and weights
    (as forward.js runs them, at every epoch kept), the test images where one network beats the other,
    and the colour tables."""
    shown = np.asarray(images[:EMBEDDED_IMAGES], dtype=np.uint8)
    return {
        "classes": CLASS_NAMES,
        "images": {"pixels": packed(shown), "count": len(shown), "labels": [int(y) for y in labels[:len(shown)]]},
        "cnn": network(cnn, cnn_file),
        "dnn": network(dnn, dnn_file) if dnn is not None else None,
        "dnnExpected": shown_path(RunFolder(Path(cnn_file).parent).model("dnn")),
        "wins": wins(cnn, dnn, images, labels) if dnn is not None else None,
        "colours": colour_tables(),
    }


def wins(cnn, dnn, images, labels):
    """The test images the CNN gets right and the dnn wrong, and the reverse (comparison.fixes over all the
    images given), each way the LISTED_IMAGES clearest (comparison.clearest), with their pixels."""
    images, labels = np.asarray(images, dtype=np.uint8), np.asarray(labels)
    answers = {name: model.predict(images[..., None], batch_size=256, verbose=0)
               for name, model in (("cnn", cnn), ("dnn", dnn))}
    found = comparison.fixes("dnn", "cnn", answers, labels)
    lists = []
    for winner, loser, indices in (("cnn", "dnn", found.fixed), ("dnn", "cnn", found.broken)):
        chosen = comparison.clearest(indices, answers[winner], answers[loser], labels, count=LISTED_IMAGES)
        lists.append({"winner": winner, "loser": loser, "total": len(indices), "indices": chosen.tolist(),
                      "labels": labels[chosen].tolist(), "loserSays": answers[loser][chosen].argmax(axis=1).tolist(),
                      "pixels": packed(images[chosen])})
    return {"compared": len(images), "lists": lists}


def script_json(data):
    """JSON for a <script> element. Inside one, the HTML parser ends the element at "</script" and
    changes state at "<!--" and "<script", wherever they stand, strings included; a model, layer or
    folder name may spell them. JSON may write "<" as \\u003c, so no "<" is left to start either."""
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def read(name):
    return (PAGE_DIR / name).read_text(encoding="utf-8")


def inlined(name):
    """One of the page's own files, to go inside a <style> or <script> element: it must not end it early."""
    text = read(name)
    assert not re.search(r"</(script|style)|<!--", text, re.I), f"{name} spells the end of its element"
    return text


def network(model, model_file):
    """A model as the page runs it: its name, file, precision and layers, and its epochs: those kept with
    their validation accuracy, or why there are none."""
    kept, missing = kept_epochs(model, model_file)
    found = {"name": model.name, "file": shown_path(model_file), "precision": precision(model),
             "layers": page_layers(model, kept), "epochs": None, "noEpochs": missing}
    if kept is not None:
        found["epochs"] = {"kept": kept.epochs.tolist(), "file": RunFolder(Path(model_file).parent).snapshots(
            runs.model_name(model_file)).name, "accuracy": validation_accuracy(model_file, kept.epochs)}
    return found


def kept_epochs(model, model_file):
    """The snapshots beside model_file (snapshots.py) that end at this model's weights, and None; or None, and
    why there are none, with how to get them (snapshots.HOW_TO_GET). The page names no folder of this machine."""
    path = RunFolder(Path(model_file).parent).snapshots(runs.model_name(model_file))
    try:
        kept = snapshots.load(path)
    except snapshots.SnapshotError as error:
        return None, str(error).replace(str(path), path.name)
    now = {weight.path: weight.numpy() for weight in model.weights}
    ends_here = set(now) <= set(kept.names) and all(
        np.array_equal(value.astype(np.float16), kept.weights[kept.names.index(name)][-1])
        for name, value in now.items() if np.issubdtype(value.dtype, np.floating))
    if not ends_here:
        return None, (f"{path.name} holds the epochs of another training than {Path(model_file).name}'s: "
                      f"{snapshots.HOW_TO_GET}")
    if len(kept.epochs) < 2:
        return None, f"{path.name} holds the trained weights only: {snapshots.HOW_TO_GET}"
    return kept, None


def validation_accuracy(model_file, epochs):
    """The validation accuracy after each of `epochs`, from the history beside the model; None where it
    has none (epoch 0: as built; a history damaged or gone)."""
    try:
        history = files.read_json(RunFolder(Path(model_file).parent).history(runs.model_name(model_file)),
                                  default=[], kind=list)
    except files.DamagedFileError:
        history = []
    by_epoch = {row.get("epoch"): row.get("val_accuracy") for row in history if isinstance(row, dict)}
    return [by_epoch.get(int(epoch)) for epoch in epochs]


def precision(model):
    """The policy the layers compute with (a loaded mixed-precision model says float32 for itself):
    mixed_bfloat16 if train.py saved it so; the page then differs from Keras by bfloat16's rounding."""
    policies = {layer.dtype_policy.name for layer in model.layers}
    return next((policy for policy in sorted(policies) if policy != "float32"), "float32")


def shown_path(path):
    """A model file as the page names it: its run folder and file name (2026-05-01_093000-dnn-cnn/cnn.keras).
    Never the whole path: the page is a file to share, and where it was made is nobody's business."""
    return "/".join(Path(path).absolute().parts[-2:])


def check_runnable(model, model_file):
    """Raise ModelFileError, naming the layers and what is wrong with them, unless the page can run the model."""
    layers = computing_layers(model)
    problems = {}
    for previous, layer in zip([None, *kept_layers(layers)], kept_layers(layers)):
        what = problem(layer) or misplaced(previous, layer)
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


def training_only(layer):
    """True for a layer that changes its input only while training (Dropout, RandomFlip, ...)."""
    kind = type(layer).__name__
    return kind in TRAINING_ONLY or (kind.startswith("Random") and kind != "RandomCrop")


def kept_layers(layers):
    return [layer for layer in layers if not training_only(layer)]


def misplaced(previous, layer):
    """What keeps a BatchNormalization from being folded into the layer before it, or None."""
    if type(layer).__name__ != "BatchNormalization":
        return None
    if previous is None or type(previous).__name__ not in ("Conv2D", "Dense"):
        return "BatchNormalization not right after a Conv2D or Dense layer"
    import keras

    if keras.activations.serialize(previous.activation) != "linear":
        return "BatchNormalization after an activation (only one right after a Conv2D or Dense folds into it)"
    return None


def problem(layer):
    """What keeps the page from computing `layer` exactly as Keras does, or None.

    E.g. "LayerNormalization", or "Conv2D with strides=(2, 2)" (the page's convolution
    slides one pixel at a time, as train.py's models do).
    """
    import keras

    kind = type(layer).__name__
    if training_only(layer):
        return None
    if kind not in SETTINGS:
        return kind
    different = []
    for name, allowed in SETTINGS[kind].items():
        value = getattr(layer, name)
        if (value not in allowed) if isinstance(allowed, set) else value != allowed:
            different.append(f"{name}={value!r}")
    if kind == "BatchNormalization" and layer.axis not in (-1, len(layer.input.shape) - 1):
        different.append(f"axis={layer.axis!r}")
    if kind in ACTIVATIONS and keras.activations.serialize(layer.activation) not in ACTIVATIONS[kind]:
        different.append(f"activation={keras.activations.serialize(layer.activation)!r}")
    if kind == "MaxPooling2D" and (len(set(layer.pool_size)) > 1 or layer.strides != layer.pool_size):
        different.append(f"pool_size={layer.pool_size}, strides={layer.strides}")
    if kind == "Conv2D" and layer.padding == "same" and any(size % 2 == 0 for size in layer.kernel_size):
        different.append(f"padding='same' with an even kernel_size={layer.kernel_size}")
    if kind == "Rescaling" and (np.ndim(layer.scale) or np.ndim(layer.offset)):
        different.append("a scale or offset per channel")
    return f"{kind} with {', '.join(different)}" if different else None


def page_layers(model, kept=None):
    """The model's layers as the page runs them (after check_runnable): training-only layers left out,
    each BatchNormalization folded into the Conv2D or Dense before it, and an Activation right after a
    layer without one made that layer's activation. A folded layer lists what it took in, under "folded".
    With `kept` (snapshots.Snapshots), each layer with weights also holds them at every epoch but the last,
    under "epochs" (held_epochs)."""
    import keras

    found = []
    for layer in kept_layers(computing_layers(model)):
        kind = type(layer).__name__
        last = found[-1] if found else None
        if kind == "BatchNormalization":
            fold_batch_norm(last, layer)
        elif (kind == "Activation" and last and last["type"] in ("Conv2D", "Dense")
              and last["activation"] == "linear"):
            last["activation"] = keras.activations.serialize(layer.activation)
            last["folded"].append(layer.name)
        else:
            found.append(spec(layer))
    for layer in found:
        for name in ("kernel", "bias"):
            if name in layer:
                layer[name] = {"shape": list(layer[name].shape), "data": packed(layer[name])}
        sources = layer.pop("sources", None)
        if sources and kept is not None:
            layer["epochs"] = held_epochs(sources, kept)
    return found


def held_epochs(sources, kept):
    """A layer's weights at each epoch of `kept` but the last (the saved model's own, in float32, is the
    layer's kernel and bias), as the float16 train.py kept them: one base64 string per epoch, for the page to
    decode an epoch when the learner first goes to it. Unfolded: with a BatchNormalization folded into the
    layer, its gamma, beta, mean and variance come too, and the page folds each epoch as fold_batch_norm does."""
    def rows(path):
        return [packed16(row) for row in kept.weights[kept.names.index(path)][:-1]]

    held = {role: rows(path) for role, path in sources.items() if role != "epsilon" and path is not None}
    if "mean" in sources:
        held["epsilon"] = sources["epsilon"]
    return held


def fold_batch_norm(conv, norm):
    """Fold a BatchNormalization (inference: (x - mean) / sqrt(var + eps) * gamma + beta) into the
    weights of the Conv2D or Dense spec before it: kernel * gamma / sqrt(var + eps) per output
    channel, bias (bias - mean) * gamma / sqrt(var + eps) + beta. In float64, then float32."""
    mean = norm.moving_mean.numpy().astype(np.float64)
    variance = norm.moving_variance.numpy().astype(np.float64)
    gamma = norm.gamma.numpy().astype(np.float64) if norm.scale else np.ones_like(mean)
    beta = norm.beta.numpy().astype(np.float64) if norm.center else np.zeros_like(mean)
    factor = gamma / np.sqrt(variance + norm.epsilon)
    conv["kernel"] = conv["kernel"].astype(np.float64) * factor
    conv["bias"] = (conv["bias"].astype(np.float64) - mean) * factor + beta
    conv["folded"].append(norm.name)
    conv["sources"].update(gamma=norm.gamma.path if norm.scale else None, beta=norm.beta.path if norm.center else None,
                           mean=norm.moving_mean.path, variance=norm.moving_variance.path, epsilon=float(norm.epsilon))


def spec(layer):
    """One layer, checked by `problem`, as the page runs it: its kind, settings and weights
    (kernel and bias as NumPy arrays here; page_layers packs them)."""
    import keras

    kind = type(layer).__name__
    found = {"type": kind, "name": layer.name}
    if kind in ACTIVATIONS:
        found["activation"] = keras.activations.serialize(layer.activation)
    if kind == "Rescaling":
        found.update(scale=float(layer.scale), offset=float(layer.offset))
    if kind == "MaxPooling2D":
        found["size"] = layer.pool_size[0]
    if kind == "Conv2D":
        found["padding"] = layer.padding
    if kind in ("Conv2D", "Dense"):
        # sources: where each weight is among model.weights, for the epochs (held_epochs); not packed
        found.update(weights(layer), folded=[], sources={"kernel": layer.kernel.path,
                                                         "bias": layer.bias.path if layer.use_bias else None})
    return found


def weights(layer):
    """A Conv2D's or Dense layer's kernel (Keras' own axis order) and bias (zeros without one)."""
    kernel = layer.kernel.numpy()
    bias = layer.bias.numpy() if layer.use_bias else np.zeros(kernel.shape[-1], np.float32)
    return {"kernel": kernel, "bias": bias}


def packed(array):
    """base64 of the array's bytes: uint8 stays uint8, anything else becomes little-endian float32."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = array.astype("<f4")
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def packed16(array):
    """base64 of the array as little-endian float16: the snapshots' own numbers (snapshots.py)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f2").tobytes()).decode("ascii")


def colour_tables():
    """The colour maps of the project's figures (figures.py), 256 RGB steps each, for the page's maps."""
    import matplotlib

    from convlab import figures

    steps = np.linspace(0, 1, 256)
    table = {"response": figures.RESPONSE_COLOURS(steps),
             "kernel": matplotlib.colormaps["RdBu_r"](steps)}  # as figures.py draws filters: red +, blue -
    return {name: packed(np.round(rgba[:, :3] * 255).astype(np.uint8)) for name, rgba in table.items()}
