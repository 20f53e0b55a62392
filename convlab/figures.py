"""Every figure of the project, drawn with matplotlib.

Functions here take numbers and return a matplotlib Figure; the callers (report.py
for train.py, visualize.py, predict.py, the notebook) decide where it is saved (save)
or shown. The scripts draw off-screen with matplotlib's Agg backend;
in Jupyter the figures show inline.
"""

import sys

import matplotlib

if "ipykernel" not in sys.modules:  # a script or a test: no window, the figures go to PNG files
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from convlab import files  # noqa: E402
from convlab.feature_maps import mosaic, tile_corners  # noqa: E402

DPI = 100  # every saved figure's resolution: sharp on a laptop screen, a few hundred KB a figure


def save(figure, path):
    """Write a figure as a PNG file, whole or not at all, and close it."""
    try:
        with files.atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=DPI)
    finally:
        plt.close(figure)


def as_html_image(figure, alt):
    """The figure as an HTML <img> described by `alt`, and closed: how the notebook shows its figures, so that
    a screen reader, and the page nbconvert renders, say what each one shows."""
    import base64
    import html
    import io

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=DPI)
    finally:
        plt.close(figure)
    return (f'<img alt="{html.escape(alt)}" style="max-width: 100%" '
            f'src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">')


def training_curves(histories):
    """Accuracy and loss per epoch, training (solid) vs validation (dashed), all models."""
    figure, (accuracy_axis, loss_axis) = plt.subplots(1, 2, figsize=(11, 4))
    all_epochs = sorted({row["epoch"] for rows in histories.values() for row in rows})
    for (name, rows), colour in zip(histories.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        epochs = [row["epoch"] for row in rows]
        for axis, metric in ((accuracy_axis, "accuracy"), (loss_axis, "loss")):
            axis.plot(epochs, [row[metric] for row in rows], "-o", color=colour, ms=3, label=f"{name} training")
            if rows and f"val_{metric}" in rows[0]:
                axis.plot(epochs, [row[f"val_{metric}"] for row in rows], "--s", color=colour, ms=3,
                          label=f"{name} validation")
    for axis, metric in ((accuracy_axis, "Accuracy"), (loss_axis, "Loss")):
        axis.set(title=metric, xlabel="epoch", ylabel=metric.lower())
        axis.xaxis.get_major_locator().set_params(integer=True)
        if len(all_epochs) == 1:  # one point: the locator would fall back to ticks like 0.98, 1.02
            axis.set_xticks(all_epochs)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def confusion_matrix(matrix, class_names, title):
    """Test-set confusion matrix: rows are true classes, columns predictions."""
    matrix = np.asarray(matrix)
    figure, axis = plt.subplots(figsize=(7.5, 6.5))
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="test images")
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=45, ha="right")
    axis.set_yticks(ticks, class_names)
    axis.set(xlabel="predicted class", ylabel="true class", title=title)
    threshold = matrix.max() / 2
    for (row, col), count in np.ndenumerate(matrix):
        axis.text(col, row, count, ha="center", va="center", fontsize=7,
                  color="white" if count > threshold else "black")
    figure.tight_layout()
    return figure



