"""Benchmark: when should predict.py say it is unsure? Garments against images of no garment at all.

    python benchmarks/predict_unsure.py --model runs/RUN/cnn.keras --count 2000
    python benchmarks/predict_unsure.py --model runs/RUN/cnn.keras --examples DIR   # also write 4 example photos

The models can only choose among the 10 Fashion-MNIST classes, so they name one for
anything, often with a high top probability. This measures the signals of
convlab/unsure.py, alone and in pairs, each past a percentile of the garments' scores:
the top probability, the energy (-logsumexp of the logits), the Mahalanobis and the
cosine distance of the `dense` features to the nearest class mean, and the error of
rebuilding the 28x28 pixels from the training images' 40 main patterns (PCA).

- garments: the first --count Fashion-MNIST test images as `predict.py --test-index`
  gives them, and the same images as product photos (dark on white, ten times larger)
  through predict.py's preprocessing; the thresholds come from the training images
  (the statistics file beside the model, convlab.unsure.save_statistics), never from these;
- not garments, generated and seeded, --count / 10 of each kind, all through the same
  preprocessing. The kinds that choose the rule (TUNING): linear and radial colour
  gradients, noise, smooth noise (blobs), shapes, stripes and checkerboards. The kinds
  held out, only reported (HELD_OUT): text, crops of the photos matplotlib ships (a
  portrait, a gift box, terrain, a brain scan), dark shoe silhouettes on white, drawn
  cats, drawn mugs, drawn outdoor scenes (640x480), and test garments rotated 30 to 150
  degrees.

The rule chosen: the candidate that flags most of the TUNING kinds while flagging at most
--false-alarms of the training garments and of their photos. Prints the tables; writes
everything to --results (JSON).
"""

import argparse
import functools
import itertools
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter, ImageFont  # noqa: E402

