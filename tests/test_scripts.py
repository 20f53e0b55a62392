"""Every script of the project answers --help with its usage, and does nothing else."""

import contextlib
import io
import runpy
import sys

import pytest

from helpers import REPO

# A script is a file that runs when started: it has a __main__ guard. Every file in benchmarks/ is
# one, but the package's own __init__.py and the modules the benchmarks share.
BENCHMARK_MODULES = ["__init__", "chromium", "course", "cpu_usage", "flops", "not_garments"]
SCRIPTS = sorted(path.name for path in REPO.glob("*.py") if 'if __name__ == "__main__":' in path.read_text())
BENCHMARKS = sorted(path.stem for path in REPO.glob("benchmarks/*.py")
                    if 'if __name__ == "__main__":' in path.read_text())


def test_every_benchmark_is_a_script():
    found = sorted(path.stem for path in REPO.glob("benchmarks/*.py") if path.stem not in BENCHMARK_MODULES)
    assert found == BENCHMARKS
    assert {"train.py", "visualize.py", "predict.py", "export.py"} <= set(SCRIPTS)


def run_help(monkeypatch, run):
    """Run a script's --help in this process, one after the other: TensorFlow starts once, not once per script."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit) as exit:
        run()
    assert exit.value.code == 0
    usage = stdout.getvalue()
    assert "options:" in usage and "-h, --help" in usage
    return usage


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_prints_the_usage_and_exits_0(script, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(REPO / script), "--help"])
    usage = run_help(monkeypatch, lambda: runpy.run_path(str(REPO / script), run_name="__main__"))
    assert usage.startswith(f"usage: {script} ")


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_runs_as_a_module_of_the_package(name, monkeypatch):
    """`python -m benchmarks.NAME --help`, from the repository root, with no sys.path of its own."""
    monkeypatch.setattr(sys, "argv", ["-m", "--help"])
    monkeypatch.delitem(sys.modules, f"benchmarks.{name}", raising=False)  # imported by another: run it afresh
    monkeypatch.chdir(REPO)
    usage = run_help(monkeypatch, lambda: runpy.run_module(f"benchmarks.{name}", run_name="__main__", alter_sys=True))
    assert usage.startswith(f"usage: {name}.py ")