def per_class_accuracy(results, class_names=None):
    """Test accuracy per class, one bar per model in each class's group: where convolutions help.

    results: {model name: its results, with "per_class_accuracy": {class name: fraction}},
    as report.summarize gives them; the bars follow the order of results, and of class_names
    (default: the classes of the first model's results, in their order).
    """
    names = list(results)
    class_names = list(class_names or results[names[0]]["per_class_accuracy"])
    width = 0.8 / len(names)
    positions = np.arange(len(class_names))
    figure, axis = plt.subplots(figsize=(11, 4.2))
    for index, name in enumerate(names):
        accuracy = [results[name]["per_class_accuracy"][class_name] for class_name in class_names]
        axis.bar(positions + (index - (len(names) - 1) / 2) * width, accuracy, width, label=name)
    axis.set_xticks(positions, class_names, rotation=30, ha="right")
    # From 0: bar heights in proportion to the accuracies, so that a gap looks as large as it is.
    axis.set(ylabel="test accuracy", ylim=(0.0, 1.0), title="Test accuracy per class: where each model errs")
    axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    axis.grid(axis="y", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure


# --- what convolutions and pooling do (visualize.py) ------------------------------
# Colours: images in gray, filter responses in "inferno" (bright = strong response),
# filter weights in red (add the pixel) and blue (subtract it).

RESPONSE_COLOURS = plt.get_cmap("inferno").with_extremes(bad="white")  # bad (NaN): the gaps of a mosaic
MARK = "cyan"  # frames a pixel on gray images and on the inferno responses alike


def feature_maps(images, captions, layer_maps, filter_index):
    """The classic grid: one row per image, its input then one column per conv or pooling layer.

    Each cell is one filter's response to that image, bright where the filter found its
    pattern. Later layers are smaller (a 3x3 convolution trims a border, a pooling halves)
    and each of their pixels sees a larger part of the image.
    captions: one per image; layer_maps: {layer name: array (images, height, width, filters)}.
    One colour scale per layer, shared by the images and shown by the bar under the column,
    so the same filter's response to different images can be compared.
    """
    columns = 1 + len(layer_maps)
    figure, axes = plt.subplots(len(images), columns, figsize=(1.9 * columns + 1.2, 2.1 * len(images) + 0.8),
                                squeeze=False, layout="constrained")
    for row, (image, caption) in enumerate(zip(images, captions)):
        axes[row, 0].imshow(image, cmap="gray", interpolation="nearest")
        axes[row, 0].set_ylabel(caption, fontsize=9)
    for column, maps in enumerate(layer_maps.values(), start=1):
        responses = maps[..., filter_index]
        low, high = min(0.0, float(responses.min())), max(float(responses.max()), 1e-9)  # a silent filter stays dark
        for row in range(len(images)):
            shown = axes[row, column].imshow(responses[row], cmap=RESPONSE_COLOURS, vmin=low, vmax=high,
                                             interpolation="nearest")
        figure.colorbar(shown, ax=axes[:, column], location="bottom", shrink=0.85, pad=0.01, aspect=12,
                        label="response")
    axes[0, 0].set_title(f"input\n{size(images[0])}", fontsize=10)
    for axis, (name, maps) in zip(axes[0, 1:], layer_maps.items()):
        axis.set_title(f"{name}\n{size(maps[0])}", fontsize=10)
    for axis in axes.flat:
        axis.set(xticks=[], yticks=[])
    figure.suptitle(f"Filter {filter_index} of every conv and pooling layer", fontsize=12)
    return figure


def all_feature_maps(image, caption, blocks):
    """Every filter of every conv and pooling layer for one image: each layer a mosaic of its maps.

    blocks: one row each, a list of {layer name: array (height, width, filters)}; for
    the course CNN, [{conv_1, pool_1}, {conv_2, pool_2}].
    """
    columns = max(map(len, blocks))
    figure, axes = plt.subplots(len(blocks), 1 + columns, figsize=(2.8 + 3.4 * columns, 0.6 + 3.6 * len(blocks)),
                                width_ratios=[0.75] + [1] * columns, squeeze=False, layout="constrained")
    for axis in axes.flat:
        axis.axis("off")
    axes[0, 0].imshow(image, cmap="gray", interpolation="nearest")
    axes[0, 0].set_title(f"input {size(image)}\n{caption}", fontsize=10)
    for row, block in enumerate(blocks):
        for axis, (name, maps) in zip(axes[row, 1:], block.items()):
            axis.imshow(mosaic(maps), cmap=RESPONSE_COLOURS, interpolation="nearest")
            axis.set_title(f"{name}: {maps.shape[-1]} filters, each {size(maps)}", fontsize=10)
            number_tiles(axis, maps.shape)
    figure.suptitle("Every filter's response to one image, each scaled to its own range;\n"
                    "each tile numbered as --filter counts", fontsize=12)
    return figure


def number_tiles(axis, shape, gap=1):
    """Write each tile's filter number in its top-left corner, white outlined in black to read on any colour."""
    height, width, count = shape
    outline = [patheffects.withStroke(linewidth=1.5, foreground="black")]
    for index, (top, left) in enumerate(tile_corners(height, width, count, gap)):
        axis.text(left - 0.4, top - 0.4, str(index), fontsize=5.5, color="white", ha="left", va="top",
                  path_effects=outline)


def conv_filters(kernels, layer_name):
    """The learned 3x3 kernels of one conv layer, each on a colour scale of its own.

    kernels: array (3, 3, filters). Most kernels are far weaker than the strongest few:
    on one shared scale they would look near-white. So each is divided by its largest
    |weight|, written above it (the kernel's strength). The scale is symmetric around 0,
    so white means "ignore this pixel"; compare with the hand-made filters of
    convolution.py, e.g. a red column beside a blue one is a vertical-edge detector.
    """
    count = kernels.shape[-1]
    columns = min(count, 8)
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.1 * columns + 1.2, 1.1 * rows + 0.8),
                                squeeze=False, layout="constrained")
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < count:
            limit = np.abs(kernels[..., index]).max()
            shown = axis.imshow(kernels[..., index] / (limit or 1), cmap="RdBu_r", vmin=-1, vmax=1)
            axis.set_title(f"{index}: ±{limit:.2f}", fontsize=8, pad=2)
    figure.colorbar(shown, ax=axes, shrink=0.6, ticks=[-1, 0, 1],
                    label="weight ÷ the filter's largest |weight|\n"
                          "(red adds the pixel, blue subtracts it, white ignores it)")
    figure.suptitle(f"The {count} learned 3x3 filters of {layer_name}, each scaled to its own largest weight\n"
                    "(above each: its number, then that weight)", fontsize=12)
    return figure


