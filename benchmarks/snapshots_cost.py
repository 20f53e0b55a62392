"""Benchmark: what keeping every epoch's weights (snapshots.py) costs a run, in seconds and bytes.

    python -m benchmarks.snapshots_cost                 # the latest run (runs/latest)
    python -m benchmarks.snapshots_cost --run runs/RUN  # another run

train.py rewrites each model's snapshot file whole after every epoch, the weights as
built first. This replays exactly those writes for every model of a finished run, from
its own snapshot files (epoch 0 alone, then epochs 0-1, ..., then all of them), times
them (--repeats times, keeping the fastest, the least disturbed by other work), adds
the copy of the weights out of the model that each epoch's snapshot takes, and sets the
total against the run's training time (the sum of its epochs' seconds) and the size of
the files. docs/visualize.md#watching-it-learn gives the numbers of the default run.
"""

import argparse
import tempfile
import time
from pathlib import Path

from convlab.tensorflow_startup import import_tensorflow

import_tensorflow()  # first: without the start-up notices that look like errors

import keras  # noqa: E402

from convlab import runs, snapshots  # noqa: E402
from convlab.recipe import parse_model  # noqa: E402
from model import build_model  # noqa: E402


def replay(kept, repeats):
    """The seconds train.py spends writing these snapshots over a run: one write per epoch, each of all so far."""
    best = float("inf")
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeats):
            started = time.perf_counter()
            for count in range(1, len(kept.epochs) + 1):
                snapshots.save(snapshots.Snapshots(kept.epochs[:count], kept.names,
                                                   [w[:count] for w in kept.weights]), Path(folder) / "s.npz")
            best = min(best, time.perf_counter() - started)
    return best


def copy_out(name, epochs, repeats):
    """The seconds the weights' copies out of the model take over `epochs` + 1 snapshots."""
    spec = parse_model(name)
    model = build_model(spec.recipe, spec.conv_filters)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(epochs + 1):
            snapshots.of(model, 0)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a finished run's folder (default: runs/latest's)")
    parser.add_argument("--repeats", type=int, default=3, help="times each replay runs (default: %(default)s)")
    args = parser.parse_args(argv)
    folder = args.run or runs.latest_run()
    run_folder = runs.RunFolder(folder)
    models = run_folder.read_results()["models"]
    total_seconds = total_bytes = trained = 0.0
    keras.mixed_precision.set_global_policy("float32")
    for name, result in models.items():
        path = run_folder.snapshots(name)
        kept = snapshots.load(path)
        seconds = replay(kept, args.repeats) + copy_out(name, int(kept.epochs[-1]), args.repeats)
        total_seconds += seconds
        total_bytes += path.stat().st_size
        trained += result["train_seconds"]
        print(f"{name}: {len(kept.epochs)} snapshots (epochs {int(kept.epochs[0])}-{int(kept.epochs[-1])}), "
              f"{path.stat().st_size / 1e6:.2f} MB, written in {seconds:.2f} s over the run, against "
              f"{result['train_seconds']:.0f} s of training")
    print(f"all models: {total_bytes / 1e6:.2f} MB, {total_seconds:.2f} s: {total_seconds / trained:.1%} of the "
          f"{trained:.0f} s the run trained ({folder})")


if __name__ == "__main__":
    main()
