"""The training recipe: the learning-rate schedule, and each model's settings from its recipe and the flags."""

import math

import pytest

import model
import train
from convlab import recipe


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
    """The settings train.py hands recipe.py for a model, given flags as keywords (None: not given)."""
    return recipe.Settings.for_model(name, model.MODELS[name], **flags)


def test_without_flags_each_model_trains_with_its_recipe():
    assert settings(name="dnn") == recipe.Settings("dnn", epochs=10, learning_rate=4e-3, batch_size=128, seed=42)
    assert settings(name="cnn") == recipe.Settings("cnn", epochs=5, learning_rate=6e-3, batch_size=128, seed=42)
    assert settings(name="cnn_plus") == recipe.Settings("cnn_plus", epochs=35, learning_rate=3e-3,
                                                        batch_size=128, seed=42)


def test_given_flags_override_the_recipe():
    assert settings(epochs=3, learning_rate=0.01, batch_size=64, seed=7, conv_filters=(32,),
                    target_accuracy=0.9) == recipe.Settings(
        "cnn", epochs=3, learning_rate=0.01, batch_size=64, seed=7, conv_filters=(32,), target_accuracy=0.9)
    # One flag changes one setting: the others stay the recipe's.
    assert settings("cnn_plus", epochs=3, learning_rate=None, target_accuracy=None) == recipe.Settings("cnn_plus", epochs=3, learning_rate=3e-3,
                                                                         batch_size=128, seed=42)


def test_a_model_added_to_the_registry_is_a_models_choice_with_its_recipe(monkeypatch):
    monkeypatch.setitem(model.MODELS, "tiny", model.Registered(model.dnn, epochs=3, learning_rate=5e-4))
    assert train.parse_args(["--models", "tiny"]).models == ["tiny"]
    assert settings(name="tiny") == recipe.Settings("tiny", epochs=3, learning_rate=5e-4, batch_size=128, seed=42)
    assert model.build_model("tiny").count_params() == 101_770  # the dnn's builder


def test_the_time_to_go_leaves_out_the_first_steps_tracing(tmp_path, monkeypatch, capsys):
    """Epoch 1 of 5 takes 15 s, of which its first step 5 s (tracing the graph); the
    other 10 steps take 1 s each, so each later epoch takes 11 s: 44 s to go, not 60."""
    clock = iter([0.0, 5.0, 15.0])
    monkeypatch.setattr(recipe.time, "perf_counter", lambda: next(clock))
    log = recipe.EpochLog("cnn", tmp_path / "cnn_history.json", [])
    log.set_params({"epochs": 5, "steps": 11})
    log.on_epoch_begin(0)
    log.on_train_batch_end(0)
    log.on_epoch_end(0, {"accuracy": 0.8, "loss": 0.5})
    assert capsys.readouterr().out == "\ncnn: epoch 1 took 15 s; about 44 s to go.\n"
    assert log.rows == [{"epoch": 1, "accuracy": 0.8, "loss": 0.5, "seconds": 15.0}]
