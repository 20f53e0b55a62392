"""Import TensorFlow without the start-up notices that look like errors on a machine with no GPU.

TensorFlow prints these from C++ as it loads, before its logging is set up, so
TF_CPP_MIN_LOG_LEVEL does not silence them. TensorFlow 2.21 (glog's prefix):

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results ...
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 ... cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: ...

TensorFlow 2.19 (Colab's) adds the CUDA plugins it registers twice, some with a date as the prefix:

    2026-12-03 08:22:47.057064: E external/.../cuda_fft.cc:467] Unable to register cuFFT factory: Attempting ...
    E0000 ... cuda_dnn.cc:8579] Unable to register cuDNN factory: Attempting to register factory for plugin ...
    W0000 ... computation_placer.cc:177] computation placer already registered. Please check linkage ...

So the scripts import TensorFlow here, first, with the process's stderr caught in a
file: the notices above are dropped, every other line is passed on. The cuInit
failure is dropped only where there is no CUDA driver at all: with a driver installed,
it is a real error and stays. Used by train.py, saved_models.py (every script that
loads a model) and data.py's download.
"""

import ctypes
import os
import re
import sys
import tempfile

# A line of TensorFlow's C++ log: glog's "I0000 00:00:17956.16 5468 file.cc:153] " or "2026-12-03 08:22:47.05: I
# path/file.cc:153] ", then the message.
LOG_PREFIX = r"(?:[IWEF]\d{4} [^\]]*\]|\d{4}-\d\d-\d\d [\d:.]+: [IWEF] [^\]]*\]) "
# Notices that say nothing is wrong (the oneDNN one is docs/train.md's reproducibility note).
HARMLESS = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                      rf"|{LOG_PREFIX}(?:oneDNN custom operations are on\."
                      r"|Could not find cuda drivers on your machine, GPU will not be used\."
                      r"|Unable to register cu\w+ factory: Attempting to register factory for plugin \w+ when one "
                      r"has already been registered"
                      r"|computation placer already registered\.)")
NO_DRIVER_CONSEQUENCE = re.compile(rf"{LOG_PREFIX}failed call to cuInit: ")


def import_tensorflow():
    """Import TensorFlow and let it look for GPUs once, showing only the start-up lines that matter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # and no INFO or WARNING lines once logging is set up
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    stderr = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # where the cuInit line comes from
        finally:
            sys.stderr.flush()
            os.dup2(stderr, 2)
            os.close(stderr)
            caught.seek(0)
            sys.stderr.writelines(worth_showing(caught.read().decode(errors="replace").splitlines(keepends=True)))
            sys.stderr.flush()
    return tf


def worth_showing(lines, driver_installed=None):
    """The lines of TensorFlow's start-up output that are not known to be harmless.

    driver_installed: whether a CUDA driver is installed; None asks this machine.
    """
    if driver_installed is None and any(NO_DRIVER_CONSEQUENCE.match(line) for line in lines):
        driver_installed = cuda_driver_installed()
    return [line for line in lines
            if not HARMLESS.match(line) and not (NO_DRIVER_CONSEQUENCE.match(line) and not driver_installed)]


def cuda_driver_installed():
    """Whether NVIDIA's driver library, which cuInit lives in, can be loaded here (Linux or Windows)."""
    for library in ("libcuda.so.1", "nvcuda.dll"):
        try:
            ctypes.CDLL(library)
            return True
        except OSError:
            pass
    return False
