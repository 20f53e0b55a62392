"""Show what convolutions and pooling do: feature maps, learned filters, and a convolution by hand.

    python visualize.py                              # feature maps of the CNN saved by train.py
    python visualize.py --images 0 23 28 --filter 1  # the same, choosing images and filter
    python visualize.py --image-file sneaker.jpg     # ... of your own photo, made to look like Fashion-MNIST
    python visualize.py filters                      # the first conv layer's learned 3x3 filters
    python visualize.py learning                     # ... and what they make of an image, at every epoch
    python visualize.py shifts                       # test accuracy of every model when the images move
    python visualize.py convolution                  # 3x3 filters and 2x2 max pooling, numpy only
    python visualize.py convolution --explain 10 12  # ... and one output pixel worked out by hand
    python visualize.py explorer                     # an interactive page: draw, and watch the CNN work

`maps` and `filters` use the cnn of the latest run of `python train.py` (runs/latest)
unless given --model, and write their figures beside it, in its run folder;
`convolution` writes into runs/. --out DIR writes into DIR instead.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from convlab import (
    cli,
    comparison,
    convolution,
    explorer_page,
    feature_maps,
    figures,
    files,
    learning,
    preprocess,
    runs,
    snapshots,
)
from convlab.data import CLASS_NAMES, DATA_DIR_HELP, IMAGE_SHAPE, DataError, Images, load_test_images
from convlab.saved_models import ModelFileError, load_model, model_or_latest

# TensorFlow is loaded only by saved_models.load_model: `convolution` runs without it,
# in a second instead of five.

DEFAULT_IMAGES = [0, 23, 28]  # three ankle boots of the test set: how alike do their features look?
DEFAULT_FILTER = 1


class VisualizeError(Exception):
    """Bad input; the message names the valid range or the fix."""


def parse_args(argv=None):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, metavar="DIR",
                        help="folder for the figures (default: the model's run folder; runs/ for convolution)")
    with_model = argparse.ArgumentParser(add_help=False)
    with_model.add_argument("--model", type=Path, metavar="PATH",
                            help="a .keras model saved by train.py (default: cnn.keras of the latest run)")
    with_data = argparse.ArgumentParser(add_help=False)
    with_data.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="{maps,filters,learning,shifts,convolution,explorer}")
    maps = commands.add_parser("maps", parents=[common, with_model, with_data],
                               help="feature maps of test images (the default command)")
    which = maps.add_mutually_exclusive_group()
    which.add_argument("--images", type=int, nargs="+", default=DEFAULT_IMAGES, metavar="INDEX",
                       help="test images, one row each (default: 0 23 28, three ankle boots)")
    which.add_argument("--image-file", type=Path, nargs="+", metavar="PHOTO",
                       help="your own photos instead, made to look like Fashion-MNIST as predict.py does")
    maps.add_argument("--filter", type=int, default=DEFAULT_FILTER, metavar="INDEX",
                      help="which filter of each layer the grid shows (default: 1)")
    commands.add_parser("filters", parents=[common, with_model], help="the first conv layer's learned filters")
    shifts = commands.add_parser("shifts", parents=[common, with_model, with_data],
                                 help="each model's test accuracy with every test image moved 0 to 4 pixels "
                                      "(shifted_accuracy.png)")
    shifts.add_argument("--limit", type=int, metavar="N",
                        help="the first N test images only, for a quicker look (default: all 10,000)")
    learn = commands.add_parser("learning", parents=[common, with_model, with_data],
                                help="the cnn at every epoch, from random filters to trained ones (learning.png)")
    learn.add_argument("--image", type=int, default=DEFAULT_IMAGES[0], metavar="INDEX",
                       help="the test image whose feature maps it follows (default: %(default)s)")
    lesson = commands.add_parser("convolution", parents=[common, with_data],
                                 help="convolution and max pooling by hand; needs no model")
    lesson.add_argument("--image", type=int, default=0, metavar="INDEX",
                        help="the Fashion-MNIST test image (default: 0)")
    lesson.add_argument("--explain", type=int, nargs=2, metavar=("ROW", "COL"),
                        help="print how this output pixel and its max pooling are computed")
    lesson.add_argument("--kernel", choices=convolution.FILTERS, default="vertical",
                        help="the filter --explain uses (default: vertical)")
    commands.add_parser("explorer", parents=[common, with_model, with_data],
                        help="explorer.html: draw a garment and watch the CNN (and the dnn beside it) work on it")

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["maps", *argv]  # plain `python visualize.py` means feature maps
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    command = {"maps": show_feature_maps, "filters": show_filters, "learning": show_learning, "shifts": show_shifts,
               "convolution": show_convolution, "explorer": write_explorer}
    try:
        if args.out:
            cli.check_out(args.out)
        command[args.command](args)
    except (DataError, ModelFileError, preprocess.PhotoError, VisualizeError, cli.OutputError,
            snapshots.SnapshotError) as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit(cli.stopped())


# --- maps: what the trained CNN's layers see ----------------------------------------


def show_feature_maps(args):
    model_file = model_or_latest(args.model)  # before loading anything: the likeliest mistake
    out = args.out or model_file.parent
    images, captions = photos(args.image_file) if args.image_file else test_images(args.images, args.data_dir)
    model = load_model(model_file)
    layers = feature_layers(model, model_file)
    check_filter(args.filter, layers)

    layer_maps, probabilities = feature_maps.extract(model, layers, images)
    captions = [f"{caption}\npredicted: {CLASS_NAMES[predicted]}"
                for caption, predicted in zip(captions, probabilities.argmax(axis=1))]
    run_folder = runs.RunFolder(out)
    photo = args.image_file[0] if args.image_file else None
    cli.save_figure(figures.feature_maps(images, captions, layer_maps, args.filter),
                    run_folder.feature_maps_figure(photo))
    first_image = [{layer.name: layer_maps[layer.name][0] for layer in block}
                   for block in feature_maps.conv_blocks(layers)]
    cli.save_figure(figures.all_feature_maps(images[0], captions[0], first_image),
                    run_folder.all_feature_maps_figure(photo))


def test_images(indices, data_dir):
    """The chosen test images (uint8, N x 28 x 28) and their captions."""
    x_test, y_test = load_test_images(data_dir)
    check_index("--images", indices, len(x_test), "test-image indices")
    return x_test[indices], [f"test image {index}\ntrue: {CLASS_NAMES[y_test[index]]}" for index in indices]


def photos(paths):
    """The user's photos as the model sees them (convlab/preprocess.py), and their file names as captions."""
    images = np.stack([preprocess.to_fashion_mnist(preprocess.open_photo(path)) for path in paths])
    return images, [path.name for path in paths]


