"""Images of no garment, generated and seeded, and the four examples docs/predict.md shows: what
benchmarks/predict_unsure.py measures the (unsure) rule on.

Each kind is a function (rng) -> a Pillow RGB image, 640x480 or smaller. The kinds that
choose the rule (TUNING): linear and radial colour gradients, noise, smooth noise
(blobs), shapes, stripes and checkerboards. The kinds held out, only reported
(HELD_OUT): text, crops of the photos matplotlib ships (a portrait, a gift box, terrain,
a brain scan), dark shoe silhouettes on white, drawn cats, drawn mugs, drawn outdoor
scenes, and test garments rotated 30 to 150 degrees (rotated()). numpy, Pillow and
matplotlib's sample data only.
"""

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SAMPLE_PHOTOS = ["grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "jacksboro_fault_dem.npz", "s1045.ima.gz"]
WORDS = ["hello", "Fashion", "MNIST", "42", "convolution", "sale -50%", "OK", "Keras", "pooling", "A"]


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
TEST_TROUSER = 2  # test image 2 is a trouser


def examples(x_test, rng):
    """Four pictures a learner might try, generated: {file name: 640x480 RGB image}."""
    return {"shoe_silhouette.png": sneaker_silhouette(rng), "rotated_trouser.png": rotated(x_test[TEST_TROUSER], 60),
            "cat.png": cat(rng), "mug.png": mug(rng)}
