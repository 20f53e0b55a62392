"""Benchmark: the course's notebook against `python train.py`, each a fresh process timed from start to exit.

    python -m benchmarks.whole_run                  # the default run against the notebook, 2 runs each
    python -m benchmarks.whole_run --train-flags='--precision float32'   # another recipe on the project's side
    python -m benchmarks.whole_run --smoke --repeats 1   # seconds: 2,000 images, 1 epoch; checks the script
    python -m benchmarks.whole_run --course-run --seed 1 --out DIR   # only the course's notebook, once

Everything a learner waits for, timed whole: the course's notebook (--course-run: both
models, 5 epochs each, on all 60,000 training images, then model.evaluate on the test
set) and `python train.py` with its defaults (or --train-flags), Python and
TensorFlow's start-up, loading the data, training, testing and train.py's saving,
figures and report included. The two alternate, project first, --repeats times. Each
run records its wall time, its CPU time (the child process's, from getrusage), the
cores it kept busy and the machine's idle and stolen shares (cpu_usage.py), and each
model's test accuracy. Prints each run and the medians side by side; writes
whole-run-CPUCLASS.json. The per-window measurements in one process: speed.py.
"""

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from convlab.tensorflow_startup import import_tensorflow

import_tensorflow()  # first: without the start-up notices that look like errors

import keras  # noqa: E402

from benchmarks import course as notebook  # noqa: E402
from benchmarks import cpu_usage  # noqa: E402
from benchmarks.speed import RESULTS_DIR, SMOKE_IMAGES, busy, header, machine, ratio  # noqa: E402
from convlab import files, hardware, runs  # noqa: E402
from convlab.data import DATA_DIR_HELP, DataError, Images, load_fashion_mnist  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMOKE_EPOCHS = 1  # --smoke: each side's models train one epoch on SMOKE_IMAGES


def course_run(train, test, epochs, out, seed):
    """The course's notebook as one run: each model fit on all of `train` for `epochs`, then tested.

    Writes results.json in `out` in train.py's shape ("models" -> name -> test_accuracy,
    train_seconds, epochs), so that both sides are read the same way.
    """
    results = {}
    for name in notebook.MODELS:
        keras.utils.set_random_seed(seed)
        side = notebook.Course(name, train, test, epochs)
        started = time.perf_counter()
        side.model.fit(side.x, side.y, batch_size=side.batch_size, epochs=epochs, verbose=2)
        seconds = time.perf_counter() - started
        _, accuracy = side.model.evaluate(*side.test, verbose=0)  # the notebook's model.evaluate(x_test, y_test)
        results[name] = {"epochs": epochs, "train_seconds": round(seconds, 1), "test_accuracy": accuracy}
        print(f"{name}: {seconds:.1f} s for {epochs} epochs, test accuracy {accuracy:.2%}", flush=True)
    files.write_json(runs.RunFolder(out).results, {"models": results})


def train_flags(args, parser):
    """train.py's flags for the project's side (train.py checks them itself, in its first run)."""
    try:
        flags = shlex.split(args.train_flags)
    except ValueError as error:
        parser.error(f"--train-flags: {error}")
    if args.smoke:
        flags = ["--limit", str(SMOKE_IMAGES), "--epochs", str(SMOKE_EPOCHS), *flags]
    return flags


