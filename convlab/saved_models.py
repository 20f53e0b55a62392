"""Find and load a model that train.py saved, with a message the user can act on.

Used by every script that uses a saved model: visualize.py (feature maps, filters,
the explorer page), predict.py, export.py, and the benchmarks that measure a saved
model. Keras is imported inside the functions, so importing this module
costs nothing.
"""

import sys
from pathlib import Path

from convlab import files, runs
from convlab.data import INPUT_SHAPE, NUM_CLASSES

DEFAULT_MODEL = "cnn"  # the model of the latest run that a script uses when given no --model
# What to do about a bad model file; a script that takes no --model says its own.
PASS_A_MODEL = "Pass --model PATH to a .keras model saved by train.py, e.g. runs/RUN/cnn.keras."


class ModelFileError(Exception):
    """The model file is missing or unusable; the message says what to pass instead."""


def model_or_latest(path, name=DEFAULT_MODEL):
    """--model PATH if given, else model `name` of the latest full run (runs.run_for_tools); says which
    model it is and how good."""
    if path is not None:
        describe(existing_model_file(path))
        return Path(path)
    try:
        run, note = runs.run_for_tools(name)
    except (runs.RunError, files.DamagedFileError) as error:
        raise ModelFileError(str(error)) from None
    model = runs.RunFolder(run).model(name)
    if not model.is_file():
        raise ModelFileError(f"the latest run, {run}, trained no {name} model: it has no {model.name}.\n"
                             f"Run `python train.py` (it trains {name}), or pass --model PATH to a saved .keras model.")
    if note:
        print(note, file=sys.stderr)
    describe(model, latest="the latest full run" if note else "the latest run")
    return model


def describe(path, latest=None):
    """Say which model a script uses and how good it is, from results.json beside it when train.py wrote one.

    e.g. "Using runs/RUN/cnn.keras, from the latest run (test accuracy 91.3%, 5 epochs on 55,000 images)",
    and for a quick run (--limit, or fewer epochs than the model's recipe) a second line saying so.
    latest: which run it is, when the script chose it.
    """
    try:
        found = runs.RunFolder(Path(path).parent).model_results(runs.model_name(path))
    except files.DamagedFileError as error:
        raise ModelFileError(f"{error}. The model itself may be fine: pass it with --model PATH.") from None
    line = f"Using {path}" + (f", from {latest}" if latest else "")
    if found:
        epochs = f"{found['epochs']} epoch" + ("s" if found["epochs"] != 1 else "")
        images = f" on {found['train_images']:,} images" if "train_images" in found else ""
        line += f" (test accuracy {found['test_accuracy']:.1%}, {epochs}{images})"
        if found.get("quick"):
            line += ("\nA quick run: fewer images or epochs than the model's recipe, so its answers are rougher "
                     "than a full run's. `python train.py` trains the full model.")
    print(line, file=sys.stderr)


def existing_model_file(path, fix=PASS_A_MODEL):
    """Return `path` if it is a file; otherwise say how to get one."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        kind = ("a SavedModel export (for TF Serving, not Keras)" if (path / "saved_model.pb").is_file()
                else "a folder")
        raise ModelFileError(f"{path} is {kind}, not a .keras model file.\n{fix}")
    raise ModelFileError(f"no model file at {path}.\n{fix}")


def load_model(path, fix=PASS_A_MODEL):
    """Load a saved model for inference (no optimizer state), computing in float32.

    A model trained in mixed precision is given back as its float32 copy
    (hardware.float32_copy): the same weights, answers every caller can draw and export.
    """
    from convlab.tensorflow_startup import import_tensorflow

    import_tensorflow()  # before Keras loads it, without its start-up notices
    import keras

    from convlab.hardware import float32_copy

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception:  # a wrong suffix, a damaged zip, a foreign HDF5 file: Keras raises many kinds
        raise ModelFileError(
            f"{path} is not a Keras model file that Keras {keras.__version__} can load.\n{fix}") from None
    if not model.built:  # e.g. a Sequential saved before it saw an input: it has no shape to check or export
        raise ModelFileError(f"{path} holds a model that was never built (it has no input shape), so it has "
                             f"learned nothing.\n{fix}")
    return float32_copy(model)


def network(model):
    """The network that looks at the image: inside a model saved with its mirror (model.with_mirror), else the model.

    The feature maps, filters, explorer and unsure rule look inside the network, at the
    image itself; the model's answer (predict.py, export.py) is the whole model's.
    """
    import keras

    inside = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inside[0] if len(inside) == 1 else model


def check_input_shape(model, path, fix=PASS_A_MODEL):
    """Refuse a model that does not take one 28x28x1 image, the input of every model of this project."""
    shapes = [tuple(model_input.shape[1:]) for model_input in model.inputs]
    if shapes != [INPUT_SHAPE]:
        raise ModelFileError(f"{path} takes inputs of shape {', '.join(map(str, shapes))}, not one "
                             f"{INPUT_SHAPE} image like the models of this project.\n{fix}")


def check_classes(model, path, fix=PASS_A_MODEL):
    """Refuse a model that does not answer the 10 Fashion-MNIST class probabilities, whose names are shown."""
    shapes = [tuple(output.shape[1:]) for output in model.outputs]
    if shapes != [(NUM_CLASSES,)]:
        raise ModelFileError(f"{path} answers {', '.join(map(str, shapes))} per image, not the "
                             f"{NUM_CLASSES} Fashion-MNIST class probabilities.\n{fix}")
