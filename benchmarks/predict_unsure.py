"""Benchmark: when should predict.py say it is unsure? Garments against images of no garment at all.

    python -m benchmarks.predict_unsure --model runs/RUN/cnn.keras --count 2000
    python -m benchmarks.predict_unsure --model runs/RUN/cnn.keras --examples DIR   # also write 4 example photos

The models can only choose among the 10 Fashion-MNIST classes, so they name one for
anything, often with a high top probability. This measures six signals, alone and in
pairs, each past a quantile of the training garments' scores: the top probability, the
energy (-logsumexp of the logits), the Mahalanobis and the cosine distance of the
`dense` features to the nearest class mean, the k-NN distance (convlab/unsure.py's rule:
the mean cosine distance to the 10 nearest training images' features), and the error of
rebuilding the 28x28 pixels from the training images' 40 main patterns (PCA).

- the statistics: fitted here on the training split train.py uses (--split-seed), the
  rule's by convlab.unsure.fit_statistics as predict.py --save-statistics fits them, the
  other signals' beside them; each threshold a quantile of the scores of 2,000 training
  garments and of the same as product photos, the higher of the two;
- garments: the first --count Fashion-MNIST test images as `predict.py --test-index`
  gives them, and the same images as product photos (dark on white, ten times larger)
  through predict.py's preprocessing; never used for a threshold;
- not garments (not_garments.py), generated and seeded, --count / 10 of each kind, all
  through the same preprocessing: the TUNING kinds choose the rule, the HELD_OUT kinds
  are only reported.

The rule chosen: the candidate that flags most of the TUNING kinds while flagging at most
--false-alarms of the training garments and of their photos. Prints the tables; writes
everything to --results (JSON).
"""

import argparse
import itertools
import shlex
import sys
from pathlib import Path

from convlab.tensorflow_startup import import_tensorflow

import_tensorflow()  # first: without the start-up notices that look like errors

import numpy as np  # noqa: E402

from benchmarks.not_garments import HELD_OUT, NOT_GARMENTS, TUNING, examples, rotated  # noqa: E402
from convlab import files, hardware, preprocess, unsure  # noqa: E402
from convlab.data import (  # noqa: E402
    CLASS_NAMES,
    DATA_DIR_HELP,
    NUM_CLASSES,
    VALIDATION_SIZE,
    DataError,
    load_splits,
    load_test_images,
)
from convlab.recipe import SEED  # noqa: E402
from convlab.saved_models import ModelFileError, load_model, model_or_latest, network  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "predict_unsure.json"
SIGNALS = ("top probability", "energy", "feature Mahalanobis distance", "feature cosine distance",
           unsure.SIGNAL, "pixel reconstruction error")
QUANTILES = [0.9, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99]
PIXEL_COMPONENTS = 40  # PCA patterns of the training pixels
FIT_IMAGES = 20000  # training images the statistics are fitted on, at most


# --- the signals ---------------------------------------------------------------------------


def as_photos(images):
    """Fashion-MNIST images as product photos, back through predict.py's preprocessing."""
    return np.stack([preprocess.to_fashion_mnist(preprocess.as_product_photo(image)) for image in images])