# --- filters: what the first conv layer learned -------------------------------------


def show_filters(args):
    model_file = model_or_latest(args.model)
    model = load_model(model_file)
    first_conv = next(layer for layer in feature_layers(model, model_file) if feature_maps.is_conv(layer))
    kernels = first_conv.get_weights()[0]  # (3, 3, input channels, filters)
    # The first conv layer sees the image's one grayscale channel.
    cli.save_figure(figures.conv_filters(kernels[:, :, 0, :], first_conv.name),
         runs.RunFolder(args.out or model_file.parent).filters_figure)


# --- learning: the same filters at every epoch, from random to trained ----------------


def show_learning(args):
    model_file = model_or_latest(args.model)
    run_folder = runs.RunFolder(model_file.parent)
    name = runs.model_name(model_file)
    kept = snapshots.load(run_folder.snapshots(name))  # before loading anything else: runs before snapshots have none
    x_test, y_test = load_test_images(args.data_dir)
    check_index("--image", [args.image], len(x_test), "a test-image index")
    model = load_model(model_file)
    feature_layers(model, model_file)  # refuse a model without convolutions
    followed = learning.follow(model, kept, x_test[args.image])
    histories = {other: files.read_json(run_folder.history(other), default=[], kind=list)
                 for other in run_folder.read_results().get("models", {name: None})}
    caption = f"test image {args.image}\ntrue: {CLASS_NAMES[y_test[args.image]]}"
    cli.save_figure(figures.learning(followed, x_test[args.image], caption, histories, name),
                    runs.RunFolder(args.out or model_file.parent).learning_figure)
    changes = ", ".join(f"{change:.4f}" for change in followed.change)
    print(f"{followed.layer}'s weights changed by a mean of {changes} per epoch (epochs "
          f"{int(followed.all_epochs[1])}-{int(followed.all_epochs[-1])}; snapshots kept in float16)")
    for other, history in histories.items():
        if other != name and history and history[-1].get("val_accuracy") and histories.get(name):
            target = history[-1]["val_accuracy"]
            reached = learning.passes(histories[name], target)
            print(f"{name} reaches the {other}'s final validation accuracy ({target:.1%}, after its {len(history)} "
                  "epochs) " + (f"at epoch {reached}" if reached else "at no epoch"))


# --- shifts: does a feature found anywhere stay found? ----------------------------------


def show_shifts(args):
    model_file = model_or_latest(args.model)
    run_folder = runs.RunFolder(model_file.parent)
    names = [name for name in run_folder.read_results().get("models", {}) if run_folder.model(name).is_file()]
    x_test, y_test = load_test_images(args.data_dir)
    if args.limit is not None:
        check_index("--limit", [args.limit - 1], len(x_test), "a number of test images, 1")
        x_test, y_test = x_test[:args.limit], y_test[:args.limit]
    models = {name: load_model(run_folder.model(name)) for name in names or [runs.model_name(model_file)]}
    from convlab import report  # after load_model, which loads TensorFlow without its start-up notices
    from convlab.recipe import BATCH_SIZE

    accuracies = {}
    for name, model in models.items():
        # Predicted as train.py evaluates, so that 0 px is the plain test accuracy (exactly, for a float32 run).
        accuracies[name] = comparison.accuracy_under_shifts(
            lambda images, model=model: report.predict(model, Images(images, y_test), BATCH_SIZE), x_test, y_test)
        print(f"{name}: test accuracy with every image moved by " + ", ".join(
            f"{pixels} px {accuracy:.1%}" for pixels, accuracy in accuracies[name].items())
              + " (up, down, left and right averaged)")
    most = max(comparison.SHIFTS)
    cli.save_figure(figures.shifted_accuracy(accuracies, comparison.shifted(x_test[:1], most, "right")[0],
                                             f"test image 0 moved {most} pixels right"),
                    runs.RunFolder(args.out or model_file.parent).shifts_figure)


