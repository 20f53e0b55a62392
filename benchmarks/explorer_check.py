"""The explorer page, measured: its size, the time to write it, its forward pass in the browser,
and how far its probabilities are from Keras'.

    python -m benchmarks.explorer_check                                # the latest run's cnn and dnn
    python -m benchmarks.explorer_check --model /tmp/bf16/cnn.keras    # e.g. a mixed_bfloat16 run

Run from the project's folder. Writes the page with `python visualize.py explorer` into a
temporary folder, timed as a user waits for it (TensorFlow's start-up included); opens it
--repeat times as explorer.html#selftest in Debian's headless `chromium`
(benchmarks/chromium.py); compares the embedded test images' probabilities with
model.predict's. Needs the Fashion-MNIST files, as visualize.py does.
"""

import argparse
import os
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
from convlab import explorer_page  # noqa: E402
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
        runs = [chromium.self_test(page, folder / f"profile{k}") for k in range(args.repeat)]

    print("CNN forward pass in the page, ms (mean over the images, per run):",
          ", ".join(f"{run['forwardMs']:.1f}" for run in runs),
          f"- median {statistics.median(run['forwardMs'] for run in runs):.1f}")
    print("whole redraw (both networks, every map, the flow, the dense half, one pixel's arithmetic), ms:",
          ", ".join(f"{run['updateMs']:.1f}" for run in runs))
    results = runs[0]
    x_test, _ = load_test_images()
    images = x_test[: results["images"], ..., None]
    networks = {"cnn": args.model, "dnn": explorer_page.dnn_beside(args.model)}
    for name, model_file in networks.items():
        if model_file is None:
            continue
        # What the page runs: for cnn_plus, the network without its mirror.
        model = explorer_page.load_runnable(model_file)
        expected = np.asarray(model.predict(images, verbose=0), np.float32)
        difference = np.abs(np.array(results[name]) - expected)
        agree = np.mean(np.array(results[f"{name}Classes"]) == expected.argmax(axis=1))
        print(f"{name} ({explorer_page.precision(model)}) on {len(images)} test images: "
              f"|page - Keras| largest {difference.max():.2g}, mean {difference.mean():.2g}; same class {agree:.1%}")


if __name__ == "__main__":
    main()
