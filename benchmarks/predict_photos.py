"""Benchmark: how well a model reads test images made into photos, with the background's light fitted
across the photo (predict.py's preprocessing) or taken as one level.

    python -m benchmarks.predict_photos --model runs/RUN/cnn.keras --count 1000

The first --count Fashion-MNIST test images, rendered as convlab/preprocess.py renders
them for the tests and the notebook:
- product photos (as_product_photo: dark on white, ten times larger);
- phone photos (as_photo: off-centre on a bigger, tinted canvas, JPEG);
- side-lit photos (as_side_lit_photo: cloth on a grey table, one side 35% brighter
  than the other), and the same photos evenly lit (brighter=0).
Each goes through predict.py's preprocessing twice: as it is (preprocess.garment_on_black:
the background's light fitted to the border as a smooth surface and subtracted), and with
one level for the whole background instead (the border's median, preprocess.border_level),
everything else the same. Prints, for each rendering and each way, the model's accuracy
and the share of photos on a canvas whose crop is over 10% taller or wider than the
garment's 280x280 pixels (background taken for garment); writes everything to --results
(JSON).
"""

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from convlab.tensorflow_startup import import_tensorflow

import_tensorflow()  # first: without the start-up notices that look like errors

import numpy as np  # noqa: E402

from convlab import files, hardware, preprocess  # noqa: E402
from convlab.data import DATA_DIR_HELP, DataError, load_test_images  # noqa: E402
from convlab.saved_models import ModelFileError, load_model, model_or_latest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "predict_photos.json"
GARMENT = 280  # pixels a side of a test image rendered as a photo: ten times larger


def one_level(gray):
    """garment_on_black with one level for the whole background: the border's median, subtracted."""
    level = preprocess.border_level(gray)
    if level > 127:  # a light background: the garment is the darker part
        gray, level = 255 - gray, 255 - level
    return np.clip(gray - level, 0, None)


def model_input(photo, remove_background):
    """preprocess.to_fashion_mnist with the given background step; and whether background got into the crop."""
    cropped = preprocess.crop_to_garment(remove_background(preprocess.to_grayscale(photo)))
    too_big = max(cropped.shape) > 1.1 * GARMENT
    return preprocess.stretch_contrast(preprocess.resize(preprocess.pad_to_square(cropped))), too_big


def renderings(images, folder, seed):
    """{rendering: [Pillow image or photo file]}: each test image rendered every way, each JPEG with its own
    rng, so that a side-lit photo and its evenly lit twin place the garment alike."""
    rendered = {"product photos": [preprocess.as_product_photo(image) for image in images]}
    for name, render in (("phone photos", preprocess.as_photo),
                         ("side-lit photos, evenly lit", lambda *args: preprocess.as_side_lit_photo(*args, brighter=0)),
                         ("side-lit photos, one side 35% brighter", preprocess.as_side_lit_photo)):
        rendered[name] = [folder / f"{len(rendered)}-{index}.jpg" for index in range(len(images))]
        for index, (image, path) in enumerate(zip(images, rendered[name])):
            render(image, path, np.random.default_rng([seed, index]))
    return rendered


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, metavar="PATH",
                        help="a .keras model saved by train.py (default: cnn.keras of the latest run)")
    parser.add_argument("--count", type=int, default=1000, help="test images (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="where the garments land (default: %(default)s)")
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON output (default: %(default)s)")
    args = parser.parse_args()
    if not 1 <= args.count <= 10000:
        parser.error(f"--count must be from 1 to 10000 (the test images), got {args.count}")
    try:
        model_file = model_or_latest(args.model)
        x_test, y_test = load_test_images(args.data_dir)
        model = load_model(model_file)
    except (DataError, ModelFileError) as error:
        sys.exit(f"error: {error}")
    images, labels = x_test[:args.count], y_test[:args.count]

    def accuracy(inputs):
        answers = model.predict(np.stack(inputs)[..., None], batch_size=1000, verbose=0)
        return float(np.mean(answers.argmax(axis=1) == labels))

    results = {"test images": {"accuracy": accuracy(images)}}
    with tempfile.TemporaryDirectory() as folder:
        for name, photos in renderings(images, Path(folder), args.seed).items():
            results[name] = {}
            for way, remove_background in (("fitted", preprocess.garment_on_black), ("one level", one_level)):
                inputs, too_big = zip(*(model_input(preprocess.open_photo(photo) if isinstance(photo, Path) else photo,
                                                    remove_background) for photo in photos))
                results[name][way] = {"accuracy": accuracy(inputs)}
                if name != "product photos":  # they are the garment's 280x280 alone: nothing else to crop away
                    results[name][way]["crop with background"] = float(np.mean(too_big))

    print(f"{model_file} on the first {args.count} test images ({hardware.cpu_name()}):")
    print(f"{'':42}{'accuracy':^21}{'crop with background':^24}")
    print(f"{'rendering':42}{'fitted':>10}{'one level':>11}{'fitted':>12}{'one level':>12}")
    print(f"{'test images themselves':42}{results['test images']['accuracy']:>10.1%}")
    for name, ways in list(results.items())[1:]:
        crops = "".join(f"{ways[way]['crop with background']:>12.1%}" for way in ways
                        if "crop with background" in ways[way])
        print(f"{name:42}{ways['fitted']['accuracy']:>10.1%}{ways['one level']['accuracy']:>11.1%}{crops}")
    files.write_json(args.results, {"command": shlex.join(["python", "-m", "benchmarks.predict_photos", *sys.argv[1:]]),
                                    "model": str(model_file), "count": args.count, "seed": args.seed,
                                    "cpu": hardware.cpu_name(), "results": results})
    print(f"\nWrote {args.results}")


if __name__ == "__main__":
    main()
