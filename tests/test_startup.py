"""TensorFlow's start-up notices stay out of the scripts' output; every other line it prints gets through."""

import os
import subprocess
import sys

from convlab.tensorflow_startup import worth_showing
from helpers import REPO

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
# What TensorFlow 2.19 (Colab's) prints besides, with TF_CPP_MIN_LOG_LEVEL=2, as the scripts set it.
TF_2_19_NOTICES = [
    "2026-12-03 08:22:47.057064: E external/local_xla/xla/stream_executor/cuda/cuda_fft.cc:467] Unable to register "
    "cuFFT factory: Attempting to register factory for plugin cuFFT when one has already been registered\n",
    "E0000 00:00:1796286167.081318   11001 cuda_dnn.cc:8579] Unable to register cuDNN factory: Attempting to "
    "register factory for plugin cuDNN when one has already been registered\n",
    "E0000 00:00:1796286167.085458   11001 cuda_blas.cc:1407] Unable to register cuBLAS factory: Attempting to "
    "register factory for plugin cuBLAS when one has already been registered\n",
    "W0000 00:00:1796286167.102601   11001 computation_placer.cc:177] computation placer already registered. "
    "Please check linkage and avoid linking the same target more than once.\n",
    "2026-12-03 08:22:58.432980: E external/local_xla/xla/stream_executor/cuda/cuda_platform.cc:51] failed call to "
    "cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n",
]
OTHER = ["W0000 00:00:1795638952.365308    5468 some_op.cc:12] something went wrong\n",
         "2026-12-03 08:22:58.432980: E tensorflow/core/some_op.cc:51] something else went wrong\n",
         "UserWarning: a Python warning\n"]


def test_the_no_gpu_notices_of_every_supported_tensorflow_are_dropped_and_other_lines_kept():
    assert worth_showing(NO_GPU_NOTICES + TF_2_19_NOTICES + OTHER, driver_installed=False) == OTHER


def test_a_failed_cuinit_is_shown_where_a_cuda_driver_is_installed():
    assert worth_showing([NO_GPU_NOTICES[0], CUINIT_FAILED], driver_installed=True) == [CUINIT_FAILED]
    assert worth_showing(TF_2_19_NOTICES[-1:], driver_installed=True) == TF_2_19_NOTICES[-1:]


def test_without_a_driver_on_this_machine_a_failed_cuinit_is_dropped(monkeypatch):
    from convlab import tensorflow_startup

    monkeypatch.setattr(tensorflow_startup, "cuda_driver_installed", lambda: False)
    assert worth_showing([CUINIT_FAILED] + TF_2_19_NOTICES[-1:]) == []


def test_the_filter_catches_what_the_library_writes_to_the_process_stderr(tmp_path):
    """A stand-in tensorflow package writes to file descriptor 2 from its import, as TensorFlow's C++ does."""
    package = tmp_path / "tensorflow"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os, types\n"
        f"for line in {NO_GPU_NOTICES + TF_2_19_NOTICES[:-1] + ['E0000 real.cc:1] a real error' + chr(10)]!r}:\n"
        "    os.write(2, line.encode())\n"
        "config = types.SimpleNamespace(list_physical_devices=lambda kind: [])\n")
    result = subprocess.run(
        [sys.executable, "-c",
         "from convlab import tensorflow_startup; tensorflow_startup.import_tensorflow(); print('done')"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"},
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("done\n", "E0000 real.cc:1] a real error\n")


def test_a_training_run_shows_none_of_the_notices(short_run):
    _, result = short_run
    lines = result.stderr.splitlines(keepends=True)
    assert worth_showing(lines) == lines  # before tensorflow_startup.py: the four notices above
