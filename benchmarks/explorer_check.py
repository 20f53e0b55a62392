"""The explorer page, measured: its size, the time to write it and to load it, its forward pass and
an epoch switch in the browser, how far its probabilities are from Keras', and how far the float16
epochs it holds answer from the float32 models.

    python -m benchmarks.explorer_check                                # the latest run's cnn and dnn
    python -m benchmarks.explorer_check --model /tmp/bf16/cnn.keras    # e.g. a mixed_bfloat16 run

Run from the project's folder. Writes the page with `python visualize.py explorer` into a
temporary folder, timed as a user waits for it (TensorFlow's start-up included); opens it
--repeat times as explorer.html#selftest in Debian's headless `chromium`
(benchmarks/chromium.py), where the page times its own loading (from the request to the first
redraw done) and steps its epoch control through every epoch; compares the embedded test
images' probabilities with model.predict's. With snapshots beside the models, it also
measures on all 10,000 test images how far the weights rounded to float16, as the page holds
them, answer from the float32 weights: the last epoch's snapshot against the saved model, and
epoch 0 against the model as train.py builds it with the run's seed. With a dnn beside the CNN,
it counts the page's lists (the test images one network gets right and the other wrong) and how
often a move by one pixel, in each of the four directions, changes each network's answer: on
the listed images and on all 10,000. Needs the Fashion-MNIST files, as visualize.py does.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

from benchmarks import chromium  # noqa: E402
from convlab import comparison, explorer_page, recipe, runs, snapshots  # noqa: E402
from convlab.data import load_test_images  # noqa: E402
from convlab.saved_models import ModelFileError, model_or_latest  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="the CNN (default: cnn.keras of the latest run)")
    parser.add_argument("--repeat", type=int, default=3, help="self-test runs in the browser (default: 3)")
    args = parser.parse_args()
    try:
        args.model = model_or_latest(args.model)
    except ModelFileError as error:
        sys.exit(f"error: {error}")
    if chromium.CHROMIUM is None:
        sys.exit(f"error: {chromium.NO_CHROMIUM}")

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        start = time.perf_counter()
        written = subprocess.run([sys.executable, REPO / "visualize.py", "explorer", "--model", args.model,
                                  "--out", folder], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if written.returncode:
            sys.exit(written.stderr)
        page = folder / "explorer.html"
        print(f"page: {page.stat().st_size / 1e6:.2f} MB, written in {seconds:.1f} s")
        wins = embedded(page)["wins"]
        checks = [chromium.self_test(page, folder / f"profile{k}") for k in range(args.repeat)]

    print("page loaded (from the request to the first redraw done), ms:",
          ", ".join(f"{check['loadMs']:.0f}" for check in checks))
    if checks[0].get("epochs"):
        def each(key):
            return "; ".join(", ".join(f"{ms:.0f}" for ms in check["epochs"][key]) for check in checks)

        print(f"epoch switch (the weights, then the whole redraw), ms, through epochs {checks[0]['epochs']['kept']} "
              f"with the buttons, per run: first visit (float16 decoded) {each('firstMs')} - again {each('againMs')}")
    print("CNN forward pass in the page, ms (mean over the images, per run):",
          ", ".join(f"{check['forwardMs']:.1f}" for check in checks),
          f"- median {statistics.median(check['forwardMs'] for check in checks):.1f}")
    print("whole redraw (both networks, every map, the flow, the dense half, one pixel's arithmetic), ms:",
          ", ".join(f"{check['updateMs']:.1f}" for check in checks))
    results = checks[0]
    x_test, y_test = load_test_images()
    images = x_test[: results["images"], ..., None]
    networks = {"cnn": args.model, "dnn": explorer_page.dnn_beside(args.model)}
    models = {}
    for name, model_file in networks.items():
        if model_file is None:
            continue
        # What the page runs: for cnn_plus, the network without its mirror.
        model = models[name] = explorer_page.load_runnable(model_file)
        expected = np.asarray(model.predict(images, verbose=0), np.float32)
        difference = np.abs(np.array(results[name]) - expected)
        agree = np.mean(np.array(results[f"{name}Classes"]) == expected.argmax(axis=1))
        print(f"{name} ({explorer_page.precision(model)}) on {len(images)} test images: "
              f"|page - Keras| largest {difference.max():.2g}, mean {difference.mean():.2g}; same class {agree:.1%}")
        at_epochs = (results.get("epochs") or {}).get(name)
        if at_epochs:
            kept = snapshots.load(runs.RunFolder(model_file.parent).snapshots(runs.model_name(model_file)))
            largest = max(np.abs(np.array(rows) - answers(model, kept.at(int(epoch)) if int(epoch) != kept.epochs[-1]
                                                          else model.get_weights(), images)).max()
                          for epoch, rows in at_epochs.items())
            print(f"  at every epoch ({len(at_epochs)}): |page - Keras on the weights the page holds| largest "
                  f"{largest:.2g}")
            rounding(name, model, model_file, kept, x_test, y_test)
    if wins:
        moves(wins, models, x_test)


def embedded(page):
    """The data the page embeds for its scripts (explorer_page.page_data)."""
    found = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page.read_text(), re.S)
    return json.loads(found.group(1))


def moves(wins, models, x_test):
    """The page's lists, and how often a move by one pixel (comparison.shifted, as the page's buttons move an
    image) changes each network's answer, the four directions averaged."""
    print("lists: " + "; ".join(f"{found['winner']} right, {found['loser']} wrong: {found['total']:,} of "
                                f"{wins['compared']:,}, {len(found['indices'])} listed" for found in wins["lists"]))
    listed = np.array([index for found in wins["lists"] for index in found["indices"]])
    for name, model in models.items():
        changed = {}
        for what, images in ((f"the {len(listed)} listed", x_test[listed]), (f"all {len(x_test):,}", x_test)):
            plain = classes(model, images)
            changed[what] = np.mean([np.mean(classes(model, comparison.shifted(images, 1, direction)) != plain)
                                     for direction in comparison.DIRECTIONS])
        print(f"{name}: a move by one pixel changes its answer on " +
              ", ".join(f"{share:.1%} of {what}" for what, share in changed.items()))