def convolution_lesson(images, kernels, steps, explained=None):
    """Each image, then per filter: the filtered image and its 2x2 max pooling, with sizes.

    images: {caption: 2-D array}; kernels: {filter name: 3x3 array};
    steps: {caption: [(filtered, pooled) for each kernel]}. A header row shows each kernel.
    explained: (filter name, row, col) of the first image's output pixel that
    `visualize.py convolution --explain` works out: framed with its 3x3 neighbourhood
    and the pooled pixel it goes into.
    """
    columns = 1 + 2 * len(kernels)
    figure, axes = plt.subplots(1 + len(images), columns, figsize=(1.8 * columns, 1.8 + 2.2 * len(images)),
                                height_ratios=[0.55] + [1] * len(images), layout="constrained")
    for axis in axes.flat:
        axis.axis("off")
    for axis, (name, kernel) in zip(axes[0, 1::2], kernels.items()):
        draw_kernel(axis, kernel, title=f"{name} filter")
    for row, (caption, image) in enumerate(images.items(), start=1):
        axes[row, 0].imshow(image, cmap="gray", interpolation="nearest")
        axes[row, 0].set_title(f"{caption}\n{size(image)}", fontsize=9)
        for col, (name, (filtered, pooled)) in enumerate(zip(kernels, steps[caption]), start=1):
            draw_response(axes[row, 2 * col - 1], filtered, title=f"{name}, ReLU\n{size(filtered)}")
            draw_response(axes[row, 2 * col], pooled, title=f"2x2 max pooled\n{size(pooled)}")
    caption = ("ReLU keeps only positive responses: the vertical filter (right minus left) lights up where "
               "brightness rises to the right, a light garment's left edge; its right edge, a fall, becomes 0.\n"
               "Likewise the horizontal filter (below minus above) keeps top edges.")
    if explained:
        name, row, col = explained
        column = 2 * list(kernels).index(name) + 1
        for axis, top, left, side in [(axes[1, 0], row, col, 3), (axes[1, column], row, col, 1),
                                      (axes[1, column + 1], row // 2, col // 2, 1)]:
            axis.add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor=MARK, linewidth=1.5))
        caption += (f"\nCyan: output pixel ({row}, {col}) of the {name} filter, worked out by --explain, "
                    "its 3x3 neighbourhood in the input, and the pooled pixel it goes into.")
    figure.suptitle("3x3 convolution, ReLU, and 2x2 max pooling, by hand with numpy", fontsize=12)
    figure.supxlabel(caption, fontsize=9)
    return figure


