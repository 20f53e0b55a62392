"""Writing results whole or not at all.

Every file is written under a temporary name beside its destination and renamed
into place (os.replace is atomic on one file system), so a crash or Ctrl-C leaves
either the previous complete file or the new complete one, never a truncated one.
"""

import contextlib
import json
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path to write; rename it to `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder (so the rename stays on one file system), same suffix (Keras and
    # matplotlib pick the format from it), hidden name.
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path, data):
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n")


def save_model(model, path):
    with atomic_path(path) as temporary:
        model.save(temporary)


def save_figure(figure, path, **savefig_options):
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, **savefig_options)
    finally:
        plt.close(figure)
