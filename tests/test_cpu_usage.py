"""cpu_usage: /proc's texts parsed to the exact numbers, and a real window's record is sane."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import cpu_usage
from benchmarks.cpu_usage import Snapshot, ThreadTimes

ON_LINUX_PROC = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")

STAT = """cpu  110373 10 8620 46748 210 0 86 183 7 0
cpu0 51796 5 3686 27448 56 0 2 85 7 0
cpu1 58576 5 4933 19300 153 0 83 98 0 0
intr 8803546 0 9 0
"""
# A thread whose name holds a space and a ')', as a program may name it: utime 134, stime 5 ticks.
TASK_STAT = ("7035 (tf data) x) S 6999 6999 6999 0 -1 4194368 2095 0 0 0 134 5 0 0 20 0 9 0 83301 "
             "3133440 407 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0")


def test_stat_is_parsed_to_the_machine_totals():
    assert cpu_usage.parse_stat(STAT) == {"user": 110373, "nice": 10, "system": 8620, "idle": 46748,
                                          "iowait": 210, "irq": 0, "softirq": 86, "steal": 183}


def test_stat_of_an_old_kernel_without_steal_counts_zero():
    assert cpu_usage.parse_stat("cpu  5 0 3 90 1 0 1\n")["steal"] == 0


def test_a_text_that_is_not_proc_stat_is_refused():
    with pytest.raises(ValueError, match="not /proc/stat"):
        cpu_usage.parse_stat("intr 5 0\n")


def test_task_stat_gives_the_name_and_user_plus_system_time():
    assert cpu_usage.parse_task_stat(TASK_STAT) == ("tf data) x", 139 / cpu_usage.CLOCK_TICKS)


def test_schedstat_gives_the_wait_for_a_core_and_the_times_run():
    assert cpu_usage.parse_schedstat("1349000000 25000000 812\n") == (0.025, 812)


@pytest.mark.parametrize("flags, cpu_class", [
    ({"fpu", "avx2", "fma"}, "avx2"), ({"avx2", "avx512f"}, "avx512f"),
    ({"avx2", "avx512f", "avx512_bf16"}, "avx512_bf16"), ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "amx_bf16"),
])
def test_the_cpu_class_is_its_fastest_vector_extension(flags, cpu_class):
    assert cpu_usage.cpu_class(flags) == cpu_class


def test_usage_between_two_snapshots():
    main = os.getpid()
    ticks = dict.fromkeys(cpu_usage.STAT_FIELDS, 0)
    before = Snapshot(10.0, 5.0, {**ticks, "user": 100, "system": 10, "idle": 200, "steal": 10},
                      {main: ThreadTimes("python", 4.0, 0.5, 100), main + 1: ThreadTimes("tf_Compute", 1.0, 0.0, 7)})
    # 2 s on 2 cores = 400 ticks: 300 user, 60 idle + 20 waiting for disk, 20 stolen.
    after = Snapshot(12.0, 7.4, {**ticks, "user": 400, "system": 10, "idle": 260, "iowait": 20, "steal": 30},
                     {main: ThreadTimes("python", 5.0, 0.75, 350), main + 1: ThreadTimes("tf_Compute", 1.0, 0.0, 7),
                      main + 2: ThreadTimes("tf_data", 1.4, 0.125, 40)})
    record = cpu_usage.usage(before, after, cores=2)
    assert record == {
        "wall_seconds": 2.0, "cpu_seconds": 2.4, "busy_cores": 1.2, "utilisation": 0.6, "underused": True,
        "idle_share": 0.2, "steal_share": 0.05, "others_share": 0.15,
        "threads": [  # tf_Compute neither ran nor woke; tf_data started inside the window
            {"tid": main, "name": "python (main)", "cpu_seconds": 1.0, "waiting_seconds": 0.25, "runs": 250},
            {"tid": main + 2, "name": "tf_data", "cpu_seconds": 1.4, "waiting_seconds": 0.125, "runs": 40}],
    }
    assert not cpu_usage.usage(before, after._replace(cpu=8.4), cores=2)["underused"]  # 1.7 of 2 cores


def test_usage_without_proc_keeps_wall_and_cpu_time():
    record = cpu_usage.usage(Snapshot(0.0, 0.0, None, {}), Snapshot(1.0, 0.5, None, {}), cores=4)
    assert (record["busy_cores"], record["utilisation"]) == (0.5, 0.125)
    assert record["idle_share"] is None and record["threads"] == []


def spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@ON_LINUX_PROC
def test_a_real_window_records_what_the_cpu_did():
    with cpu_usage.Window() as window:
        time.sleep(0.05)  # off the core and back once at least: a thread that only spins may never be switched
        spin(0.5)
    record, cores = window.record, cpu_usage.cores()
    assert 0.5 <= record["wall_seconds"] < 5
    assert 0.05 < record["cpu_seconds"] <= record["wall_seconds"] * cores + 0.02
    # busy_cores comes from the unrounded seconds; the record keeps them to 3 decimals
    assert record["busy_cores"] == pytest.approx(record["cpu_seconds"] / record["wall_seconds"], abs=0.015)
    shares = [record[key] for key in ("idle_share", "steal_share", "others_share")]
    assert all(0 <= share <= 1 for share in shares) and sum(shares) + record["utilisation"] <= 1.02
    main = [thread for thread in record["threads"] if thread["name"].endswith("(main)")]
    assert main and main[0]["tid"] == os.getpid() and main[0]["cpu_seconds"] > 0.02 and main[0]["runs"] >= 1
    assert 0 <= main[0]["waiting_seconds"] <= record["wall_seconds"]


@ON_LINUX_PROC
def test_a_window_over_a_child_process_counts_its_cpu_time():
    with cpu_usage.Window(children=True) as window:
        subprocess.run([sys.executable, "-c", "import time\nend = time.perf_counter() + 0.5\n"
                                              "while time.perf_counter() < end: pass"], check=True)
    assert 0.05 < window.record["cpu_seconds"] <= window.record["wall_seconds"] * cpu_usage.cores() + 0.02
    assert window.record["threads"] == []