def classes(model, images):
    return model.predict(images[..., None], batch_size=500, verbose=0).argmax(axis=1)


def answers(model, weights, images):
    """The model's probabilities with `weights` in it (put back afterwards). Only the floating-point ones: a
    snapshot holds a random layer's seed (cnn_plus) in float16 too, where it means nothing."""
    def put(values):
        for variable, value in zip(model.weights, values):
            if np.issubdtype(np.dtype(variable.dtype), np.floating):
                variable.assign(value)

    now = model.get_weights()
    put(weights)
    try:
        return np.asarray(model.predict(images, batch_size=256, verbose=0), np.float32)
    finally:
        put(now)


def rounding(name, model, model_file, kept, x_test, y_test):
    """How far the float16 snapshots answer from the float32 weights they round, on every test image: the last
    epoch's against the saved model, epoch 0's against the model built as train.py builds it."""
    import keras

    from model import build_model

    spec = recipe.parse_model(runs.model_name(model_file))
    seed = runs.RunFolder(model_file.parent).read_results().get("seed", recipe.SEED)  # --seed, where it was given
    keras.utils.set_random_seed(recipe.Settings.for_model(spec, seed=seed).weights_seed)
    compared = [(kept.epochs[-1], model.get_weights())]
    if kept.epochs[0] == 0:  # kept from the start (a run resumed from one without snapshots keeps them from there)
        compared.append((0, build_model(spec.recipe, spec.conv_filters).get_weights()))
    images = x_test[..., None]
    for epoch, float32 in compared:
        exact, rounded = answers(model, float32, images), answers(model, kept.at(int(epoch)), images)
        difference = np.abs(exact - rounded)
        print(f"{name} epoch {epoch}, its float16 snapshot vs its float32 weights, {len(images):,} test images: "
              f"probabilities apart by at most {difference.max():.2g} (mean {difference.mean():.2g}); "
              f"same class {np.mean(exact.argmax(1) == rounded.argmax(1)):.2%}; accuracy "
              f"{np.mean(exact.argmax(1) == y_test):.2%} vs {np.mean(rounded.argmax(1) == y_test):.2%}")


if __name__ == "__main__":
    main()
