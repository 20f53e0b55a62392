"""What the CPU is, and what it did while some code ran: Linux's /proc, read in one place.

Wall time alone cannot tell slower code from a core left idle, or taken by another
program, or by the host of a virtual machine. So a timed stretch of work (a Window)
records, next to its wall time: the CPU time this process used, how many cores that
kept busy, the machine's idle and stolen shares from /proc/stat over the same
stretch, and each thread's CPU time from /proc/self/task (TensorFlow names its pools,
e.g. tf_Compute, so it shows which of them ran), with how long it was left waiting
for a core and how often it was woken.

Standard library only. Where /proc does not exist (macOS, Windows) the machine's
shares are None and the thread list is empty; wall and process CPU time still count.
"""

import os
import platform
import time
from typing import NamedTuple

# /proc/stat's first line, in order: the whole machine's time since boot, in clock ticks,
# summed over all cores. The guest fields that follow are already counted in user.
STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # per second, usually 100
# A window whose process kept fewer than this share of the cores busy is flagged:
# 1.7 of 2 cores, 3.4 of 4.
BUSY_FLOOR = 0.85


# The flags that decide training speed, from slowest to fastest class.
SPEED_FLAGS = ["avx2", "avx512f", "avx512_bf16", "amx_bf16"]


def cpu_class(flags):
    """The CPU's fastest vector extension among SPEED_FLAGS (e.g. "avx2"), for naming results.

    flags: the CPU's feature flags (hardware.cpu_flags()).
    """
    present = [flag for flag in SPEED_FLAGS if flag in flags]
    return present[-1] if present else platform.machine()


def cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def parse_stat(text):
    """The machine's CPU ticks by kind (STAT_FIELDS), all cores together, from /proc/stat's text."""
    words = text.split("\n", 1)[0].split()
    if not words or words[0] != "cpu":
        raise ValueError(f"not /proc/stat: its first line starts {text[:20]!r}")
    values = [int(word) for word in words[1:len(STAT_FIELDS) + 1]]
    return dict(zip(STAT_FIELDS, values + [0] * (len(STAT_FIELDS) - len(values))))  # old kernels: fewer fields


def parse_task_stat(text):
    """(name, CPU seconds in user and kernel mode) of one thread, from /proc/PID/task/TID/stat's text.

    The name (the thread's comm) sits in parentheses and may itself hold spaces or
    parentheses, so the numbered fields are counted from the last ')': utime and
    stime are fields 14 and 15 of the line.
    """
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 1:].split()
    return name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_ticks(path="/proc/stat"):
    try:
        with open(path) as f:
            return parse_stat(f.read())
    except OSError:
        return None


def parse_schedstat(text):
    """(seconds runnable but waiting for a core, times put on a core) from a thread's schedstat text.

    Its three numbers: nanoseconds on a core, nanoseconds waiting in the run queue,
    and timeslices (each wake-up from sleep, and each return after being preempted).
    """
    _, waiting_ns, runs = (int(word) for word in text.split()[:3])
    return waiting_ns / 1e9, runs


class ThreadTimes(NamedTuple):
    name: str  # the thread's comm: TensorFlow names its pools; other threads carry the process's name
    cpu: float  # seconds on a core, user and kernel mode
    waiting: float  # seconds runnable but left waiting for a core; None where the kernel keeps no schedstat
    runs: int  # times put on a core; None where the kernel keeps no schedstat


def thread_times(task_dir="/proc/self/task"):
    """{thread id: ThreadTimes so far} for this process's live threads."""
    try:
        tids = os.listdir(task_dir)
    except OSError:
        return {}
    threads = {}
    for tid in tids:
        try:
            with open(os.path.join(task_dir, tid, "stat")) as f:
                name, cpu = parse_task_stat(f.read())
        except OSError:  # the thread ended since the listing
            continue
        try:
            with open(os.path.join(task_dir, tid, "schedstat")) as f:
                waiting, runs = parse_schedstat(f.read())
        except (OSError, ValueError):
            waiting, runs = None, None
        threads[int(tid)] = ThreadTimes(name, cpu, waiting, runs)
    return threads


def children_seconds():
    """CPU seconds used by the finished child processes this one waited for (subprocess.run's)."""
    import resource  # Unix only

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Snapshot(NamedTuple):
    wall: float  # seconds, time.perf_counter()
    cpu: float  # seconds of CPU time: this process's, or its finished children's
    machine: dict  # parse_stat's ticks, or None
    threads: dict  # thread_times', or {} for children


def snapshot(children=False):
    if children:
        return Snapshot(time.perf_counter(), children_seconds(), machine_ticks(), {})
    return Snapshot(time.perf_counter(), time.process_time(), machine_ticks(), thread_times())


def usage(before, after, cores):
    """What the CPU did between two Snapshots: the record a Window keeps.

    busy_cores is CPU seconds per wall second (2.0: two cores busy all along);
    utilisation the same per core. Shares are of all the machine's core time in the
    window: idle (including waiting for disk), steal (taken by a virtual machine's
    host), others (busy, but not with this process: other programs, the kernel).
    threads: thread_usage's list; a thread that ended within the window is missing
    from it but not from cpu_seconds.
    """
    wall = max(after.wall - before.wall, 1e-9)
    cpu = after.cpu - before.cpu
    record = {
        "wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "busy_cores": round(cpu / wall, 2),
        "utilisation": round(cpu / wall / cores, 3), "underused": cpu / wall < BUSY_FLOOR * cores,
        "idle_share": None, "steal_share": None, "others_share": None,
    }
    if before.machine and after.machine:
        ticks = {kind: after.machine[kind] - before.machine[kind] for kind in STAT_FIELDS}
        total = max(sum(ticks.values()), 1)
        idle, steal = (ticks["idle"] + ticks["iowait"]) / total, ticks["steal"] / total
        record.update(idle_share=round(idle, 3), steal_share=round(steal, 3),
                      others_share=round(max(0.0, 1 - idle - steal - cpu / wall / cores), 3))
    record["threads"] = thread_usage(before.threads, after.threads)
    return record


def thread_usage(before, after):
    """Each thread that ran between two thread_times(), oldest first: its CPU seconds, its seconds
    left waiting for a core, and how often it was put on one (mostly: woken up)."""
    main, threads = os.getpid(), []
    for tid, now in sorted(after.items()):
        then = before.get(tid, ThreadTimes(now.name, 0.0, 0.0, 0))  # started inside the window
        if now.cpu == then.cpu and now.runs == then.runs:
            continue
        known = now.runs is not None and then.runs is not None
        threads.append({"tid": tid, "name": f"{now.name} (main)" if tid == main else now.name,
                        "cpu_seconds": round(now.cpu - then.cpu, 2),
                        "waiting_seconds": round(now.waiting - then.waiting, 3) if known else None,
                        "runs": now.runs - then.runs if known else None})
    return threads


class Window:
    """Time a stretch of work and what the CPU did meanwhile:

        with cpu_usage.Window() as window:
            model.fit(...)
        window.record["busy_cores"]

    children=True measures the child processes run (and waited for) inside the
    block instead of this process: their CPU time from getrusage, no thread list.
    """

    def __init__(self, children=False):
        self.children = children
        self.record = None

    def __enter__(self):
        self.before = snapshot(self.children)
        return self

    def __exit__(self, *exception):
        self.record = usage(self.before, snapshot(self.children), cores())