def draw_response(axis, response, title):
    """A filter's response, each pixel a crisp square so that pooling's coarser grid shows.

    The colours saturate at the 99.5th percentile, not the maximum, so that the few
    sharpest edges of a photo do not turn every other edge black.
    """
    brightest = max(np.percentile(response, 99.5), 1e-9)  # 1e-9: a filter that found nothing stays black
    axis.imshow(response, cmap=RESPONSE_COLOURS, vmin=0, vmax=brightest, interpolation="nearest")
    axis.set_title(title, fontsize=9)


def draw_kernel(axis, kernel, title):
    """A small filter as coloured cells with its numbers written in."""
    limit = np.abs(kernel).max()
    axis.imshow(kernel, cmap="RdBu_r", vmin=-1.6 * limit, vmax=1.6 * limit)  # pale, so the numbers stay legible
    for (row, col), value in np.ndenumerate(kernel):
        axis.text(col, row, f"{value:g}", ha="center", va="center", fontsize=9)
    axis.set_title(title, fontsize=9)


def size(image):
    """'520x420': width x height, as image viewers say it, of an array whose first two axes are height and width."""
    return f"{image.shape[1]}x{image.shape[0]}"


def predictions(originals, inputs, probabilities, captions, class_names, notes=None):
    """One row per image: the original, the 28x28 image the model received, its 10 probabilities.

    originals: Pillow images or 2-D arrays; inputs: uint8 (N, 28, 28); notes: per image, a
    line under the prediction, or None.
    """
    notes = notes or [None] * len(inputs)
    figure, axes = plt.subplots(len(inputs), 3, figsize=(11, 2.6 * len(inputs)), squeeze=False,
                                gridspec_kw={"width_ratios": [1, 1, 2.2]})
    for row, (original, model_input, probs, caption, note) in enumerate(
            zip(originals, inputs, probabilities, captions, notes)):
        shown, received, bars = axes[row]
        original = np.asarray(original)
        shown.imshow(original, cmap="gray" if original.ndim == 2 else None)
        shown.set_title(caption, fontsize=9)
        received.imshow(model_input, cmap="gray", vmin=0, vmax=255)
        received.set_title("what the model received\n(28x28)", fontsize=9)
        for axis in (shown, received):
            axis.set_xticks([])
            axis.set_yticks([])
        best = int(np.argmax(probs))
        colours = ["tab:blue"] * len(class_names)
        colours[best] = "tab:orange"
        bars.barh(range(len(class_names)), probs, color=colours)
        bars.set(yticks=range(len(class_names)), xlim=(0, 1), xlabel="probability")
        bars.set_yticklabels(class_names, fontsize=8)
        bars.invert_yaxis()
        bars.set_title(f"predicted: {class_names[best]} ({probs[best]:.0%})" + (f"\n{note}" if note else ""),
                       fontsize=9)
    figure.tight_layout()
    return figure