# --- convolution: the lesson by hand, numpy only (no model, no TensorFlow) ----------


def show_convolution(args):
    if args.explain:
        check_pixel(*args.explain)
    x_test, y_test = load_test_images(args.data_dir)
    check_index("--image", [args.image], len(x_test), "a test-image index")
    image = x_test[args.image]
    images = {f"test image {args.image}: {CLASS_NAMES[y_test[args.image]]}": image,
              "Grace Hopper\n(matplotlib sample)": sample_photo()}
    steps = {caption: [convolution.filter_and_pool(picture, kernel) for kernel in convolution.FILTERS.values()]
             for caption, picture in images.items()}
    explained = (args.kernel, *args.explain) if args.explain else None
    cli.save_figure(figures.convolution_lesson(images, convolution.FILTERS, steps, explained),
         runs.RunFolder(args.out or runs.RUNS_DIR).convolution_figure)
    if args.explain:
        print()
        print(convolution.explain(image, convolution.FILTERS[args.kernel], *args.explain, filter_name=args.kernel))


def sample_photo(shrink=3):
    """A detailed grayscale photo that needs no download: matplotlib ships it.

    Shrunk from 600x512 to 200x170 by averaging 3x3 squares: still forty times the
    pixels of a Fashion-MNIST image, and about the size a figure cell shows, so
    single strokes stay visible. The luma weights turn red, green, blue into brightness.
    """
    import matplotlib.cbook
    import matplotlib.image

    rgb = matplotlib.image.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    gray = rgb[..., :3] @ np.array([0.299, 0.587, 0.114])
    rows, cols = gray.shape[0] // shrink, gray.shape[1] // shrink
    return gray[: rows * shrink, : cols * shrink].reshape(rows, shrink, cols, shrink).mean(axis=(1, 3))


# --- explorer: the CNN at work in an interactive page (convlab/explorer_page/) -------------


def write_explorer(args):
    model_file = model_or_latest(args.model)
    out = args.out or model_file.parent  # the page lies beside the models it shows
    cli.check_out(out)
    x_test, y_test = load_test_images(args.data_dir)
    cnn = explorer_page.load_runnable(model_file)
    feature_layers(cnn, model_file)  # refuse a model without convolutions
    dnn_file = explorer_page.dnn_beside(model_file)
    dnn = explorer_page.load_runnable(dnn_file) if dnn_file else None
    name = runs.model_name(model_file)
    which = (f"the {name}, with the dnn beside it" if dnn_file else
             f"the {name} alone: no {runs.RunFolder(model_file.parent).model('dnn').name} beside it")
    write(explorer_page.page(cnn, model_file, dnn, dnn_file, x_test, y_test), runs.RunFolder(out).explorer_page,
          then=f": open it in a browser ({which})")


# --- loading and checking -----------------------------------------------------------


def feature_layers(model, model_file):
    """The model's Conv2D and MaxPooling2D layers, in order; refuse a model without convolutions."""
    layers = feature_maps.feature_layers(model)
    if not any(feature_maps.is_conv(layer) for layer in layers):
        raise VisualizeError(f"{model_file} (model '{model.name}') has no Conv2D layers, so it has no filters "
                             "or feature maps to show.\nPass --model PATH to a CNN, e.g. runs/RUN/cnn.keras.")
    return layers


def check_filter(index, layers):
    """A filter index must exist in every layer shown: below the smallest layer's filter count."""
    smallest = min(layers, key=lambda layer: layer.output.shape[-1])
    count = smallest.output.shape[-1]
    if not 0 <= index < count:
        raise VisualizeError(f"--filter must be from 0 to {count - 1} ({smallest.name} has {count} filters), "
                             f"got {index}")


def check_index(flag, indices, count, what):
    bad = [index for index in indices if not 0 <= index < count]
    if bad:
        raise VisualizeError(f"{flag} takes {what} from 0 to {count - 1}, got {' '.join(map(str, bad))}")


def check_pixel(row, col):
    """--explain names a pixel of the filtered image: a 3x3 filter leaves 26x26 of a 28x28 image."""
    rows, cols = IMAGE_SHAPE[0] - 2, IMAGE_SHAPE[1] - 2
    if not (0 <= row < rows and 0 <= col < cols):
        raise VisualizeError(f"--explain ROW COL names a pixel of the {rows}x{cols} filtered image: "
                             f"ROW from 0 to {rows - 1}, COL from 0 to {cols - 1}, got {row} {col}")


def write(text, path, then=""):
    """Write a page whole, or not at all."""
    with cli.writing(path, then=then), files.atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
