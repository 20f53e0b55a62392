"""--strategy multiworker for real: two worker processes on 127.0.0.1, TensorFlow's MultiWorkerMirroredStrategy.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import keras
import pytest

from convlab import cluster, files
from helpers import REPO, SCRIPT_ENV

# Multi-worker training patches private methods of Keras' fit(), so train.py refuses it on a Keras it
# was not tested with (the last test below checks that message); there the runs below cannot start.
on_tested_keras = pytest.mark.skipif(
    ".".join(keras.__version__.split(".")[:2]) not in cluster.TESTED_KERAS,
    reason=f"--strategy multiworker is refused on Keras {keras.__version__}: it is tested on Keras "
           f"{', '.join(cluster.TESTED_KERAS)} only (convlab/cluster.py)")
QUICK = ["--strategy", "multiworker", "--models", "cnn", "--limit", "2000", "--validation-size", "500"]


def free_ports(count):
    """Ports nothing listens on now: bound to port 0 (the system picks), then released."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


class Workers:
    """Worker processes of one cluster; each one's output goes to a file (a pipe could fill and block it)."""

    def __init__(self, folder, ports, args):
        self.processes, self.logs = [], []
        for index in range(len(ports)):
            log = folder / f"worker{index}-{time.monotonic_ns()}.log"
            self.logs.append(log)
            with open(log, "w") as output:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "train.py", *args, "--out", folder / f"out{index}"], cwd=REPO,
                    env={**SCRIPT_ENV, "TF_CONFIG": tf_config(ports, index)}, stdout=output,
                    stderr=subprocess.STDOUT, start_new_session=True))

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        for process in self.processes:
            process.wait(timeout=max(deadline - time.monotonic(), 1))
        return [process.returncode for process in self.processes]

    def output(self, index):
        return self.logs[index].read_text()

    def kill(self):
        """SIGKILL: a worker waiting for its peers ignores SIGTERM."""
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def checksum(output):
    return re.search(r"cnn weights checksum: (\w+)", output).group(1)


def history(out):
    try:
        return json.loads((out / "cnn_history.json").read_text())
    except (OSError, ValueError):
        return []


@pytest.mark.slow  # two train.py processes training together, about 25 s
@on_tested_keras
def test_two_workers_train_as_one_and_only_the_chief_keeps_results(tmp_path):
    workers = Workers(tmp_path, free_ports(2), [*QUICK, "--epochs", "2"])
    try:
        codes = workers.wait(timeout=200)
    finally:
        workers.kill()
    chief, other = workers.output(0), workers.output(1)
    assert codes == [0, 0], chief[-2000:] + other[-2000:]
    assert "MultiWorkerMirroredStrategy over 2 replicas" in chief and "batch 256" in chief
    assert checksum(chief) == checksum(other)  # the same weights on both workers
    assert "the chief holds the results" in other
    assert sorted(p.name for p in (tmp_path / "out0").iterdir()) == [
        "cnn.keras", "cnn_confusion.png", "cnn_history.json", "cnn_snapshots.npz", "per_class_accuracy.png",
        "results.json", "training_curves.png"]
    assert not (tmp_path / "out1").exists()
    assert [row["epoch"] for row in history(tmp_path / "out0")] == [1, 2]

    import keras

    from convlab.data import load_fashion_mnist, to_dataset
    from helpers import DATA_DIR

    _, (x_test, y_test) = load_fashion_mnist(DATA_DIR)
    model = keras.models.load_model(tmp_path / "out0" / "cnn.keras")
    predicted = model.predict(to_dataset(x_test[:2000], y_test[:2000], 256), verbose=0).argmax(axis=1)
    assert (predicted == y_test[:2000]).mean() > 0.6  # about 0.68 measured; chance is 0.1
    results = json.loads((tmp_path / "out0" / "results.json").read_text())
    assert results["models"]["cnn"]["test_accuracy"] > 0.6


@on_tested_keras
@pytest.mark.slow  # about 45 s: run with `python -m pytest -m slow` (CI does)
def test_killed_worker_then_resume_on_both_continues_from_the_last_epoch(tmp_path):
    ports, args = free_ports(2), [*QUICK, "--epochs", "4"]
    workers = Workers(tmp_path, ports, args)
    try:
        deadline = time.monotonic() + 240
        while len(history(tmp_path / "out0")) < 2 and time.monotonic() < deadline and \
                all(p.poll() is None for p in workers.processes):
            time.sleep(0.05)
        time.sleep(1)  # epoch 2's backups are written on both workers right after the chief's history
        assert 2 <= len(history(tmp_path / "out0")) < 4, workers.output(0)[-2000:]
        os.killpg(workers.processes[1].pid, signal.SIGKILL)  # worker 1 dies
        survivor = workers.processes[0].wait(timeout=90)  # TensorFlow notices the missing heartbeats
    finally:
        workers.kill()
    assert survivor == 1
    last_line = workers.output(0).strip().splitlines()[-1]
    assert last_line.startswith("error: cnn: the cluster lost /job:worker/replica:0/task:1 after"), last_line
    assert "--resume" in last_line and "Traceback" not in workers.output(0)
    done = len(history(tmp_path / "out0"))
    resumed = Workers(tmp_path, free_ports(2), [*args, "--resume"])
    try:
        codes = resumed.wait(timeout=240)
    finally:
        resumed.kill()
    assert codes == [0, 0], resumed.output(0)[-2000:] + resumed.output(1)[-2000:]
    for index in (0, 1):
        assert f"Resuming cnn after epoch {done}" in resumed.output(index)
    assert checksum(resumed.output(0)) == checksum(resumed.output(1))
    assert [row["epoch"] for row in history(tmp_path / "out0")] == [1, 2, 3, 4]
    assert not (tmp_path / "out0" / "backup").exists()


