"""The benchmarks: the measurements behind the docs' numbers, each run from the repository root.

    python -m benchmarks.speed --help      # every script answers --help

speed.py and whole_run.py against the course's notebook (course.py), with cpu_usage.py
(/proc) and flops.py (docs/speed.md); cnn_plus_experiments.py (docs/cnn_plus.md);
predict_unsure.py with not_garments.py, and predict_photos.py (docs/predict.md);
explorer_check.py (docs/explorer.md). Their records are kept in benchmarks/results/.
"""