def preprocessing_steps(originals, captions, steps):
    """One row per photo: the original, then each step that makes it look like Fashion-MNIST.

    originals: Pillow images or arrays; steps: per photo, [(what was done, 2-D array 0..255)].
    Every step is drawn on the same 0..255 gray scale, so a step that darkens shows it.
    """
    columns = 1 + len(steps[0])
    figure, axes = plt.subplots(len(steps), columns, figsize=(2.1 * columns, 2.5 * len(steps)), squeeze=False,
                                layout="constrained")
    for row, (original, caption, photo_steps) in enumerate(zip(originals, captions, steps)):
        original = np.asarray(original)
        axes[row, 0].imshow(original, cmap="gray" if original.ndim == 2 else None)
        axes[row, 0].set_title(f"{caption}\n{size(original)}", fontsize=9)
        for axis, (step, image) in zip(axes[row, 1:], photo_steps):
            axis.imshow(image, cmap="gray", vmin=0, vmax=255,
                        interpolation="nearest" if max(image.shape) <= 28 else "antialiased")
            axis.set_title(f"{step}\n{size(image)}", fontsize=9)
    for axis in axes.flat:
        axis.set(xticks=[], yticks=[])
    figure.suptitle("From a photo to what the model receives (preprocess.py)", fontsize=12)
    return figure


def learning(learning, image, caption, histories, model_name, filters=8, maps=4):
    """A model learning, epoch by epoch (learning.Learning): its first conv layer's filters, what its conv
    layers make of one image, and the validation accuracy of it and the models beside it.

    filters: how many of the first layer's filters to follow, those that changed most from epoch 0
    to the last; maps: how many maps of each conv layer (the first layer's: those same filters').
    Each filter, and each map, keeps one colour scale across its epochs, so a change of colour is a
    change of weight.
    """
    epochs, kernels = learning.epochs, learning.kernels
    changed = np.abs(kernels[-1] - kernels[0]).sum(axis=(0, 1))
    chosen = sorted(np.argsort(changed)[::-1][:filters].tolist())
    layers = list(learning.maps)[:2]
    picked = {layers[0]: chosen[:maps]}
    for name in layers[1:]:  # the maps most active on this image at the last epoch
        picked[name] = sorted(np.argsort(learning.maps[name][-1].mean(axis=(0, 1)))[::-1][:maps].tolist())
    columns = len(chosen) + sum(len(p) for p in picked.values())
    rows = len(epochs)
    figure = plt.figure(figsize=(1.0 * columns + 4.5, 1.0 * rows + 2.6), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=[columns, 4.2])
    grid = left.subplots(rows, columns, squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.05})
    for axis in grid.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    for column, index in enumerate(chosen):
        limit = np.abs(kernels[..., index]).max() or 1
        for row in range(rows):
            shown = grid[row, column].imshow(kernels[row, :, :, index] / limit, cmap="RdBu_r", vmin=-1, vmax=1)
        grid[0, column].set_title(f"{learning.layer}\nfilter {index}", fontsize=8)
    left.colorbar(shown, ax=grid[:, :len(chosen)], location="bottom", shrink=0.6, ticks=[-1, 0, 1],
                  label="weight ÷ the filter's largest |weight| over these epochs\n"
                        "(red adds the pixel, blue subtracts)")
    column = len(chosen)
    for name, indices in picked.items():
        for index in indices:
            values = learning.maps[name][..., index]
            top = values.max() or 1
            for row in range(rows):
                grid[row, column].imshow(values[row], cmap="magma", vmin=0, vmax=top)
            grid[0, column].set_title(f"{name}\nmap {index}", fontsize=8)
            column += 1
    for row, epoch in enumerate(epochs):
        grid[row, 0].set_ylabel("as built\n(epoch 0)" if epoch == 0 else f"epoch {epoch}", fontsize=9)
    left.suptitle(f"{model_name} learning: {learning.layer}'s {len(chosen)} filters that changed most, and "
                  f"feature maps of {caption.splitlines()[0]}\n(each column on one colour scale across its "
                  "epochs; maps: black 0, bright the map's highest)", fontsize=11)

    image_axis, accuracy_axis = right.subplots(2, 1, height_ratios=[1, 1.4])
    image_axis.imshow(image, cmap="gray")
    image_axis.set_title(caption, fontsize=9)
    image_axis.axis("off")
    for name, rows_of in histories.items():
        points = [(row["epoch"], row["val_accuracy"]) for row in rows_of if row.get("val_accuracy") is not None]
        if points:
            accuracy_axis.plot(*zip(*points), "-o", ms=3, label=name)
    accuracy_axis.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy per epoch")
    accuracy_axis.xaxis.get_major_locator().set_params(integer=True)
    accuracy_axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    accuracy_axis.grid(alpha=0.3)
    accuracy_axis.legend(fontsize=8)
    return figure


