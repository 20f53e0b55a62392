"""train.py --tensorboard logs one value per epoch per metric and model, and the CNN's feature maps;
output into a pipe is one line per epoch, not a progress bar."""

import io
import re

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from convlab import files, runs, tensorboard_logging

EPOCHS = 3  # the short_run fixture's (conftest.py)
QUICK = ["--limit", "2000", "--validation-size", "500", "--epochs", "2"]


@pytest.fixture
def logged_run(short_run):
    """conftest's short run of dnn and cnn, made with --tensorboard and its stdout a pipe."""
    return short_run


def summaries(folder):
    """{tag: (plugin, [(step, value)])} from the event files in `folder`, read back as TensorBoard does."""
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return {tag: (events.SummaryMetadata(tag).plugin_data.plugin_name,
                  [(event.step, tf.make_ndarray(event.tensor_proto)) for event in events.Tensors(tag)])
            for tag in events.Tags()["tensors"]}


def test_one_folder_per_model_so_their_curves_overlay(logged_run):
    out, _ = logged_run
    logs = runs.RunFolder(out).logs
    assert sorted(run.relative_to(logs).as_posix() for run in logs.glob("*/*")) == [
        "cnn/feature_maps", "cnn/train", "cnn/validation", "dnn/train", "dnn/validation"]


@pytest.mark.parametrize("model", ["dnn", "cnn"])
def test_scalars_hold_one_value_per_epoch_and_match_the_history(logged_run, model):
    out, _ = logged_run
    folder = runs.RunFolder(out)
    history = files.read_json(folder.history(model))
    train_logs = summaries(folder.logs / model / "train")
    validation_logs = summaries(folder.logs / model / "validation")

    assert sorted(train_logs) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    assert {"epoch_accuracy", "epoch_loss"} <= set(validation_logs)
    for logs, prefix in [(train_logs, ""), (validation_logs, "val_")]:
        for metric in ["accuracy", "loss"]:
            plugin, values = logs[f"epoch_{metric}"]
            assert plugin == "scalars"
            assert [step for step, _ in values] == list(range(EPOCHS))
            np.testing.assert_allclose([float(value) for _, value in values], [row[prefix + metric] for row in history],
                                       atol=1e-5)  # the history is rounded to 6 digits
    rates = [float(value) for _, value in train_logs["epoch_learning_rate"][1]]
    assert len(rates) == EPOCHS and rates[0] > 1e-4 and rates[-1] < 1e-6  # the cosine schedule ends at 0


def test_cnn_feature_maps_are_images_once_per_epoch(logged_run):
    out, _ = logged_run
    images = summaries(runs.RunFolder(out).logs / "cnn" / "feature_maps")
    assert {tag: [step for step, _ in values] for tag, (_, values) in images.items()} == {
        "input": [0], **{layer: list(range(EPOCHS)) for layer in ("conv_1", "pool_1", "conv_2", "pool_2")}}
    assert {plugin for plugin, _ in images.values()} == {"images"}
    width, height, png = images["conv_1"][1][-1][1]  # tf.summary.image stores width, height, PNG
    grid = tf.io.decode_png(png).numpy()
    # 64 maps of 26x26, each enlarged to 52x52, 8 by 8 with 2-pixel gaps: 8 * 52 + 7 * 2 = 430
    assert (int(width), int(height)) == (430, 430) and grid.shape == (430, 430, 1)
    assert grid.std() > 20  # maps drawn, not a blank image


def test_feature_map_grid_scales_each_map_to_0_1():
    from convlab.tensorboard_logging import feature_map_grid

    maps = np.stack([np.full((5, 5), 7.0), np.arange(25.0).reshape(5, 5) * 100], axis=-1)
    grid = feature_map_grid(maps)
    assert grid.dtype == np.float32 and grid.shape == (1, 55, 112, 1)  # 5x5 maps enlarged 11 times, side by side
    assert grid[0, :55, :55].max() == 0  # a constant map is black
    assert grid[0, :55, 57:].min() == 0 and grid[0, :55, 57:].max() == 1  # each map spans 0..1
    assert (grid[0, :, 55:57] == 1).all()  # the white gap


