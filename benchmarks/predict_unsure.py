"""Benchmark: when should predict.py say it is unsure? Garments against images of no garment at all.

    python benchmarks/predict_unsure.py                               # the latest run's cnn
    python benchmarks/predict_unsure.py --model runs/RUN/cnn.keras --count 2000

The models can only choose among the 10 Fashion-MNIST classes, so they name one for
anything, a colour gradient included. This scores candidate rules for "unsure":
the top probability below t, the margin between the top two below t, the entropy above t.

- garments: the first --count Fashion-MNIST test images as `predict.py --test-index`
  gives them, and the same images as product photos (dark on white, ten times larger)
  through predict.py's preprocessing;
- not garments, generated and seeded, --count / 10 of each kind: linear and radial
  colour gradients, noise, smooth noise (blobs), shapes, text, stripes and
  checkerboards, and crops of the photos matplotlib ships (a portrait, a gift box,
  terrain, a brain scan), all through the same preprocessing.

For each rule and a few thresholds (and the one that flags --false-alarms of the garment
photos): the share of garments and of non-garments called unsure; then predict.py's own
rule per kind of image. Prints the tables; writes everything to --results (JSON).
"""

import argparse
import functools
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from convlab import files, hardware, preprocess, unsure  # noqa: E402
from convlab.data import DATA_DIR_HELP, DataError, load_test_images  # noqa: E402
from convlab.saved_models import ModelFileError, load_model, model_or_latest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "predict_unsure.json"
SAMPLE_PHOTOS = ["grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "jacksboro_fault_dem.npz", "s1045.ima.gz"]
# Thresholds tried for each rule, besides the one that flags --false-alarms of the garment photos.
SWEEP = {"top probability below": [0.5, 0.6, 0.7, 0.75, 0.8, 0.9],
         "margin to the 2nd below": [0.2, 0.4, 0.6, 0.8],
         "entropy (nats) above": [0.3, 0.5, 0.7, 1.0]}
WORDS = ["hello", "Fashion", "MNIST", "42", "convolution", "sale -50%", "OK", "Keras", "pooling", "A"]


# --- images that are no garment: each a function (rng) -> a Pillow RGB image -----------


def random_colour(rng, low=0, high=256):
    return tuple(int(v) for v in rng.integers(low, high, 3))


def random_size(rng):
    return int(rng.integers(160, 480)), int(rng.integers(160, 480))


def linear_gradient(rng):
    width, height = random_size(rng)
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:height, 0:width]
    t = (x * np.cos(angle) + y * np.sin(angle)).astype(np.float32)
    t = (t - t.min()) / max(t.max() - t.min(), 1)
    start, end = np.array(random_colour(rng)), np.array(random_colour(rng))
    return Image.fromarray((start + t[..., None] * (end - start)).astype(np.uint8))


def radial_gradient(rng):
    width, height = random_size(rng)
    y, x = np.mgrid[0:height, 0:width]
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    t = np.hypot(x - cx, y - cy).astype(np.float32)
    t /= t.max()
    inner, outer = np.array(random_colour(rng)), np.array(random_colour(rng))
    return Image.fromarray((inner + t[..., None] * (outer - inner)).astype(np.uint8))


