"""Make a photo of a garment look like a Fashion-MNIST image, so the models can read it.

Fashion-MNIST images are light garments on a black background, centred, the
garment's longer side spanning the whole 28-pixel frame (Zalando trimmed each
product photo, resized its longer edge to 28 pixels, centred it and negated it).
A phone photo is the opposite on every count: colour, large, a dark garment on a
light background, off-centre. Each step below undoes one difference:

    photo -> grayscale -> background flattened and removed, light background inverted
          -> cropped to the garment -> padded to a square -> 28x28 (antialiased)
          -> contrast 0..255 uint8

numpy and Pillow only; no TensorFlow, so it is quick to import and to test. Used by
predict.py, visualize.py --image-file, the notebook, convlab/unsure.py, and the benchmarks
predict_unsure.py and predict_photos.py; the renderings at the end make test images into
photos for them and for the tests.
"""

import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from convlab.data import IMAGE_SHAPE

# A photo is worked on at most this many pixels a side: plenty to find a garment that
# ends up 28 pixels tall, and a 100-megapixel photo decodes in a fraction of the time
# and memory (JPEGs are decoded at reduced scale directly).
WORKING_SIZE = 1024
BORDER = 0.05  # the outer 5% of each side is taken to be background
# The background's light across the photo, fitted to the border: a polynomial of x and y of this
# degree (a plane, plus a bend: light from one side, a vignette), robust to a garment reaching the border.
BACKGROUND_DEGREE = 2
BORDER_SAMPLES = 2000  # border pixels the surface is fitted to, about: plenty for its 6 coefficients
FLAT = 2.0  # gray levels: a border spread this little is evenly lit (JPEG noise is no light)
GARMENT_THRESHOLD = 0.15  # of the brightest pixel: fainter pixels are background noise, not garment
MARGIN = 0  # pixels around the garment: in Fashion-MNIST its longer side touches the frame


class PhotoError(Exception):
    """An image file cannot be read; the message names the file and what to do."""


def open_photo(path):
    """The image in `path`, at most WORKING_SIZE pixels a side, upright as its EXIF orientation says."""
    try:
        # Between Pillow's limit and twice it (89 to 179 megapixels: a big phone's
        # full-resolution photo) Pillow only warns; past it, it refuses (below).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            image.thumbnail((WORKING_SIZE, WORKING_SIZE), Image.LANCZOS)
            image.load()  # decode now: a truncated file fails here, not later
            return ImageOps.exif_transpose(image)
    except FileNotFoundError:
        raise PhotoError(f"no such file: {path}. Check the path.") from None
    except IsADirectoryError:
        raise PhotoError(f"{path} is a folder; pass the image files in it.") from None
    except PermissionError:
        raise PhotoError(f"cannot read {path}: permission denied. Check the file's permissions.") from None
    except UnidentifiedImageError:
        raise PhotoError(f"{path} is not an image that Pillow can read. "
                         "Pass a photo (JPEG, PNG, WebP, ...).") from None
    except Image.DecompressionBombError as error:
        raise PhotoError(f"{path} is too large to open safely ({error}). "
                         "Scale it down to a few thousand pixels a side first.") from None
    except OSError as error:  # truncated or damaged data
        raise PhotoError(f"{path} is damaged or truncated ({error}). Save or copy it again.") from None


def on_white(image):
    """The image laid on white where it is transparent, the background a product photo usually has.

    The colour stored under transparent pixels is arbitrary (often black or navy): both the
    models (to_grayscale) and the figures (predict.py) see the image on white instead.
    """
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    return image


def to_grayscale(image):
    """Brightness 0..255 as float32, from any mode: RGB(A), palette, 16-bit, CMYK, ...

    Transparent areas become white (on_white).
    """
    if image.mode == "LAB":  # Pillow cannot convert it, but its first band is the lightness
        return np.asarray(image.getchannel("L"), dtype=np.float32)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        return np.clip(values * (255.0 / top), 0, 255)
    return np.asarray(on_white(image).convert("L"), dtype=np.float32)


