"""Where one model beats another: the test images it gets right that the other gets wrong (and the
reverse), and how each model's test accuracy holds up when every test image is shifted.

The lesson's claim, put to the test: a convolution finds a feature wherever it sits, and
pooling keeps it. The course CNN ends in Flatten + Dense, which ties what it found back to
a place, so shifts measure how far the claim carries (docs/train.md gives the numbers).
Used by report.py (the images a model fixes, after train.py), visualize.py shifts and the
notebook. numpy only; the models are given.
"""

from typing import NamedTuple

import numpy as np

DIRECTIONS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
SHIFTS = range(5)  # pixels: 0 (the test images as they are) to 4


class Fixes(NamedTuple):
    """Test images, by index, that `model` gets right and `baseline` wrong (fixed), and the reverse (broken)."""

    baseline: str
    model: str
    fixed: np.ndarray
    broken: np.ndarray

    def line(self):
        return (f"The {self.model} fixes {len(self.fixed):,} of the {self.baseline}'s test errors and makes "
                f"{len(self.broken):,} new ones.")


def fixes(baseline, model, probabilities, labels):
    """Fixes of `model` over `baseline`; probabilities: {name: (N, classes)} for the test images, labels (N,)."""
    right = {name: probabilities[name].argmax(axis=1) == labels for name in (baseline, model)}
    return Fixes(baseline, model, np.flatnonzero(right[model] & ~right[baseline]),
                 np.flatnonzero(right[baseline] & ~right[model]))


def clearest(indices, winner, loser, labels, count=8):
    """The `count` images of `indices` the winner gets most clearly right where the loser is wrong: the largest
    gap in the probability each gives the true class. Ties go to the lower index, so the choice never varies."""
    rows = np.arange(len(labels))
    gap = winner[rows, labels] - loser[rows, labels]
    order = sorted(indices.tolist(), key=lambda index: (-round(float(gap[index]), 6), index))
    return np.array(order[:count], dtype=int)


def shifted(images, pixels, direction):
    """The images (N, 28, 28) moved `pixels` in a direction of DIRECTIONS, the uncovered border black."""
    down, right = DIRECTIONS[direction]
    moved = np.zeros_like(images)
    height, width = images.shape[1:3]
    rows, columns = slice(max(0, down * pixels), height + min(0, down * pixels)), \
        slice(max(0, right * pixels), width + min(0, right * pixels))
    source = (slice(max(0, -down * pixels), height + min(0, -down * pixels)),
              slice(max(0, -right * pixels), width + min(0, -right * pixels)))
    moved[:, rows, columns] = images[:, source[0], source[1]]
    return moved


def accuracy_under_shifts(predict, images, labels, shifts=SHIFTS):
    """{pixels: test accuracy, the four directions averaged} for predict(images) -> probabilities."""
    found = {}
    for pixels in shifts:
        directions = ["up"] if pixels == 0 else list(DIRECTIONS)  # 0 pixels: every direction is the same
        found[pixels] = float(np.mean([np.mean(predict(shifted(images, pixels, d)).argmax(axis=1) == labels)
                                       for d in directions]))
    return found
