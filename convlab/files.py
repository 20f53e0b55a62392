"""Files written whole or not at all, and whether a folder can be written.

Every file is written under a temporary name beside its destination and renamed
into place (os.replace is atomic on one file system), so a crash or Ctrl-C leaves
either the previous complete file or the new complete one, never a truncated one.
Used by every module and script that writes: runs, recipe, report, the scripts.

Standard library only (Keras is given its model): `visualize.py convolution` imports this
without TensorFlow.
"""

import contextlib
import json
import os
import shutil
from pathlib import Path

PASS_AN_OUT = "Pass --out a folder you can write to."  # the fix when --out cannot be written


class DamagedFileError(Exception):
    """A file the project wrote cannot be read back (cut short, edited, unreadable); the message names it."""


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path to write; rename it to `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder (so the rename stays on one file system), same suffix (Keras and
    # matplotlib pick the format from it), hidden name, this process's id (so that two
    # scripts writing the same file at once each write their own).
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path):
    """Yield a temporary path to create a folder at; put it in place of `path` only if the block succeeds.

    A folder cannot replace another in one rename, so the old one is first renamed
    aside: a crash between the two renames leaves no `path` and the old folder
    whole under a hidden name, never a half-written folder at `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary, old = (path.with_name(f".{path.name}.{os.getpid()}.{kind}") for kind in ("partial", "old"))
    try:
        yield temporary
        if path.exists():
            os.replace(path, old)
        try:
            os.replace(temporary, path)
        except OSError:
            if old.exists():
                os.replace(old, path)  # the previous folder back in place
            raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def folder_problem(path):
    """Why `path` cannot be, or be created as, a folder to write into; None if it can. Creates nothing."""
    path = Path(path).absolute()
    existing = next(folder for folder in [path, *path.parents] if folder.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def read_json(path, default=None, kind=None):
    """The JSON in `path`, or `default` if there is no such file.

    kind: the type the file must hold (dict or list). DamagedFileError, naming the file,
    for one that cannot be read or is not whole JSON of that kind.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DamagedFileError(f"{path} cannot be read: {reason(error)}") from None
    if kind is not None and not isinstance(data, kind):
        raise DamagedFileError(f"{path} cannot be read: it holds a {type(data).__name__}, not a "
                               f"{'JSON object' if kind is dict else 'JSON list'}")
    return data


def reason(error):
    """What went wrong, in a few words: an OSError's "No space left on device", else the message's first line."""
    if isinstance(error, ValueError) and not isinstance(error, UnicodeDecodeError):
        return "it is not whole JSON (cut short or edited)"
    text = getattr(error, "strerror", None) or str(error)
    return (text.splitlines() or [type(error).__name__])[0][:200]


def write_json(path, data):
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n")


def save_model(model, path):
    with atomic_path(path) as temporary:
        model.save(temporary)