def border_pixels(gray):
    """The outer BORDER of each side, where a product photo shows only background, on a grid of about
    BORDER_SAMPLES pixels: their rows, columns and brightness (1-D arrays)."""
    height, width = gray.shape
    band = max(1, round(BORDER * min(height, width)))
    step = max(1, int(np.ceil(np.sqrt(2 * band * (height + width) / BORDER_SAMPLES))))  # both ways
    bands = [((0, band), (0, width)), ((height - band, height), (0, width)),  # top, bottom, left, right
             ((band, height - band), (0, band)), ((band, height - band), (width - band, width))]
    grids = [np.meshgrid(np.arange(*rows)[::step], np.arange(*cols)[::step], indexing="ij") for rows, cols in bands]
    rows, cols = (np.concatenate([grid[axis].ravel() for grid in grids]) for axis in (0, 1))
    return rows, cols, gray[rows, cols].astype(np.float64)


def border_level(gray):
    """The background's brightness: the median of the border's pixels."""
    return float(np.median(border_pixels(gray)[2]))


def background(gray):
    """The background's brightness at every pixel: a smooth surface fitted to the border's pixels.

    Light from one side makes one side of a table brighter than the other; a single level
    would leave the brighter side standing out as if it were garment. So the surface is a
    polynomial of x and y (BACKGROUND_DEGREE), fitted by least squares to the border, where
    a product photo shows only background, and fitted again without the pixels far from
    it (a garment that reaches the border, a shadow): three rounds, each keeping the pixels
    within 3 robust standard deviations (from the median absolute deviation) of the last.
    A border whose robust standard deviation is within FLAT gray levels is evenly lit: its
    median is the background everywhere (a float).
    """
    height, width = gray.shape
    rows, cols, values = border_pixels(gray)
    level = np.median(values)
    if 1.4826 * np.median(np.abs(values - level)) <= FLAT:
        return float(level)
    powers = [(i, j) for j in range(BACKGROUND_DEGREE + 1) for i in range(BACKGROUND_DEGREE + 1 - j)]  # x^i y^j
    x, y = across(cols, width), across(rows, height)
    design = np.stack([x ** i * y ** j for i, j in powers], axis=1)
    fitted = np.full_like(values, level)  # first, the border's level: the garment lies far from it
    for _ in range(3):
        residual = values - fitted
        spread = max(1.4826 * np.median(np.abs(residual)), FLAT)
        keep = np.abs(residual) <= 3 * spread
        kept = design[keep]
        gram = kept.T @ kept  # least squares, 6 unknowns; a whisker of ridge for a photo one pixel tall
        coefficients = np.linalg.solve(gram + 1e-9 * np.trace(gram) * np.eye(len(gram)), kept.T @ values[keep])
        fitted = design @ coefficients
    x, y = across(np.arange(width), width), across(np.arange(height), height)
    surface = np.zeros(gray.shape, np.float32)
    for j in range(BACKGROUND_DEGREE + 1):  # row by row: the x polynomial of each power of y, times that power
        along_x = sum(c * x ** i for c, (i, power) in zip(coefficients, powers) if power == j)
        surface += np.outer((y ** j).astype(np.float32), along_x.astype(np.float32))
    return surface


def across(positions, size):
    """Pixel positions as -1 to 1 from one edge to the other: the surface's coefficients stay of one size."""
    return 2 * np.asarray(positions, np.float64) / max(size - 1, 1) - 1


def garment_on_black(gray):
    """Light garment on a black background: the background's light, fitted across the photo, subtracted,
    the difference taken the other way round on a light background (the garment is its darker part)."""
    surface = background(gray)
    light = (surface if np.isscalar(surface) else border_level(gray)) > 127
    return np.clip(surface - gray if light else gray - surface, 0, None)


