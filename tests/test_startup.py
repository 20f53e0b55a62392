"""TensorFlow's start-up notices stay out of the scripts' output; every other line it prints gets through."""

import os
import subprocess
import sys

from conftest import REPO
from convlab.tensorflow_startup import worth_showing

# What TensorFlow 2.21 prints as it loads on a machine with no NVIDIA driver (timestamps shortened).
NO_GPU_NOTICES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1795638946.160166    5468 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. "
    "To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n",
    "I0000 00:00:1795638946.162870    5468 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
    "GPU will not be used.\n",
    "E0000 00:00:1795638952.365308    5468 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: UNKNOWN ERROR (303)\n",
]
CUINIT_FAILED = NO_GPU_NOTICES[3]


def test_the_no_gpu_notices_are_dropped_and_other_lines_kept():
    other = ["W0000 00:00:1795638952.365308    5468 some_op.cc:12] something went wrong\n",
             "UserWarning: a Python warning\n"]
    assert worth_showing(NO_GPU_NOTICES + other) == other


def test_a_failed_cuinit_is_shown_where_a_cuda_driver_is_installed():
    """Without the "Could not find cuda drivers" notice there is a driver, so a failing cuInit is a real error."""
    assert worth_showing([NO_GPU_NOTICES[0], CUINIT_FAILED]) == [CUINIT_FAILED]


def test_the_filter_catches_what_the_library_writes_to_the_process_stderr(tmp_path):
    """A stand-in tensorflow package writes to file descriptor 2 from its import, as TensorFlow's C++ does."""
    package = tmp_path / "tensorflow"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os, types\n"
        f"for line in {NO_GPU_NOTICES + ['E0000 real.cc:1] a real error' + chr(10)]!r}:\n"
        "    os.write(2, line.encode())\n"
        "config = types.SimpleNamespace(list_physical_devices=lambda kind: [])\n")
    result = subprocess.run(
        [sys.executable, "-c", "from convlab import tensorflow_startup; tensorflow_startup.import_tensorflow(); print('done')"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"},
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("done\n", "E0000 real.cc:1] a real error\n")


def test_a_training_run_shows_none_of_the_notices(short_run):
    _, result = short_run
    lines = result.stderr.splitlines(keepends=True)
    assert worth_showing(lines) == lines  # before tensorflow_startup.py: the four notices above