def whole_run(data_dir, smoke, project_flags, repeats):
    """The course's notebook (--course-run) and train.py, each a fresh process timed whole.

    Alternating project, course, project, course, ... (the project first, so that flags
    train.py refuses stop the benchmark at once): wall time and CPU time (the
    children's, from getrusage) of everything a learner waits for: start-up, data,
    training, testing, and train.py's saving and figures. Each run writes into a
    temporary folder, removed afterwards; its output goes to a log there, shown if it fails.
    """
    data = ["--data-dir", data_dir] if data_dir else []
    commands = {
        "project": [sys.executable, str(REPO / "train.py"), *data, *project_flags],
        "course": [sys.executable, "-m", "benchmarks.whole_run", "--course-run", *data,
                   *(["--smoke"] if smoke else [])],
    }
    records = []
    with tempfile.TemporaryDirectory(prefix="whole-run-") as scratch:
        for repeat in range(1, repeats + 1):
            for side, command in commands.items():
                out, log = Path(scratch) / f"{side}-{repeat}", Path(scratch) / f"{side}-{repeat}.log"
                with open(log, "w") as output, cpu_usage.Window(children=True) as window:
                    exit_code = subprocess.run([*command, "--out", str(out)], stdout=output, stderr=subprocess.STDOUT,
                                               cwd=REPO).returncode
                if exit_code:
                    tail = "\n".join(log.read_text().splitlines()[-15:])
                    sys.exit(f"error: the {side} run failed (exit code {exit_code}): {shlex.join(command)}\n{tail}")
                models = files.read_json(runs.RunFolder(out).results)["models"]
                record = {key: value for key, value in window.record.items() if key != "threads"}
                records.append({"recipe": side, "repeat": repeat, **record, "models": {
                    name: {key: models[name][key] for key in ("epochs", "train_seconds", "test_accuracy")}
                    for name in models}})
                print(f"    {side} run {repeat}: {record['wall_seconds']:.1f} s, {record['cpu_seconds']:.1f} CPU s, "
                      f"{busy(record)}; " + ", ".join(f"{name} {m['test_accuracy']:.2%}"
                                                      for name, m in records[-1]["models"].items()), flush=True)
    return {"commands": {side: shlex.join(command) for side, command in commands.items()}, "runs": records}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help=DATA_DIR_HELP)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help="folder for whole-run-CPUCLASS.json (--course-run: for its results.json)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side (default: %(default)s)")
    parser.add_argument("--train-flags", default="", metavar="'FLAGS'",
                        help="flags for train.py, e.g. --train-flags='--epochs 5' (default: none)")
    parser.add_argument("--course-run", action="store_true",
                        help=f"only the course's notebook: both models, {notebook.EPOCHS} epochs on all training "
                             "images, then tested; writes results.json to --out")
    parser.add_argument("--seed", type=int, default=0,
                        help="--course-run: seeds the weights and the shuffling (default: %(default)s)")
    parser.add_argument("--smoke", action="store_true",
                        help=f"{SMOKE_IMAGES:,} images, {SMOKE_EPOCHS} epoch per model: checks the script")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    try:  # here too for whole runs: missing data stops the benchmark before its first run
        train, test = load_fashion_mnist(args.data_dir)
    except DataError as error:
        sys.exit(f"error: {error}")
    if args.course_run:  # the notebook trains on all 60,000 images: it holds none out
        if args.smoke:
            train = Images(*(part[:SMOKE_IMAGES] for part in train))
        course_run(train, test, SMOKE_EPOCHS if args.smoke else notebook.EPOCHS, args.out, args.seed)
        return

    project_flags = train_flags(args, parser)
    cpu_class = cpu_usage.cpu_class(hardware.cpu_flags())
    print(header(cpu_class))
    print(f"whole runs, {args.repeats} per side, alternating", flush=True)
    results = whole_run(args.data_dir, args.smoke, project_flags, args.repeats)
    print("\n" + whole_run_table(results["runs"]))
    path = args.out / f"whole-run-{cpu_class}.json"
    settings = {key: getattr(args, key) for key in ("data_dir", "repeats", "train_flags", "smoke")}
    files.write_json(path, {"machine": machine(), "versions": hardware.library_versions(),
                            "settings": settings, "results": results})
    print(f"\nWrote {path}")


def whole_run_table(runs):
    """Each run, then the medians side by side and the accuracy gains: the default run against the course."""
    rows = [f"{'run':<12}{'wall s':>9}{'CPU s':>9}{'cores':>8}{'idle':>6}{'steal':>6}"
            + "".join(f"{f'{name} test':>11}" for name in notebook.MODELS)]
    for run in runs:
        idle, steal = (f"{run[key]:.0%}" if run[key] is not None else "-" for key in ("idle_share", "steal_share"))
        rows.append(f"{run['recipe'] + ' ' + str(run['repeat']):<12}"
                    f"{run['wall_seconds']:>9.1f}{run['cpu_seconds']:>9.1f}"
                    f"{run['busy_cores']:>6.2f}{' *' if run['underused'] else '  '}{idle:>6}{steal:>6}"
                    + "".join(f"{run['models'][name]['test_accuracy']:>11.2%}" if name in run["models"]
                              else f"{'-':>11}" for name in notebook.MODELS))

    def median(side, key):
        return statistics.median(run[key] for run in runs if run["recipe"] == side)

    rows.append(f"\n{'median of the runs':<28}{'course':>10}{'project':>10}{'ratio':>9}")
    for key, label in (("wall_seconds", "wall seconds"), ("cpu_seconds", "CPU seconds")):
        course, project = median("course", key), median("project", key)
        rows.append(f"{label:<28}{course:>10.1f}{project:>10.1f}{ratio(course, project, inverse=True):>9}")
    accuracy = {}
    for side in ("course", "project"):
        for name in notebook.MODELS:
            values = [run["models"][name]["test_accuracy"] for run in runs
                      if run["recipe"] == side and name in run["models"]]
            accuracy[side, name] = statistics.mean(values) if values else None
    for name in notebook.MODELS:
        course, project = accuracy["course", name], accuracy["project", name]
        gain = "n/a" if None in (course, project) else f"{100 * (project - course):+.2f} pt"
        rows.append(f"{f'{name} test accuracy, mean':<28}{course:>10.2%}"
                    + (f"{project:>10.2%}" if project is not None else f"{'-':>10}") + f"{gain:>9}")
    for side in ("course", "project"):
        if None not in (accuracy[side, "cnn"], accuracy[side, "dnn"]):
            rows.append(f"{side} cnn - dnn: {100 * (accuracy[side, 'cnn'] - accuracy[side, 'dnn']):+.2f} points")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