def crop_to_garment(garment):
    """The smallest box holding every pixel brighter than GARMENT_THRESHOLD of the brightest."""
    mask = garment > GARMENT_THRESHOLD * garment.max() if garment.max() > 0 else np.ones_like(garment, bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return garment[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]


def pad_to_square(garment, margin=MARGIN):
    """Centre the garment on a black square whose side is its longer side plus the margins."""
    height, width = garment.shape
    side = max(height, width) + 2 * margin
    top, left = (side - height) // 2, (side - width) // 2
    square = np.zeros((side, side), garment.dtype)
    square[top: top + height, left: left + width] = garment
    return square


def resize(gray, shape=IMAGE_SHAPE):
    """Resize with Lanczos antialiasing, so thin details blend in instead of vanishing.

    Lanczos rings slightly below 0 beside sharp edges; clipping keeps the background black.
    """
    image = Image.fromarray(np.asarray(gray, dtype=np.float32), mode="F")
    return np.clip(np.asarray(image.resize(shape[::-1], Image.LANCZOS), dtype=np.float32), 0, None)


def stretch_contrast(gray):
    """Darkest pixel to 0, brightest to 255, as uint8: the dtype and range the models take."""
    low, high = float(gray.min()), float(gray.max())
    scaled = (gray - low) * (255.0 / (high - low)) if high > low else np.zeros_like(gray)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def to_fashion_mnist(image):
    """A Pillow image of a garment -> a 28x28 uint8 image like Fashion-MNIST's."""
    return steps(image)[-1][1]


def steps(image):
    """Every stage of to_fashion_mnist in order, [(what was done, 2-D array 0..255)], to draw them."""
    gray = to_grayscale(image)
    garment = garment_on_black(gray)
    cropped = crop_to_garment(garment)
    square = pad_to_square(cropped)
    return [("grayscale", gray),
            ("background removed,\ngarment light on black", garment),
            ("cropped to the garment", cropped),
            ("padded to a square", square),
            ("28x28, contrast 0..255", stretch_contrast(resize(square)))]


def only_resized(image):
    """What --no-preprocess feeds the model: the grayscale photo squeezed to 28x28, nothing else."""
    return np.clip(np.rint(resize(to_grayscale(image))), 0, 255).astype(np.uint8)


# --- the other way: a Fashion-MNIST image made to look like a photo, to try the steps without one ---


def enlarged_garment(image):
    """A Fashion-MNIST image (uint8, 28 x 28) as a dark garment on white, ten times larger (PIL, grayscale)."""
    return Image.fromarray(255 - np.asarray(image, np.uint8)).resize((280, 280), Image.BICUBIC)


def as_product_photo(image):
    """A Fashion-MNIST image as a product photo: the enlarged garment on white, in RGB as photos come."""
    return enlarged_garment(image).convert("RGB")


def as_photo(image, path, rng):
    """A Fashion-MNIST image as a phone photo: a dark garment on a light, tinted background,
    ten times larger, off-centre on a bigger canvas, saved as an RGB JPEG.

    For the tests and the notebook, which need a photo and ship none. rng: a numpy Generator
    (where the garment lands).
    """
    save_tinted(on_canvas(enlarged_garment(image), rng), path)


# A side-lit photo: a grey table, and cloth on it at most this much darker than the table (cloth, not ink).
TABLE = 180
SHADE = 0.55


def as_side_lit_photo(image, path, rng, brighter=0.35):
    """A Fashion-MNIST image as a photo of cloth on a grey table lit from one side, saved as an RGB JPEG.

    Placed as as_photo places it, the garment at most SHADE darker than the table, and the light
    rising smoothly across the middle half of the photo, so that one side (left or right, as rng
    says) is `brighter` (35%) brighter than the other, the garment's half included.
    brighter=0 gives the same photo evenly lit.
    """
    ink = np.asarray(image, np.float32) / 255
    cloth = Image.fromarray(np.rint(255 * (1 - SHADE * ink)).astype(np.uint8)).resize((280, 280), Image.BICUBIC)
    table = np.asarray(on_canvas(cloth, rng), np.float32) * (TABLE / 255)
    rise = np.clip(np.linspace(-0.5, 1.5, table.shape[1]), 0, 1)  # 0 over the first quarter, 1 over the last
    light = 1 + brighter * rise * rise * (3 - 2 * rise)  # smoothly, from one level to the other
    if rng.random() < 0.5:
        light = light[::-1]
    save_tinted(Image.fromarray(np.clip(np.rint(table * light), 0, 255).astype(np.uint8)), path)


def on_canvas(garment, rng):
    """A garment's picture (PIL, grayscale, 280x280) off-centre on a white 520x420 canvas, where rng says."""
    canvas = Image.new("L", (520, 420), 255)
    canvas.paste(garment, (int(rng.integers(0, 240)), int(rng.integers(0, 140))))
    return canvas


def save_tinted(canvas, path):
    """A grayscale canvas saved as an RGB JPEG, tinted warm (blue dimmed most), as a phone photo comes."""
    Image.merge("RGB", [canvas.point(lambda v, f=f: int(v * f)) for f in (1.0, 0.97, 0.9)]).save(path, quality=90)