@pytest.mark.parametrize("fresh", [True, False])
def test_a_fresh_run_replaces_the_previous_runs_events_and_a_resumed_one_adds_to_them(tmp_path, fresh):
    from convlab import tensorboard_logging

    old_events = tmp_path / "train" / "events.out.tfevents.1.host.1.0.v2"
    notes = tmp_path / "train" / "notes.txt"
    old_events.parent.mkdir()
    old_events.write_bytes(b"")
    notes.write_text("not TensorBoard's")
    tensorboard_logging.callbacks(tmp_path, fresh=fresh)
    assert old_events.exists() != fresh and notes.exists()


def test_a_resumed_run_logs_the_input_image_once(tmp_path):
    import keras

    from convlab import tensorboard_logging

    inputs = keras.Input((28, 28, 1))
    maps_of = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(maps_of)))
    model.compile("adam", "sparse_categorical_crossentropy")
    image = np.zeros((28, 28), np.uint8)
    for epoch in (0, 1):  # a run stopped after epoch 1, then resumed
        maps = tensorboard_logging.FeatureMapImages(tmp_path, image, "a black square")
        model.fit(image[None, ..., None], np.zeros(1), initial_epoch=epoch, epochs=epoch + 1, verbose=0,
                  callbacks=[maps])
    images = summaries(tmp_path)
    assert {tag: [step for step, _ in values] for tag, (_, values) in images.items()} == {
        "input": [0], "conv": [0, 1]}


def test_piped_output_is_one_line_per_epoch_without_escape_codes(logged_run):
    _, result = logged_run
    assert "\x1b" not in result.stdout + result.stderr  # the progress bar's bold and colours
    lines = result.stdout.splitlines()  # text mode turns each \r of a redrawn bar into a line break
    epochs = [line for line in lines if line.startswith("Epoch ")]
    progress = [line for line in lines if re.match(r"\d+/\d+ - ", line)]
    assert epochs == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"] * 2  # dnn, then cnn
    assert len(progress) == 2 * EPOCHS and all("val_accuracy" in line for line in progress)
    assert len(lines) < 50 and len(result.stdout) < 5000  # a progress bar redraws itself all epoch long


@pytest.mark.parametrize("flag, terminal, verbose", [
    ([], True, 1), ([], False, 2), (["--verbose", "auto"], False, 2),
    (["--verbose", "1"], False, 1), (["--verbose", "0"], True, 0), (["--verbose", "2"], True, 2),
])
def test_verbose_auto_is_a_progress_bar_on_a_terminal_only(monkeypatch, flag, terminal, verbose):
    stdout = io.StringIO()
    stdout.isatty = lambda: terminal
    monkeypatch.setattr("sys.stdout", stdout)
    assert train.parse_args(flag).verbose == verbose


def test_tensorboard_folder_defaults_to_logs_in_the_run_folder(short_run, tmp_path):
    out, _ = short_run  # --tensorboard without DIR
    assert sorted(path.name for path in (out / "logs").iterdir()) == ["cnn", "dnn"]
    assert train.parse_args(["--tensorboard", str(tmp_path / "tb")]).tensorboard == tmp_path / "tb"
    assert train.parse_args([]).tensorboard is None


def test_unwritable_tensorboard_folder_is_refused_before_anything_is_written(tmp_path):
    in_the_way = tmp_path / "notes.txt"
    in_the_way.write_text("a file where the log folder should go")
    args = train.parse_args(["--tensorboard", str(in_the_way / "logs"), "--out", str(tmp_path / "out")])
    with pytest.raises(tensorboard_logging.LogDirError) as error:
        train.run(args)
    assert str(error.value) == (f"cannot write TensorBoard logs to {in_the_way / 'logs'}: "
                                f"{in_the_way} is a file, not a folder.\n"
                                "Pass --tensorboard DIR with a folder you can write to.")
    assert sorted(tmp_path.iterdir()) == [in_the_way]  # no --out, no logs