def run_with_tf_config(value, tmp_path, timeout=60):
    env = {key: val for key, val in SCRIPT_ENV.items() if key != "TF_CONFIG"}
    if value is not None:
        env["TF_CONFIG"] = value
    start = time.monotonic()
    result = subprocess.run([sys.executable, "train.py", *QUICK, "--epochs", "1", "--out", tmp_path], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=timeout)
    return result, time.monotonic() - start


@pytest.mark.parametrize("value, message", [
    (None, "--strategy multiworker needs the TF_CONFIG variable"),
    ("{cluster: worker}", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}}', 'TF_CONFIG has no "task"'),
    ('{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 2}}',
     "TF_CONFIG: task index 2 is outside the cluster"),
])
def test_bad_tf_config_is_refused_with_one_message(value, message):
    with pytest.raises(cluster.ClusterError) as error:
        cluster.cluster_task({} if value is None else {"TF_CONFIG": value})
    assert str(error.value).startswith(message)


@on_tested_keras
def test_bad_tf_config_stops_train_py_before_anything_is_written(tmp_path):
    result, _ = run_with_tf_config("{cluster: worker}", tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: TF_CONFIG is not valid JSON"), result.stderr[-1000:]
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.slow  # waits out a timeout, about 10 s
@on_tested_keras
def test_a_peer_that_never_answers_gives_up_after_the_timeout(tmp_path, monkeypatch):
    ports = free_ports(2)  # nobody starts worker 1
    monkeypatch.setitem(SCRIPT_ENV, "CLUSTER_TIMEOUT_SECONDS", "5")
    result, seconds = run_with_tf_config(tf_config(ports, 0), tmp_path)
    assert result.returncode == 1
    assert "error: the cluster did not come together within 5 seconds" in result.stderr
    assert f"127.0.0.1:{ports[1]}" in result.stderr and "Traceback" not in result.stderr
    assert seconds < 40


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf", "nan"])
def test_a_bad_cluster_timeout_is_refused_with_one_message(value):
    with pytest.raises(cluster.ClusterError, match="CLUSTER_TIMEOUT_SECONDS must be a positive number"):
        cluster.cluster_timeout({"CLUSTER_TIMEOUT_SECONDS": value})
    assert cluster.cluster_timeout({}) == 120 and cluster.cluster_timeout({"CLUSTER_TIMEOUT_SECONDS": "2.5"}) == 2.5


def worker_folder(index, out):
    """The folder worker `index` of a two-worker run with --out `out` writes to."""
    return cluster.output_folder(cluster.cluster_task({"TF_CONFIG": tf_config([1, 2], index)}), out)


def test_the_chief_writes_into_out(tmp_path):
    assert worker_folder(0, tmp_path / "out") == tmp_path / "out"


def test_another_worker_writes_into_a_temporary_folder_that_resume_finds_again(tmp_path):
    """Not in --out (only the chief writes there): in the system's temporary folder, under a name
    that is the same for the same worker and --out (so --resume finds it) and differs otherwise."""
    import tempfile

    folder = worker_folder(1, tmp_path / "out")
    assert re.fullmatch(re.escape(tempfile.gettempdir()) + r"/train-worker1-[0-9a-f]{10}", str(folder)), folder
    assert worker_folder(1, tmp_path / "out") == folder
    assert worker_folder(1, tmp_path / "other") != folder


def test_a_stopped_run_says_where_its_epochs_are_backed_up_and_how_to_resume(tmp_path, monkeypatch, capsys):
    import train
    from convlab.recipe import Interrupted

    def stopped(args):  # a worker other than the chief: it writes into a folder of its own
        args.run_folder = tmp_path / "worker"
        files.write_json(tmp_path / "worker" / "run_state.json", {"flags": {}, "finished": {}})
        files.write_json(tmp_path / "worker" / "backup" / "cnn" / "epoch.json", {"epoch": 1})
        raise Interrupted("cnn after 1 of 2 epochs", tmp_path / "worker" / "backup")

    monkeypatch.setattr(train, "run", stopped)
    with pytest.raises(SystemExit) as exit:
        train.main(["--out", str(tmp_path / "out")])
    assert exit.value.code == 130
    assert capsys.readouterr().err == (f"\nStopped during cnn after 1 of 2 epochs. Completed epochs are backed up in "
                                       f"{tmp_path / 'worker' / 'backup'}.\n"
                                       f"Resume with: python train.py --resume {tmp_path / 'out'}\n")


def test_multiworker_on_an_untested_keras_stops_with_one_line(tmp_path, monkeypatch):
    import keras

    import train

    monkeypatch.setattr(keras, "__version__", "3.16.0")
    monkeypatch.setenv("TF_CONFIG", tf_config([1, 2], 0))
    with pytest.raises(SystemExit) as exit:
        train.main(["--strategy", "multiworker", "--out", str(tmp_path / "out")])
    assert exit.value.code == ("error: --strategy multiworker is tested with Keras 3.15.* only, and this is "
                               "Keras 3.16.0: pip install 'keras==3.15.*', or train without --strategy multiworker.")
    assert not (tmp_path / "out").exists()
    # Training in one process does not patch Keras, so it runs on any Keras version.
    assert cluster.task_for("none") is None and cluster.task_for("auto") is None
