"""Export trained models for serving: a TensorFlow SavedModel (TF Serving) and a TensorFlow Lite file (phones).

    python export.py                      # every model of the latest run (runs/latest)
    python export.py runs/RUN/cnn.keras   # only these

Each export lies next to its .keras file, in the folder of the run that trained it,
e.g. runs/RUN/cnn_savedmodel/ and runs/RUN/cnn.tflite.
Both take what the .keras model takes, uint8 images of shape (N, 28, 28, 1) named
"image", and answer the 10 class probabilities; both compute in float32.
"""

import argparse
import sys
from pathlib import Path

from convlab import cli, files, runs
from convlab.data import INPUT_SHAPE
from convlab.saved_models import ModelFileError, check_input_shape, describe, existing_model_file, load_model
from convlab.tensorflow_startup import import_tensorflow

EXAMPLE = "python export.py runs/RUN/cnn.keras"
# What to do about a bad model file: export.py takes models as paths, not with --model.
PASS_A_PATH = f"Pass the path of a .keras model saved by train.py, e.g. {EXAMPLE}."
TRAIN_FIRST = f"Run `python train.py` first, or pass the paths of .keras models, e.g. {EXAMPLE}."
CANNOT_WRITE = ("export.py writes next to the .keras file: copy the model into a folder you can write to, "
                "and export it there.")


class ExportError(Exception):
    """A model cannot be exported; the message says why and what to do."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", type=Path, metavar="MODEL.keras",
                        help="models saved by train.py (default: every .keras file of the latest run)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        for model_file in [existing_model_file(path, PASS_A_PATH) for path in args.models] or saved_models():
            export(model_file)
    except (ModelFileError, ExportError, runs.RunError, files.DamagedFileError) as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit(cli.stopped())


def saved_models(folder=None):
    """Every model train.py saved in `folder`, by default the latest run's (not the hidden
    temporaries of a write in progress)."""
    if folder is None:
        folder, note = runs.run_for_tools(fix=TRAIN_FIRST)
        print(note or f"Exporting the models of the latest run, {folder}")
    models = sorted(path for path in folder.glob("*.keras") if not path.name.startswith("."))
    if not models:
        raise ExportError(f"no .keras models in {folder}.\n{TRAIN_FIRST}")
    return models


def export(model_file):
    """Write NAME_savedmodel/ and NAME.tflite beside NAME.keras: both whole, or neither."""
    tf = import_tensorflow()

    run_folder, name = runs.RunFolder(model_file.parent), model_file.stem
    saved_model, tflite = run_folder.saved_model(name), run_folder.tflite(name)
    problem = files.folder_problem(run_folder.path)
    if problem:
        raise ExportError(f"cannot write the exports of {model_file}: {problem}.\n{CANNOT_WRITE}")
    describe(model_file)
    model = load_model(model_file, PASS_A_PATH)  # computing in float32: TFLite has no bfloat16 kernels
    check_input_shape(model, model_file, PASS_A_PATH)
    making = f"{saved_model.name}/"
    try:
        # Both are made under temporary names; neither is renamed into place unless both succeed.
        with files.atomic_directory(saved_model) as saved_temporary, files.atomic_path(tflite) as tflite_temporary:
            export_saved_model(model, saved_temporary)
            making = tflite.name
            # From the SavedModel: TFLiteConverter.from_keras_model fails on Keras 3 models.
            tflite_temporary.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(saved_temporary)).convert())
    except (OSError, tf.errors.OpError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "message", None) or error
        raise ExportError(f"cannot write {saved_model} and {tflite}: {reason}.\n{CANNOT_WRITE}") from None
    except Exception as error:  # tracing and conversion errors come in many kinds, and can run to pages
        gist = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise ExportError(f"cannot make {making} from {model_file}: {gist}\n"
                          "Nothing was written for this model.") from None
    print(f"Wrote {saved_model}/ (TF Serving) and {tflite} (TensorFlow Lite, {tflite.stat().st_size / 1e6:.1f} MB)")


def export_saved_model(model, path):
    """What model.export(path, format="tf_saved_model") does, but with training=False.

    model.export calls the model without a training argument, and Keras' random
    augmentation layers (cnn_plus's flips and shifts) then default to training mode:
    the served model would flip and shift every image it is asked about.
    """
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda image: model(image, training=False),
                         input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.uint8, name="image")])
    archive.write_out(str(path), verbose=False)


if __name__ == "__main__":
    main()