def fixes(found, shown, test, probabilities, class_names):
    """Test images one model gets right and the other wrong, both ways, each with both models' answers.

    found: comparison.Fixes; shown: [indices of fixed images to draw, indices of broken ones];
    test: data.Images; probabilities: {model: (N, classes)}.
    """
    columns = max(1, max(len(indices) for indices in shown))
    figure = plt.figure(figsize=(1.75 * columns + 0.6, 6.6), layout="constrained")
    rows = [(f"{found.model} right, {found.baseline} wrong: {len(found.fixed):,} test images", shown[0]),
            (f"{found.baseline} right, {found.model} wrong: {len(found.broken):,} test images", shown[1])]
    for part, (title, indices) in zip(figure.subfigures(2, 1), rows):
        part.suptitle(title + ("; the clearest of them" if len(indices) else ""), fontsize=11, fontweight="bold",
                      x=0.01, ha="left")
        for column, axis in enumerate(part.subplots(1, columns, squeeze=False)[0]):
            axis.axis("off")
            if column >= len(indices):
                continue
            index = indices[column]
            axis.imshow(test.images[index], cmap="gray")
            answers = [f"{name}: {class_names[p.argmax()]} {p.max():.0%}"
                       for name, p in ((found.baseline, probabilities[found.baseline][index]),
                                       (found.model, probabilities[found.model][index]))]
            axis.set_title(f"test image {index}\ntrue: {class_names[test.labels[index]]}\n" + "\n".join(answers),
                           fontsize=7.5)
    return figure


def accuracy_against_time(results):
    """Each model's test accuracy against its training time: what a conv stack costs and buys."""
    figure, axis = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
    for name, result in results.items():
        axis.plot(result["train_seconds"], result["test_accuracy"], "o", ms=7)
        axis.annotate(f"{name} ({result['parameters']:,} parameters)",
                      (result["train_seconds"], result["test_accuracy"]), textcoords="offset points", xytext=(6, 4),
                      fontsize=8)
    axis.set(xlabel="training time (s)", ylabel="test accuracy", title="Test accuracy against training time")
    axis.set_xlim(0, max(result["train_seconds"] for result in results.values()) * 1.35)
    axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=1))
    axis.grid(alpha=0.3)
    return figure


def shifted_accuracy(accuracies, shifted_image, caption):
    """Test accuracy against how far every test image is moved (the four directions averaged), one line a model.

    accuracies: {model: {pixels: accuracy}}; shifted_image: one test image moved by the most pixels,
    to show what that looks like.
    """
    figure, (axis, image_axis) = plt.subplots(1, 2, figsize=(10, 4.2), width_ratios=[3, 1], layout="constrained")
    for name, by_shift in accuracies.items():
        axis.plot(list(by_shift), list(by_shift.values()), "-o", ms=4, label=name)
    axis.set(xlabel="shift (pixels, the border filled with black)", ylabel="test accuracy", ylim=(0, 1),
             title="Test accuracy when every test image is moved up, down, left or right (averaged)")
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    axis.grid(alpha=0.3)
    axis.legend()
    image_axis.imshow(shifted_image, cmap="gray")
    image_axis.set_title(caption, fontsize=9)
    image_axis.axis("off")
    return figure
