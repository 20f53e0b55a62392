"""Watching it learn: every epoch's weights are kept from as built to the last, and drawn."""

import json

import keras
import numpy as np
import pytest

from convlab import learning, recipe, runs, snapshots
from helpers import run_script
from model import build_model


def test_the_snapshots_run_from_the_weights_as_built_to_the_saved_model(short_run):
    out, _ = short_run  # dnn and cnn, 3 epochs each
    for name in ("dnn", "cnn"):
        kept = snapshots.load(runs.RunFolder(out).snapshots(name))
        assert kept.epochs.tolist() == [0, 1, 2, 3]
        keras.utils.set_random_seed(recipe.Settings.for_model(recipe.parse_model(name)).weights_seed)
        built = build_model(name)
        assert kept.names == [weight.path for weight in built.weights]
        for as_built, epoch_0 in zip(built.get_weights(), kept.at(0)):
            np.testing.assert_array_equal(as_built.astype(np.float16), epoch_0)
        saved = keras.models.load_model(out / f"{name}.keras", compile=False)
        for final, last in zip(saved.get_weights(), kept.at(3)):
            np.testing.assert_array_equal(final.astype(np.float16), last)
        assert not np.array_equal(kept.at(0)[0], kept.at(1)[0])  # it learned


def test_results_and_list_name_the_snapshots(short_run):
    out, _ = short_run
    results = json.loads((out / "results.json").read_text())["models"]
    assert {model["snapshots_file"] for model in results.values()} == {"dnn_snapshots.npz", "cnn_snapshots.npz"}


@pytest.mark.parametrize("kept, shown", [
    (range(6), [0, 1, 2, 3, 4, 5]),
    (range(36), [0, 5, 10, 15, 20, 25, 30, 35]),
    (range(11), [0, 1, 3, 4, 6, 7, 9, 10]),
])
def test_at_most_eight_epochs_are_drawn_first_and_last_included(kept, shown):
    assert learning.shown_epochs(kept) == shown


def test_visualize_learning_draws_every_epoch_and_says_how_much_the_filters_changed(short_run):
    out, _ = short_run
    result = run_script("visualize.py", "learning", "--model", out / "cnn.keras")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Wrote {out / 'learning.png'}" in result.stdout
    using, quick = result.stderr.splitlines()  # nothing else: no TensorFlow notice, no warning
    assert using.startswith(f"Using {out / 'cnn.keras'} (test accuracy ") and quick.startswith("A quick run:")
    changes = [float(value) for value in
               result.stdout.split("changed by a mean of ")[1].split(" per epoch")[0].split(", ")]
    kept = snapshots.load(out / "cnn_snapshots.npz")
    first = kept.weights[kept.names.index("conv_1/kernel")].astype(np.float32)
    assert changes == [round(float(c), 4) for c in np.abs(np.diff(first, axis=0)).mean(axis=(1, 2, 3, 4))]
    assert "cnn reaches the dnn's final validation accuracy" in result.stdout
    image = __import__("matplotlib.image").image.imread(out / "learning.png")
    assert image.shape[0] > 500 and image.std() > 0.05


def test_a_model_without_snapshots_says_how_to_get_them(short_run, tmp_path):
    """A run made before snapshots existed: one message, no traceback, no figure."""
    out, _ = short_run
    (tmp_path / "cnn.keras").write_bytes((out / "cnn.keras").read_bytes())
    result = run_script("visualize.py", "learning", "--model", tmp_path / "cnn.keras")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: no snapshots of this model (cnn_snapshots.npz is not beside it): train.py keeps every epoch's "
        "weights since this version: train the model again, e.g. `python train.py`, to watch it learn")
    assert not (tmp_path / "learning.png").exists()