def fit_statistics(features, head, images, labels):
    """Every signal's statistics on training images (uint8 (N, 28, 28)) and labels: a dict of arrays.

    The rule's, as predict.py fits them (unsure.fit_statistics), and beside them the class
    means and a shared covariance of the `dense` features and the pixels' PCA patterns,
    from at most FIT_IMAGES of the images; every signal's scores on the rule's calibration
    garments and on the same as product photos.
    """
    images, labels = np.asarray(images, np.uint8), np.asarray(labels)
    if len(images) > FIT_IMAGES:  # plenty for 10 means and a 128x128 covariance
        keep = np.sort(np.random.default_rng(0).permutation(len(images))[:FIT_IMAGES])
        images, labels = images[keep], labels[keep]
    statistics = unsure.fit_statistics(features, images)
    vectors, _ = features(images)
    means = np.stack([vectors[labels == c].mean(axis=0) for c in range(NUM_CLASSES)])
    centred = vectors - means[labels]
    covariance = centred.T @ centred / len(vectors)
    covariance += 1e-3 * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255
    pixel_mean = pixels.mean(axis=0)
    _, _, patterns = np.linalg.svd(pixels - pixel_mean, full_matrices=False)
    statistics.update({"class_means": means.astype(np.float32),
                       "precision": np.linalg.inv(covariance).astype(np.float32),
                       "pixel_mean": pixel_mean, "pixel_patterns": patterns[:PIXEL_COMPONENTS].astype(np.float32)})
    garments, _ = unsure.calibration_split(images)
    for name, group in (("images", garments), ("photos", as_photos(garments))):
        _, scores = signals(features, head, group, statistics)
        for signal, values in scores.items():
            statistics[f"calibration {name}: {signal}"] = values.astype(np.float32)
    return statistics


def signals(features, head, images, statistics):
    """The model's class probabilities (N, 10) and {signal: score (N,)}, a high score meaning unlike the garments.

    The signals are the network's, for the image itself (saved_models.network): its logits
    are its own `dense` features through its last layer, whose weights and bias are `head`.
    images: uint8 (N, 28, 28).
    """
    images = np.asarray(images, np.uint8)
    vectors, answers = features(images)
    weights, bias = head
    logits = vectors @ weights + bias
    top_logit = logits.max(axis=1, keepdims=True)
    exp = np.exp(logits - top_logit)
    probabilities = exp / exp.sum(axis=1, keepdims=True)
    apart = vectors[:, None, :] - statistics["class_means"][None]
    mahalanobis = np.einsum("nkd,de,nke->nk", apart, statistics["precision"], apart).min(axis=1)
    cosine = 1 - (unsure.unit(vectors) @ unsure.unit(statistics["class_means"]).T).max(axis=1)
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255 - statistics["pixel_mean"]
    patterns = statistics["pixel_patterns"]
    leftover = pixels - (pixels @ patterns.T) @ patterns
    return answers, {
        "top probability": 1 - probabilities.max(axis=1),
        "energy": -(top_logit[:, 0] + np.log(exp.sum(axis=1))),
        "feature Mahalanobis distance": np.sqrt(np.maximum(mahalanobis, 0)),
        "feature cosine distance": cosine,
        unsure.SIGNAL: unsure.knn_distance(vectors, statistics["reference_features"]),
        "pixel reconstruction error": np.sqrt((leftover ** 2).mean(axis=1)),
    }


def thresholds(statistics, quantile, signals_used):
    """Each signal's threshold: the `quantile` of the garment images' and of their photos' scores, the higher."""
    return {signal: max(float(np.quantile(statistics[f"calibration {name}: {signal}"], quantile))
                        for name in ("images", "photos"))
            for signal in signals_used}


def flagged(scores, statistics, quantile, signals_used):
    """True where any signal of the rule is past its threshold. scores: {signal: (N,)} from signals()."""
    limits = thresholds(statistics, quantile, signals_used)
    return np.any([scores[signal] > limits[signal] for signal in signals_used], axis=0)


# --- the rules -------------------------------------------------------------------------


