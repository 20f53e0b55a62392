"""Shared test helpers: where the repo and the data are, and how to run a script."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# CI and the development machines have no internet: the four files sit in ../shared.
DATA_DIR = Path(os.environ.get("FASHION_MNIST_DIR", REPO.parent / "shared" / "data" / "fashion-mnist"))


def run_script(*args, timeout=600):
    """Run a project script as a user would; returns the CompletedProcess."""
    env = {**os.environ, "FASHION_MNIST_DIR": str(DATA_DIR), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def fashion_mnist():
    from data import load_fashion_mnist

    return load_fashion_mnist(DATA_DIR)
