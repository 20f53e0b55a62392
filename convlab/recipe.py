"""The training recipe: each model's epochs and learning rate, the settings one training resolves
to, the learning-rate schedule, and how long a training will take.

The recipe: Adam on a linear warm-up + cosine learning-rate schedule to each model's peak
learning rate, batch 128 per replica, uint8 images through tf.data (data.py), every epoch
backed up and logged (callbacks.py). train.py compiles and fits with it; the notebook and the
benchmarks call train.py's train_model, so there is one recipe.

No TensorFlow at import (Keras is imported where the schedule is made): train.py checks its
flags, and answers --help and --list, without loading it.
"""

import dataclasses
import difflib
import zlib
from typing import NamedTuple

from convlab import runs

BATCH_SIZE = 128  # per replica; measured fastest on a 2-core CPU (docs/speed.md)
WARMUP_FRACTION = 0.05  # of all steps, learning rate ramps up from 0 to its peak
SEED = 42


class Recipe(NamedTuple):
    """How a model of model.py trains unless flags say otherwise."""

    epochs: int
    learning_rate: float  # the peak of the warm-up + cosine schedule
    mirror: bool = False  # saved with model.with_mirror: its answers averaged with the mirror image's


# Every model train.py can train, by the name of its builder in model.py (model.BUILDERS).
# Epochs and learning rates chosen on the validation split, never on the test set (docs/train.md).
RECIPES = {
    "dnn": Recipe(epochs=10, learning_rate=4e-3),
    "cnn": Recipe(epochs=5, learning_rate=6e-3),
    "cnn_plus": Recipe(epochs=35, learning_rate=3e-3, mirror=True),
}

# The cnn's conv stack: filters per Conv2D + MaxPooling2D block. Each 3x3 convolution trims a
# 1-pixel border and each pooling halves the size, 28 -> 26 -> 13 -> 11 -> 5 -> 3 -> 1: at most
# three blocks fit.
COURSE_CONV_FILTERS = (64, 64)
MAX_CONV_BLOCKS = 3
MAX_FILTERS = 1024  # per block: wider stacks take minutes per step and gigabytes on a CPU
VARIANT_EXAMPLE = "cnn:32,32"


class TrainingError(Exception):
    """Training cannot go on; the message says why and what to do."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during training; completed epochs are backed up in `backups`."""

    def __init__(self, where, backups):
        super().__init__(where)
        self.backups = backups


class ModelSpec(NamedTuple):
    """A model to train: a recipe's name, or the cnn with a conv stack of its own ("cnn:32,32")."""

    name: str  # as written on the command line, and in results.json and the tables
    recipe: str  # the recipe and the builder it uses
    conv_filters: tuple = None  # the cnn's conv stack; None: the course's


def parse_model(text):
    """The ModelSpec for one --models value; ValueError with the fix for a name that is not one."""
    name, colon, stack = text.partition(":")
    if name not in RECIPES:
        close = difflib.get_close_matches(name, RECIPES, n=1)
        raise ValueError(f"unknown model {name}" + (f" (did you mean {close[0]}?)" if close else "")
                         + f"; choose from {', '.join(RECIPES)}, or the cnn with its own conv stack, "
                         f"e.g. {VARIANT_EXAMPLE}")
    if not colon:
        return ModelSpec(name, name)
    if name != "cnn":
        raise ValueError(f"{text}: only the cnn takes a conv stack after a colon, e.g. {VARIANT_EXAMPLE}")
    try:
        filters = tuple(int(value) for value in stack.split(","))
    except ValueError:
        raise ValueError(f"{text}: after cnn: come filters per conv block, whole numbers separated by commas, "
                         f"e.g. {VARIANT_EXAMPLE} or cnn:16 (no spaces)") from None
    if not 1 <= len(filters) <= MAX_CONV_BLOCKS:
        raise ValueError(f"{text}: the cnn takes 1 to {MAX_CONV_BLOCKS} conv blocks (a 28x28 image is 1x1 after "
                         f"three), got {len(filters)}")
    if not all(1 <= count <= MAX_FILTERS for count in filters):
        raise ValueError(f"{text}: each conv block takes 1 to {MAX_FILTERS} filters")
    if filters == COURSE_CONV_FILTERS:
        raise ValueError(f"{text} is the course's cnn itself: write cnn")
    return ModelSpec(f"cnn:{','.join(map(str, filters))}", "cnn", filters)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that decides how one model trains, resolved once from flags and recipe."""

    model: str  # the ModelSpec's name
    builder: str  # its builder in model.py (and recipe)
    epochs: int
    learning_rate: float
    batch_size: int = BATCH_SIZE  # per replica
    seed: int = SEED  # the weights, and each epoch's order of the training images
    conv_filters: tuple = None  # the cnn's conv stack; None: the course's
    target_accuracy: float = None  # stop once validation accuracy reaches it

    @classmethod
    def for_model(cls, spec, epochs=None, learning_rate=None, **others):
        """The model's recipe (RECIPES), with any setting given (not None) taking its place."""
        recipe = RECIPES[spec.recipe]
        return cls(spec.name, spec.recipe, epochs or recipe.epochs, learning_rate or recipe.learning_rate,
                   conv_filters=spec.conv_filters, **{key: value for key, value in others.items() if value is not None})

    @property
    def weights_seed(self):
        """The seed each model is built with: the run's seed and the model's name, so that a model starts
        from the same weights whatever the process built before it (a resumed run builds fewer)."""
        return zlib.crc32(f"{self.seed}:{self.model}".encode())


def optimizer(peak, total_steps):
    """Adam on the warm-up + cosine schedule to `peak` over `total_steps`: every model of the recipe trains with it."""
    import keras

    return keras.optimizers.Adam(learning_rate_schedule(peak, total_steps))


def learning_rate_schedule(peak, total_steps, warmup_fraction=WARMUP_FRACTION):
    """Linear warm-up to the peak, then cosine decay to zero at the last step."""
    import keras

    warmup = int(total_steps * warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(total_steps - warmup, 1), warmup_target=peak, warmup_steps=warmup)


# --- how long it will take -------------------------------------------------------------


def duration(seconds):
    """'40 s', '3 min', '1 h 05 min': as precise as an estimate deserves."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:02.0f} min"


def estimate(settings, images, validation_images, epochs_left, precision):
    """How long the training ahead takes at this machine's measured speed, or None where it was never
    measured at this size: the newest finished run in runs/ that trained this model on as many images, with
    the same batch size, precision and validation images. Another size's speed would mislead (a quick run's
    epochs are mostly start-up), so there is then no estimate before the first epoch."""
    seconds = runs.seconds_per_epoch(settings.model, images, settings.batch_size, precision, validation_images)
    if seconds is None or not epochs_left:
        return None
    return (f"Time: about {duration(seconds * epochs_left)}, at the speed of the last such run in "
            f"{runs.RUNS_DIR.name}/; refined after the first epoch.")