def noise(rng):
    width, height = random_size(rng)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def smooth_noise(rng):
    width, height = random_size(rng)
    coarse = rng.integers(0, 256, (int(rng.integers(3, 9)), int(rng.integers(3, 9)), 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((width, height), Image.BICUBIC)


def shapes(rng):
    image = Image.new("RGB", random_size(rng), random_colour(rng, 160) if rng.random() < 0.7 else random_colour(rng))
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(int(rng.integers(1, 4))):
        x0, x1 = sorted(rng.integers(0, width, 2))
        y0, y1 = sorted(rng.integers(0, height, 2))
        box = [int(x0), int(y0), int(x1) + 10, int(y1) + 10]
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse(box, fill=random_colour(rng))
        elif kind == 1:
            draw.rectangle(box, fill=random_colour(rng))
        else:
            corners = [(int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(3)]
            draw.polygon(corners, fill=random_colour(rng))
    return image


def text(rng):
    image = Image.new("RGB", random_size(rng), random_colour(rng, 200))
    font = ImageFont.load_default(size=int(rng.integers(24, 90)))
    words = " ".join(rng.choice(WORDS, int(rng.integers(1, 4))))
    ImageDraw.Draw(image).text((int(rng.integers(0, 40)), int(rng.integers(0, image.size[1] // 2))), words,
                               fill=random_colour(rng, 0, 100), font=font)
    return image


def stripes(rng):
    width, height = random_size(rng)
    y, x = np.mgrid[0:height, 0:width]
    period = int(rng.integers(8, 60))
    pattern = (x // period) % 2 if rng.random() < 0.4 else ((y // period) % 2 if rng.random() < 0.5
                                                             else (x // period + y // period) % 2)
    colours = np.array([random_colour(rng), random_colour(rng)], dtype=np.uint8)
    return Image.fromarray(colours[pattern])


@functools.cache
def sample_photo(name):
    """One of matplotlib's sample images as an RGB Pillow image (the elevation maps as gray)."""
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data(name, asfileobj=False)
    if name.endswith(".npz"):
        elevation = np.load(path)["elevation"].astype(np.float32)
        gray = 255 * (elevation - elevation.min()) / (elevation.max() - elevation.min())
        return Image.fromarray(gray.astype(np.uint8)).convert("RGB")
    if name.endswith(".ima.gz"):
        import gzip

        scan = np.frombuffer(gzip.open(path).read(), np.uint16).reshape(256, 256).astype(np.float32)
        return Image.fromarray((255 * scan / scan.max()).astype(np.uint8)).convert("RGB")
    return Image.open(path).convert("RGB")


def photo_crops(rng):
    """A random crop, 40 to 100% of each side, of one of the sample photos."""
    photo = sample_photo(SAMPLE_PHOTOS[int(rng.integers(len(SAMPLE_PHOTOS)))])
    width, height = photo.size
    crop_width, crop_height = int(width * rng.uniform(0.4, 1)), int(height * rng.uniform(0.4, 1))
    left, top = int(rng.integers(0, width - crop_width + 1)), int(rng.integers(0, height - crop_height + 1))
    return photo.crop((left, top, left + crop_width, top + crop_height))


NOT_GARMENTS = {"linear gradients": linear_gradient, "radial gradients": radial_gradient, "noise": noise,
                "smooth noise": smooth_noise, "shapes": shapes, "text": text, "stripes": stripes,
                "photo crops": photo_crops}


def as_product_photo(image):
    """A Fashion-MNIST image as a product photo: a dark garment on white, ten times larger."""
    return Image.fromarray(255 - image).resize((280, 280), Image.BICUBIC).convert("RGB")


# --- the rules -------------------------------------------------------------------------


def scores(probabilities):
    """{rule: (score per image, True if a high score means unsure)}."""
    ordered = np.sort(probabilities, axis=1)
    entropy = -(probabilities * np.log(np.clip(probabilities, 1e-12, 1))).sum(axis=1)
    return {"top probability below": (ordered[:, -1], False),
            "margin to the 2nd below": (ordered[:, -1] - ordered[:, -2], False),
            "entropy (nats) above": (entropy, True)}


def flagged(score, threshold, high_is_unsure):
    return score > threshold if high_is_unsure else score < threshold


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, metavar="PATH",
                        help="a .keras model saved by train.py (default: cnn.keras of the latest run)")
    parser.add_argument("--count", type=int, default=2000,
                        help="test images; a tenth as many non-garments of each kind (default: %(default)s)")
    parser.add_argument("--false-alarms", type=float, default=0.05,
                        help="share of garment photos each rule may flag (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
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
    except (DataError, ModelFileError) as error:
        sys.exit(f"error: {error}")

    rng = np.random.default_rng(args.seed)
    x_test, y_test = x_test[:args.count], y_test[:args.count]
    per_kind = max(args.count // 10, 1)
    groups = {"test images": list(x_test),
              "test images as photos": [preprocess.to_fashion_mnist(as_product_photo(x)) for x in x_test]}
    for kind, make in NOT_GARMENTS.items():
        groups[kind] = [preprocess.to_fashion_mnist(make(rng)) for _ in range(per_kind)]
    probabilities = {group: model.predict(np.stack(images)[..., None], verbose=0)
                     for group, images in groups.items()}
    correct = probabilities["test images"].argmax(axis=1) == y_test
    not_garments = np.concatenate([probabilities[kind] for kind in NOT_GARMENTS])

    def shares(rule, threshold):
        """Share called unsure: per group, of the test images the model gets right and wrong, of all non-garments."""
        def share(p):
            score, high = scores(p)[rule]
            return float(flagged(score, threshold, high).mean()) if len(p) else None
        result = {group: share(p) for group, p in probabilities.items()}
        result["test images, right"] = share(probabilities["test images"][correct])
        result["test images, wrong"] = share(probabilities["test images"][~correct])
        result["all non-garments"] = share(not_garments)
        return result

    rows = []
    for rule, (score, high) in scores(probabilities["test images as photos"]).items():
        # A fixed sweep, and the threshold that flags --false-alarms of the garment photos.
        at_false_alarms = float(np.quantile(score, 1 - args.false_alarms if high else args.false_alarms))
        for threshold in sorted({*SWEEP[rule], round(at_false_alarms, 3)}):
            rows.append({"rule": rule, "threshold": threshold, "flagged": shares(rule, threshold)})

    print(f"{model_file}: {correct.mean():.1%} right on the first {args.count} test images; "
          f"{per_kind} images of each kind of non-garment. Share called unsure:\n")
    print(f"{'rule':24}{'threshold':>10}{'test right':>11}{'test wrong':>11}{'photos':>8}{'not garments':>13}"
          "  fewest of one kind")
    for row in rows:
        flags = row["flagged"]
        fewest = min(NOT_GARMENTS, key=lambda kind: flags[kind])
        wrong = "-" if flags["test images, wrong"] is None else f"{flags['test images, wrong']:.1%}"
        print(f"{row['rule']:24}{row['threshold']:>10g}{flags['test images, right']:>11.1%}{wrong:>11}"
              f"{flags['test images as photos']:>8.1%}{flags['all non-garments']:>13.1%}  "
              f"{flags[fewest]:.0%} {fewest}")
    own = shares("top probability below", unsure.UNSURE_BELOW)
    print(f"\npredict.py's rule, top probability below {unsure.UNSURE_BELOW:g}, per group:")
    for group, share in own.items():
        print(f"  {group:26}{'-' if share is None else f'{share:.1%}':>7}")

    record = {"command": shlex.join(["python", *sys.argv]), "model": str(model_file),
              "test_accuracy": float(correct.mean()), "count": args.count, "per_kind": per_kind,
              "false_alarms": args.false_alarms, "cpu": hardware.cpu_name(), "rules": rows,
              "predict_py": {"top probability below": unsure.UNSURE_BELOW, "flagged": own}}
    files.write_json(args.results, record)
    print(f"\nWrote {args.results}")


if __name__ == "__main__":
    main()
