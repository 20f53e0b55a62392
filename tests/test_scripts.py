"""Every script of the project answers --help with its usage, and does nothing else."""

import contextlib
import io
import runpy
import sys

import pytest

from conftest import REPO

# A script is a file that runs when started: it has a __main__ guard. Every file in benchmarks/ is
# one, but the three modules the benchmarks share.
BENCHMARK_MODULES = ["benchmarks/course.py", "benchmarks/cpu_usage.py", "benchmarks/flops.py"]
SCRIPTS = sorted(path.relative_to(REPO).as_posix() for path in [*REPO.glob("*.py"), *REPO.glob("benchmarks/*.py")]
                 if 'if __name__ == "__main__":' in path.read_text())


def test_every_benchmark_is_a_script():
    assert sorted(path.relative_to(REPO).as_posix() for path in REPO.glob("benchmarks/*.py")
                  if path.relative_to(REPO).as_posix() not in BENCHMARK_MODULES) == [
        script for script in SCRIPTS if script.startswith("benchmarks/")]
    assert {"train.py", "visualize.py", "predict.py", "export.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_prints_the_usage_and_exits_0(script, monkeypatch):
    """In this process, one after the other: TensorFlow starts once, not once per script."""
    monkeypatch.setattr(sys, "argv", [str(REPO / script), "--help"])
    monkeypatch.syspath_prepend(str((REPO / script).parent))
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit) as exit:
        runpy.run_path(str(REPO / script), run_name="__main__")
    assert exit.value.code == 0
    usage = stdout.getvalue()
    assert usage.startswith(f"usage: {script.split('/')[-1]} ") and "options:" in usage and "-h, --help" in usage
