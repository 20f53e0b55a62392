"""Import TensorFlow without the start-up notices that look like errors on a machine with no GPU.

TensorFlow 2.21 prints these from C++ as it loads, before its logging is set up, so
TF_CPP_MIN_LOG_LEVEL does not silence them:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results ...
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 ... cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: ...

So the scripts import TensorFlow here, first, with the process's stderr caught in a
file: the notices above are dropped, every other line is passed on. The cuInit
failure is dropped only where TensorFlow also said there is no CUDA driver at all:
with a driver installed, it is a real error and stays. Used by train.py, saved_models.py
(every script that loads a model) and data.py's download.
"""

import os
import re
import sys
import tempfile

# Notices that say nothing is wrong (the oneDNN one is docs/train.md's reproducibility note).
HARMLESS = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                      r"|I\d{4} .*\] oneDNN custom operations are on\."
                      r"|I\d{4} .*\] Could not find cuda drivers on your machine, GPU will not be used\.")
NO_DRIVER = "Could not find cuda drivers on your machine"
NO_DRIVER_CONSEQUENCE = re.compile(r"E\d{4} .*\] failed call to cuInit: ")


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


def worth_showing(lines):
    """The lines of TensorFlow's start-up output that are not known to be harmless."""
    no_driver = any(NO_DRIVER in line for line in lines)
    return [line for line in lines
            if not HARMLESS.match(line) and not (no_driver and NO_DRIVER_CONSEQUENCE.match(line))]
