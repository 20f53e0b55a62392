"""What the scripts share on the command line: flag types that refuse impossible values, the check of
the folder a script writes into, and the one message for a write that fails.

Each script parses its own flags; this holds only what all of them would otherwise write
again. Standard library only: every script checks its flags and --out before it loads
TensorFlow or any data.
"""

import argparse
import contextlib
import sys

from convlab import files

INTERRUPTED = 130  # the shell's exit code for a command stopped by Ctrl-C (128 + SIGINT)


class OutputError(Exception):
    """A folder that cannot be written, or a write that failed; the message says what to do."""


def stopped():
    """Ctrl-C (during TensorFlow's import, say): one line instead of a traceback, and the shell's exit code.
    Files are written whole or not at all, so a stop leaves nothing half-written."""
    print("\nStopped.", file=sys.stderr)
    return INTERRUPTED


def check_out(out, flag="--out"):
    """Refuse a folder that cannot be written (or created) before any work, not after it."""
    problem = files.folder_problem(out)
    if problem:
        raise OutputError(f"cannot write into {flag} {out}: {problem}.\n{files.PASS_AN_OUT}")


@contextlib.contextmanager
def writing(path, fix=files.PASS_AN_OUT, then=""):
    """Name the file once written (followed by `then`, what to do with it); turn a failed write (a full disk,
    a folder made read-only) into one message."""
    try:
        yield
    except OSError as error:
        raise OutputError(f"cannot write {path}: {files.reason(error)}.\n{fix}") from None
    print(f"Wrote {path}{then}")


def save_figure(figure, path):
    """Save a matplotlib figure whole, saying where, or fail with one message."""
    from convlab import figures

    with writing(path):
        figures.save(figure, path)


def integer(low, high, what=""):
    """An argparse type: a whole number from low to high, else an error naming the range (and why, in `what`)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:,} to {high:,}{what}, got {value:,}")
        return value

    return parse


def fraction(text):
    """An argparse type: a number in (0, 1], e.g. an accuracy to reach."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.91, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"is a fraction in (0, 1], e.g. 0.91; got {value:g}")
    return value


def positive(text):
    """An argparse type: a positive, finite number, e.g. a learning rate."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.001, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value:g}")
    return value
