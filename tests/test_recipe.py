"""The training recipe: the learning-rate schedule, each model's settings from its recipe and the flags,
and the --models names, variants included."""

import math

import pytest

import model
import train
from convlab import callbacks, recipe


@pytest.mark.parametrize("step, learning_rate", [
    (0, 0.0),  # the warm-up starts from zero...
    (3, 0.5e-3),  # ...climbs linearly...
    (6, 1e-3),  # ...to the peak after 5% of the 120 steps;
    (6 + 57, 0.5e-3),  # then the cosine is at half the peak halfway through the 114 decay steps...
    (6 + 76, 0.25e-3),  # ...at a quarter two thirds of the way (1 + cos 120 degrees = 1/2)...
    (120, 0.0),  # ...and at zero on the last step.
])
def test_schedule_warms_up_to_the_peak_then_decays_to_zero(step, learning_rate):
    schedule = recipe.learning_rate_schedule(1e-3, total_steps=120)
    assert math.isclose(float(schedule(step)), learning_rate, rel_tol=1e-5, abs_tol=1e-9)


def settings(name="cnn", **flags):
    """The settings train.py hands the recipe for a model, given flags as keywords (None: not given)."""
    return recipe.Settings.for_model(recipe.parse_model(name), **flags)


def test_without_flags_each_model_trains_with_its_recipe():
    assert settings(name="dnn") == recipe.Settings("dnn", "dnn", epochs=10, learning_rate=4e-3, batch_size=128,
                                                   seed=42)
    assert settings(name="cnn") == recipe.Settings("cnn", "cnn", epochs=5, learning_rate=6e-3, batch_size=128,
                                                   seed=42)
    assert settings(name="cnn_plus") == recipe.Settings("cnn_plus", "cnn_plus", epochs=35, learning_rate=3e-3,
                                                        batch_size=128, seed=42)
    assert settings(name="cnn:32,32") == recipe.Settings("cnn:32,32", "cnn", epochs=5, learning_rate=6e-3,
                                                         conv_filters=(32, 32))


def test_given_flags_override_the_recipe():
    assert settings(epochs=3, learning_rate=0.01, batch_size=64, seed=7, target_accuracy=0.9) == recipe.Settings(
        "cnn", "cnn", epochs=3, learning_rate=0.01, batch_size=64, seed=7, target_accuracy=0.9)
    # One flag changes one setting: the others stay the recipe's.
    assert settings("cnn_plus", epochs=3, learning_rate=None, target_accuracy=None) == recipe.Settings(
        "cnn_plus", "cnn_plus", epochs=3, learning_rate=3e-3, batch_size=128, seed=42)


def test_every_recipe_has_a_builder_and_every_builder_a_recipe():
    assert list(recipe.RECIPES) == list(model.BUILDERS)


def test_a_model_added_to_the_registry_is_a_models_choice_with_its_recipe(monkeypatch):
    monkeypatch.setitem(recipe.RECIPES, "tiny", recipe.Recipe(epochs=3, learning_rate=5e-4))
    monkeypatch.setitem(model.BUILDERS, "tiny", model.dnn)
    assert train.parse_args(["--models", "tiny"]).models == ["tiny"]
    assert settings(name="tiny") == recipe.Settings("tiny", "tiny", epochs=3, learning_rate=5e-4, batch_size=128,
                                                    seed=42)
    assert model.build_model("tiny").count_params() == 101_770  # the dnn's builder


def test_each_model_starts_from_weights_of_its_own_seed_and_name():
    assert settings("cnn").weights_seed == settings("cnn", epochs=2).weights_seed  # not the epochs or the order
    assert len({settings(name).weights_seed for name in ("dnn", "cnn", "cnn:32,32")}) == 3
    assert settings("cnn", seed=1).weights_seed != settings("cnn", seed=2).weights_seed


@pytest.mark.parametrize("text, spec", [
    ("cnn", recipe.ModelSpec("cnn", "cnn")),
    ("cnn:16,16", recipe.ModelSpec("cnn:16,16", "cnn", (16, 16))),
    ("cnn:64", recipe.ModelSpec("cnn:64", "cnn", (64,))),
    ("cnn:064,64,64", recipe.ModelSpec("cnn:64,64,64", "cnn", (64, 64, 64))),
])
def test_a_conv_stack_after_cnn_names_a_variant(text, spec):
    assert recipe.parse_model(text) == spec


@pytest.mark.parametrize("text, message", [
    ("cnnplus", "unknown model cnnplus (did you mean cnn_plus?); choose from dnn, cnn, cnn_plus, or the cnn with "
                "its own conv stack, e.g. cnn:32,32"),
    ("resnet", "unknown model resnet; choose from dnn, cnn, cnn_plus"),
    ("dnn:128", "dnn:128: only the cnn takes a conv stack after a colon, e.g. cnn:32,32"),
    ("cnn:32 32", "cnn:32 32: after cnn: come filters per conv block, whole numbers separated by commas"),
    ("cnn:", "cnn:: after cnn: come filters per conv block"),
    ("cnn:32,32,32,32", "cnn:32,32,32,32: the cnn takes 1 to 3 conv blocks (a 28x28 image is 1x1 after three), got 4"),
    ("cnn:0,32", "cnn:0,32: each conv block takes 1 to 1024 filters"),
    ("cnn:5000", "cnn:5000: each conv block takes 1 to 1024 filters"),
    ("cnn:64,64", "cnn:64,64 is the course's cnn itself: write cnn"),
])
def test_a_badly_written_model_is_refused_with_what_to_write(text, message):
    with pytest.raises(ValueError) as error:
        recipe.parse_model(text)
    assert str(error.value).startswith(message)


def test_the_time_to_go_leaves_out_the_first_steps_tracing(tmp_path, monkeypatch, capsys):
    """Epoch 1 of 5 takes 15 s, of which its first step 5 s (tracing the graph); the
    other 10 steps take 1 s each, so each later epoch takes 11 s: 44 s to go, not 60."""
    clock = iter([0.0, 5.0, 15.0])
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    log = callbacks.EpochLog("cnn", tmp_path / "cnn_history.json", [])
    log.set_params({"epochs": 5, "steps": 11})
    log.on_epoch_begin(0)
    log.on_train_batch_end(0)
    log.on_epoch_end(0, {"accuracy": 0.8, "loss": 0.5})
    assert capsys.readouterr().out == "\ncnn: epoch 1 took 15 s; about 44 s to go.\n"
    assert log.rows == [{"epoch": 1, "accuracy": 0.8, "loss": 0.5, "seconds": 15.0}]


def test_a_time_to_go_under_ten_seconds_is_not_worth_a_line(tmp_path, monkeypatch, capsys):
    clock = iter([0.0, 0.5, 1.5])
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    log = callbacks.EpochLog("cnn", tmp_path / "cnn_history.json", [])
    log.set_params({"epochs": 2, "steps": 11})
    log.on_epoch_begin(0)
    log.on_train_batch_end(0)
    log.on_epoch_end(0, {"accuracy": 0.8, "loss": 0.5})
    assert capsys.readouterr().out == ""
