"""When predict.py says it is unsure of an answer: the rule, and the words it says it with.

Used by predict.py and benchmarks/predict_unsure.py, which measures the rule.
"""

import numpy as np

from convlab.data import NUM_CLASSES

# A model must name one of its 10 classes for any image, a colour gradient included; below
# this top probability predict.py says it is unsure. Chosen with benchmarks/predict_unsure.py,
# whose measured hit rates docs/predict.md gives: entropy separates a little better, but a
# reader can check this rule against the top probability printed beside it.
UNSURE_BELOW = 0.75
UNSURE = "(unsure)"
UNSURE_WHY = (f"{UNSURE}: its top class has less than {UNSURE_BELOW:.0%}. The model can only choose among "
              f"its {NUM_CLASSES} classes of clothing, so this may be none of them, or one it cannot tell apart.")


def unsure(probabilities):
    """True where the model is unsure: its top class is below UNSURE_BELOW. probabilities: (..., 10)."""
    return np.asarray(probabilities).max(axis=-1) < UNSURE_BELOW