from convlab import files, hardware, preprocess, unsure  # noqa: E402
from convlab.data import DATA_DIR_HELP, VALIDATION_SIZE, DataError, load_splits, load_test_images  # noqa: E402
from convlab.saved_models import ModelFileError, load_model, model_or_latest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "predict_unsure.json"
SAMPLE_PHOTOS = ["grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "jacksboro_fault_dem.npz", "s1045.ima.gz"]
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


PHOTO_SIZE = (640, 480)


def sneaker_silhouette(rng):
    """A dark, flat sneaker outline (no inner detail) on white, 640x480."""
    image = Image.new("RGB", PHOTO_SIZE, random_colour(rng, 225))
    draw = ImageDraw.Draw(image)
    s = rng.uniform(0.7, 1.1)
    x0, y0 = rng.uniform(60, 140), rng.uniform(140, 220)
    pts = [(0, 120), (10, 60), (90, 40), (150, 0), (210, 10), (250, 60), (390, 80), (430, 110), (430, 150), (0, 150)]
    pts = [(x0 + s * x, y0 + s * y) for x, y in pts]
    draw.polygon(pts, fill=random_colour(rng, 0, 70))
    return image


def rotated(garment, angle):
    """A Fashion-MNIST image as a dark product photo on white, rotated by angle degrees, 640x480."""
    photo = Image.fromarray(255 - garment).resize((280, 280), Image.BICUBIC).rotate(angle, expand=True, fillcolor=255)
    canvas = Image.new("L", PHOTO_SIZE, 255)
    canvas.paste(photo, ((PHOTO_SIZE[0] - photo.size[0]) // 2, (PHOTO_SIZE[1] - photo.size[1]) // 2))
    return canvas.convert("RGB")


def cat(rng):
    """A drawn cat: body, head, ears, eyes, tail, striped fur, on a wall-and-floor scene, 640x480."""
    w, h = PHOTO_SIZE
    image = Image.new("RGB", PHOTO_SIZE, random_colour(rng, 120, 230))
    draw = ImageDraw.Draw(image)
    floor = int(rng.uniform(0.55, 0.75) * h)
    draw.rectangle([0, floor, w, h], fill=random_colour(rng, 60, 180))
    fur, dark = random_colour(rng, 60, 200), random_colour(rng, 0, 60)
    cx, cy = rng.uniform(220, 420), floor - rng.uniform(40, 80)
    bw, bh = rng.uniform(110, 160), rng.uniform(70, 100)
    draw.ellipse([cx - bw, cy - bh, cx + bw, cy + bh], fill=fur)  # body
    hx, hy, r = cx + bw * rng.choice([-0.9, 0.9]), cy - bh * 1.2, rng.uniform(55, 75)
    draw.polygon([(hx - r, hy - r * 0.3), (hx - r * 0.7, hy - r * 1.5), (hx - r * 0.1, hy - r * 0.8)], fill=fur)
    draw.polygon([(hx + r, hy - r * 0.3), (hx + r * 0.7, hy - r * 1.5), (hx + r * 0.1, hy - r * 0.8)], fill=fur)
    draw.ellipse([hx - r, hy - r, hx + r, hy + r], fill=fur)  # head
    for ex in (-0.4, 0.4):
        draw.ellipse([hx + ex * r - 10, hy - 15, hx + ex * r + 10, hy + 5], fill=(200, 220, 60))
        draw.ellipse([hx + ex * r - 3, hy - 13, hx + ex * r + 3, hy + 3], fill=(0, 0, 0))
    draw.polygon([(hx - 6, hy + 18), (hx + 6, hy + 18), (hx, hy + 26)], fill=(230, 140, 150))
    for side in (-1, 1):
        for dy in (-4, 4, 12):
            draw.line([(hx + side * 15, hy + 22), (hx + side * 70, hy + 22 + dy)], fill=dark, width=2)
    tx = cx - np.sign(hx - cx) * bw
    draw.line([(tx, cy), (tx - np.sign(hx - cx) * 60, cy - 120)], fill=fur, width=22)
    for i in range(int(rng.integers(4, 9))):  # stripes
        sx = cx - bw * 0.7 + i * bw * 0.2
        draw.line([(sx, cy - bh * 0.8), (sx + 15, cy - bh * 0.1)], fill=dark, width=6)
    noise = rng.normal(0, 8, (h, w, 1))
    return Image.fromarray(np.clip(np.asarray(image, np.float32) + noise, 0, 255).astype(np.uint8))


def mug(rng):
    """A drawn mug: a coloured body, a handle, a rim, on a light background, 640x480."""
    w, h = PHOTO_SIZE
    image = Image.new("RGB", PHOTO_SIZE, random_colour(rng, 210))
    draw = ImageDraw.Draw(image)
    body = random_colour(rng, 0, 200)
    cx, cy = rng.uniform(260, 380), rng.uniform(220, 260)
    mw, mh = rng.uniform(90, 130), rng.uniform(110, 150)
    side = rng.choice([-1, 1])
    hx = cx + side * mw
    draw.ellipse([hx - 60, cy - 60, hx + 60, cy + 60], outline=body, width=int(rng.integers(16, 26)))  # handle
    draw.rectangle([cx - mw, cy - mh, cx + mw, cy + mh], fill=body)
    draw.ellipse([cx - mw, cy + mh - 20, cx + mw, cy + mh + 20], fill=body)  # round bottom
    draw.ellipse([cx - mw, cy - mh - 20, cx + mw, cy - mh + 20], fill=tuple(min(255, c + 60) for c in body))  # rim
    draw.ellipse([cx - mw + 10, cy - mh - 12, cx + mw - 10, cy - mh + 12], fill=(60, 40, 30))  # coffee
    if rng.random() < 0.5:  # a logo
        draw.ellipse([cx - 30, cy - 30, cx + 30, cy + 30], fill=random_colour(rng))
    return image.filter(ImageFilter.GaussianBlur(1))


def scene(rng):
    """A drawn outdoor scene: sky, ground, sun, a house and trees, 640x480."""
    w, h = PHOTO_SIZE
    y = np.linspace(0, 1, h)[:, None, None]
    sky_top, sky_low = np.array(random_colour(rng, 40, 160)), np.array(random_colour(rng, 150, 255))
    pixels = np.repeat(sky_top + y * (sky_low - sky_top), w, axis=1)
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    horizon = int(rng.uniform(0.5, 0.75) * h)
    draw.rectangle([0, horizon, w, h], fill=random_colour(rng, 20, 140))
    sx, sy = rng.uniform(50, w - 50), rng.uniform(30, horizon - 60)
    draw.ellipse([sx - 30, sy - 30, sx + 30, sy + 30], fill=(250, 220, 80))
    for _ in range(int(rng.integers(1, 4))):
        tx = rng.uniform(20, w - 20)
        draw.rectangle([tx - 8, horizon - 60, tx + 8, horizon + 10], fill=(90, 60, 30))
        draw.ellipse([tx - 40, horizon - 140, tx + 40, horizon - 40], fill=random_colour(rng, 0, 120))
    hx = rng.uniform(100, w - 200)
    draw.rectangle([hx, horizon - 120, hx + 140, horizon + 20], fill=random_colour(rng, 100, 255))
    roof = [(hx - 15, horizon - 120), (hx + 70, horizon - 190), (hx + 155, horizon - 120)]
    draw.polygon(roof, fill=random_colour(rng, 60, 200))
    draw.rectangle([hx + 55, horizon - 40, hx + 85, horizon + 20], fill=(70, 40, 20))
    return image


NOT_GARMENTS = {"linear gradients": linear_gradient, "radial gradients": radial_gradient, "noise": noise,
                "smooth noise": smooth_noise, "shapes": shapes, "stripes": stripes, "text": text,
                "photo crops": photo_crops, "shoe silhouettes": sneaker_silhouette, "cats": cat, "mugs": mug,
                "scenes": scene}
TUNING = ["linear gradients", "radial gradients", "noise", "smooth noise", "shapes", "stripes"]
HELD_OUT = [kind for kind in NOT_GARMENTS if kind not in TUNING] + ["rotated garments"]
QUANTILES = [0.9, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99]
TEST_TROUSER = 2  # test image 2 is a trouser


def examples(x_test, rng):
    """Four pictures a learner might try, generated: {file name: 640x480 RGB image}."""
    return {"shoe_silhouette.png": sneaker_silhouette(rng), "rotated_trouser.png": rotated(x_test[TEST_TROUSER], 60),
            "cat.png": cat(rng), "mug.png": mug(rng)}


# --- the rules -------------------------------------------------------------------------


def candidates():
    """Every signal alone and every pair of signals, at each quantile of QUANTILES."""
    sets = [(signal,) for signal in unsure.SIGNALS] + list(itertools.combinations(unsure.SIGNALS, 2))
    return [(signals, quantile) for signals in sets for quantile in QUANTILES]


def load_statistics_or_fit(model, model_file, data_dir):
    path = unsure.statistics_path(model_file)
    if path.is_file():
        return unsure.load_statistics(path), str(path)
    print(f"No {path.name} beside the model: fitting the statistics on the training split train.py uses "
          "(--seed 42); this takes a minute or two.", file=sys.stderr)
    data = load_splits(data_dir, VALIDATION_SIZE, 42)
    return unsure.fit_statistics(model, data.train.images, data.train.labels), "fitted by this benchmark"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, metavar="PATH",
                        help="a .keras model saved by train.py (default: cnn.keras of the latest run)")
    parser.add_argument("--count", type=int, default=2000,
                        help="test images; a tenth as many non-garments of each kind (default: %(default)s)")
    parser.add_argument("--false-alarms", type=float, default=0.08,
                        help="share of the training garments, and of their photos, a rule may flag "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
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
        statistics, statistics_from = load_statistics_or_fit(model, model_file, args.data_dir)
    except (DataError, ModelFileError, unsure.StatisticsError) as error:
        sys.exit(f"error: {error}")

    rng = np.random.default_rng(args.seed)
    x_test, y_test = x_test[:args.count], y_test[:args.count]
    per_kind = max(args.count // 10, 1)
    groups = {"test images": list(x_test),
              "test images as photos": [preprocess.to_fashion_mnist(preprocess.as_product_photo(x)) for x in x_test]}
    for kind, make in NOT_GARMENTS.items():
        groups[kind] = [preprocess.to_fashion_mnist(make(rng)) for _ in range(per_kind)]
    groups["rotated garments"] = [preprocess.to_fashion_mnist(rotated(x, rng.uniform(30, 150)))
                                  for x in x_test[:per_kind]]
    scored = {group: unsure.signals(model, np.stack(images), statistics) for group, images in groups.items()}
    calibration = {name: {signal: statistics[f"calibration {name}: {signal}"] for signal in unsure.SIGNALS}
                   for name in ("images", "photos")}
    correct = scored["test images"][0].argmax(axis=1) == y_test

    def shares(signals, quantile):
        """Share flagged per group; the training garments' (calibration) shares; the means over TUNING, HELD_OUT."""
        def share(scores):
            return float(unsure.flagged(scores, statistics, quantile, signals).mean())
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

    rows = [{"signals": list(signals), "quantile": quantile, "flagged": shares(signals, quantile)}
            for signals, quantile in candidates()]
    allowed = [row for row in rows if max(row["flagged"]["training images"], row["flagged"]["training photos"])
               <= args.false_alarms]
    best = max(allowed, key=lambda row: row["flagged"]["tuning kinds"]) if allowed else None
    old_rule = {group: float(unsure.softmax_unsure(probabilities).mean())
                for group, (probabilities, _) in scored.items()}
    old_rule["all non-garments"] = float(np.mean([old_rule[kind] for kind in NOT_GARMENTS]))
    adopted = shares(unsure.RULE, unsure.QUANTILE)

    print(f"{model_file}: {correct.mean():.1%} right on the first {args.count} test images; "
          f"{per_kind} images of each kind of non-garment; statistics {statistics_from}.\n"
          f"Share flagged; the best quantile per signal set that flags at most {args.false_alarms:.0%} "
          "of the training garments and of their photos:\n")
    print(f"{'signals':58}{'q':>5}{'train':>7}{'photos':>7}{'test':>7}{'t.photo':>8}{'tuning':>8}{'held-out':>9}")
    for signals in dict.fromkeys(tuple(row["signals"]) for row in rows):
        fits = [row for row in allowed if tuple(row["signals"]) == signals]
        if fits:
            row = max(fits, key=lambda row: row["flagged"]["tuning kinds"])
            f = row["flagged"]
            print(f"{' + '.join(signals):58}{row['quantile']:>5g}"
                  f"{f['training images']:>7.1%}{f['training photos']:>7.1%}"
                  f"{f['test images']:>7.1%}{f['test images as photos']:>8.1%}{f['tuning kinds']:>8.1%}"
                  f"{f['held-out kinds']:>9.1%}")
    if best:
        print(f"\nBest on the tuning kinds: {' + '.join(best['signals'])} at {best['quantile']:g}.")
    print(f"\npredict.py's rule, {' or '.join(unsure.RULE)} past the {unsure.QUANTILE:g} quantile, "
          f"against the softmax rule (top class below {unsure.UNSURE_BELOW:g}), share flagged:")
    for group in ["training images", "training photos", "test images", "test images as photos",
                  "test images, right", "test images, wrong", *NOT_GARMENTS, "rotated garments",
                  "tuning kinds", "held-out kinds", "all non-garments"]:
        value = adopted[group]
        old = old_rule.get(group)
        print(f"  {group:26}{'-' if value is None else f'{value:.1%}':>7}{'' if old is None else f'{old:>9.1%}'}")

    example_answers = {}
    if args.examples:
        from convlab.data import CLASS_NAMES

        example_images = examples(load_test_images(args.data_dir).images, np.random.default_rng(args.seed))
        print(f"\nThe four examples, written to {args.examples}:")
        for name, image in example_images.items():
            args.examples.mkdir(parents=True, exist_ok=True)
            image.save(args.examples / name)
            model_input = preprocess.to_fashion_mnist(preprocess.open_photo(args.examples / name))
            probabilities, scores = unsure.signals(model, model_input[None], statistics)
            top = int(probabilities[0].argmax())
            example_answers[name] = {"top": CLASS_NAMES[top], "probability": float(probabilities[0, top]),
                                     "unsure": bool(unsure.flagged(scores, statistics)[0]),
                                     "softmax rule unsure": bool(unsure.softmax_unsure(probabilities)[0])}
            answer = example_answers[name]
            print(f"  {name:22}{answer['top']} {answer['probability']:.1%}"
                  f"{'  (unsure)' if answer['unsure'] else ''}")

    record = {"command": shlex.join(["python", *sys.argv]), "model": str(model_file), "statistics": statistics_from,
              "test_accuracy": float(correct.mean()), "count": args.count, "per_kind": per_kind,
              "false_alarms": args.false_alarms, "cpu": hardware.cpu_name(), "tuning_kinds": TUNING,
              "held_out_kinds": HELD_OUT, "candidates": rows,
              "best_on_tuning_kinds": best and {"signals": best["signals"], "quantile": best["quantile"]},
              "predict_py": {"signals": list(unsure.RULE), "quantile": unsure.QUANTILE, "flagged": adopted},
              "softmax_rule": {"top probability below": unsure.UNSURE_BELOW, "flagged": old_rule},
              "examples": example_answers}
    files.write_json(args.results, record)
    print(f"\nWrote {args.results}")


if __name__ == "__main__":
    main()