def candidates():
    """Every signal alone and every pair of signals, at each quantile of QUANTILES."""
    sets = [(signal,) for signal in SIGNALS] + list(itertools.combinations(SIGNALS, 2))
    return [(used, quantile) for used in sets for quantile in QUANTILES]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, metavar="PATH",
                        help="a .keras model saved by train.py (default: cnn.keras of the latest run)")
    parser.add_argument("--count", type=int, default=2000,
                        help="test images; a tenth as many non-garments of each kind (default: %(default)s)")
    parser.add_argument("--false-alarms", type=float, default=0.08,
                        help="share of the training garments, and of their photos, a rule may flag "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the generated images (default: %(default)s)")
    parser.add_argument("--split-seed", type=int, default=SEED,
                        help="the --seed the model was trained with, for its training split (default: train.py's, "
                             "%(default)s)")
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    parser.add_argument("--examples", type=Path, metavar="DIR",
                        help="also write the four example pictures (a shoe silhouette, a rotated trouser, a cat, "
                             "a mug) into DIR and print what the rule answers for each")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON output (default: %(default)s)")
    args = parser.parse_args()
    if not 1 <= args.count <= 10000:
        parser.error(f"--count must be from 1 to 10000 (the test images), got {args.count}")
    if not 0 < args.false_alarms < 1:
        parser.error(f"--false-alarms is a fraction in (0, 1), got {args.false_alarms}")
    try:
        model_file = model_or_latest(args.model)
        x_test, y_test = load_test_images(args.data_dir)
        model = load_model(model_file)
        features = unsure.Features(model)
        head = [w.astype(np.float32) for w in network(model).get_layer("predictions").get_weights()]
        train = load_splits(args.data_dir, VALIDATION_SIZE, args.split_seed).train
    except (DataError, ModelFileError, unsure.StatisticsError) as error:
        sys.exit(f"error: {error}")
    statistics_from = f"fitted on train.py's training split (seed {args.split_seed})"
    print(f"Fitting the statistics on the training split of seed {args.split_seed}: a minute or two.", file=sys.stderr)
    statistics = fit_statistics(features, head, train.images, train.labels)

    rng = np.random.default_rng(args.seed)
    x_test, y_test = x_test[:args.count], y_test[:args.count]
    per_kind = max(args.count // 10, 1)
    groups = {"test images": list(x_test),
              "test images as photos": [preprocess.to_fashion_mnist(preprocess.as_product_photo(x)) for x in x_test]}
    for kind, make in NOT_GARMENTS.items():
        groups[kind] = [preprocess.to_fashion_mnist(make(rng)) for _ in range(per_kind)]
    groups["rotated garments"] = [preprocess.to_fashion_mnist(rotated(x, rng.uniform(30, 150)))
                                  for x in x_test[:per_kind]]
    scored = {group: signals(features, head, np.stack(images), statistics) for group, images in groups.items()}
    calibration = {name: {signal: statistics[f"calibration {name}: {signal}"] for signal in SIGNALS}
                   for name in ("images", "photos")}
    correct = scored["test images"][0].argmax(axis=1) == y_test

    def shares(used, quantile):
        """Share flagged per group; the training garments' (calibration) shares; the means over TUNING, HELD_OUT."""
        def share(scores):
            return float(flagged(scores, statistics, quantile, used).mean())
        result = {"training images": share(calibration["images"]), "training photos": share(calibration["photos"])}
        result.update({group: share(scores) for group, (_, scores) in scored.items()})
        test_scores = scored["test images"][1]
        result["test images, right"] = share({k: v[correct] for k, v in test_scores.items()})
        result["test images, wrong"] = (share({k: v[~correct] for k, v in test_scores.items()})
                                        if (~correct).any() else None)
        result["tuning kinds"] = float(np.mean([result[kind] for kind in TUNING]))
        result["held-out kinds"] = float(np.mean([result[kind] for kind in HELD_OUT]))
        result["all non-garments"] = float(np.mean([result[kind] for kind in NOT_GARMENTS]))
        return result

    rows = [{"signals": list(used), "quantile": quantile, "flagged": shares(used, quantile)}
            for used, quantile in candidates()]
    allowed = [row for row in rows if max(row["flagged"]["training images"], row["flagged"]["training photos"])
               <= args.false_alarms]
    best = max(allowed, key=lambda row: row["flagged"]["tuning kinds"]) if allowed else None
    old_rule = {group: float(unsure.softmax_unsure(probabilities).mean())
                for group, (probabilities, _) in scored.items()}
    old_rule["all non-garments"] = float(np.mean([old_rule[kind] for kind in NOT_GARMENTS]))
    adopted = shares((unsure.SIGNAL,), unsure.QUANTILE)

    print(f"{model_file}: {correct.mean():.1%} right on the first {args.count} test images; "
          f"{per_kind} images of each kind of non-garment; statistics {statistics_from}.\n"
          f"Share flagged; the best quantile per signal set that flags at most {args.false_alarms:.0%} "
          "of the training garments and of their photos:\n")
    print(f"{'signals':58}{'q':>5}{'train':>7}{'photos':>7}{'test':>7}{'t.photo':>8}{'tuning':>8}{'held-out':>9}")
    for used in dict.fromkeys(tuple(row["signals"]) for row in rows):
        fits = [row for row in allowed if tuple(row["signals"]) == used]
        if fits:
            row = max(fits, key=lambda row: row["flagged"]["tuning kinds"])
            f = row["flagged"]
            print(f"{' + '.join(used):58}{row['quantile']:>5g}"
                  f"{f['training images']:>7.1%}{f['training photos']:>7.1%}"
                  f"{f['test images']:>7.1%}{f['test images as photos']:>8.1%}{f['tuning kinds']:>8.1%}"
                  f"{f['held-out kinds']:>9.1%}")
    if best:
        print(f"\nBest on the tuning kinds: {' + '.join(best['signals'])} at {best['quantile']:g}.")
    print(f"\npredict.py's rule, {unsure.SIGNAL} past the {unsure.QUANTILE:g} quantile, "
          f"against the softmax rule (top class below {unsure.UNSURE_BELOW:g}), share flagged:")
    for group in ["training images", "training photos", "test images", "test images as photos",
                  "test images, right", "test images, wrong", *NOT_GARMENTS, "rotated garments",
                  "tuning kinds", "held-out kinds", "all non-garments"]:
        value = adopted[group]
        old = old_rule.get(group)
        print(f"  {group:26}{'-' if value is None else f'{value:.1%}':>7}{'' if old is None else f'{old:>9.1%}'}")

    example_answers = {}
    if args.examples:
        example_images = examples(load_test_images(args.data_dir).images, np.random.default_rng(args.seed))
        print(f"\nThe four examples, written to {args.examples}:")
        for name, image in example_images.items():
            args.examples.mkdir(parents=True, exist_ok=True)
            image.save(args.examples / name)
            model_input = preprocess.to_fashion_mnist(preprocess.open_photo(args.examples / name))
            probabilities, scores = signals(features, head, model_input[None], statistics)
            top = int(probabilities[0].argmax())
            example_answers[name] = {"top": CLASS_NAMES[top], "probability": float(probabilities[0, top]),
                                     "unsure": bool(flagged(scores, statistics, unsure.QUANTILE, [unsure.SIGNAL])[0]),
                                     "softmax rule unsure": bool(unsure.softmax_unsure(probabilities)[0])}
            answer = example_answers[name]
            print(f"  {name:22}{answer['top']} {answer['probability']:.1%}"
                  f"{'  (unsure)' if answer['unsure'] else ''}")

    record = {"command": shlex.join(["python", *sys.argv]), "model": str(model_file), "statistics": statistics_from,
              "test_accuracy": float(correct.mean()), "count": args.count, "per_kind": per_kind,
              "false_alarms": args.false_alarms, "cpu": hardware.cpu_name(), "tuning_kinds": TUNING,
              "held_out_kinds": HELD_OUT, "candidates": rows,
              "best_on_tuning_kinds": best and {"signals": best["signals"], "quantile": best["quantile"]},
              "predict_py": {"signals": [unsure.SIGNAL], "quantile": unsure.QUANTILE, "flagged": adopted},
              "softmax_rule": {"top probability below": unsure.UNSURE_BELOW, "flagged": old_rule},
              "examples": example_answers}
    files.write_json(args.results, record)
    print(f"\nWrote {args.results}")


if __name__ == "__main__":
    main()
