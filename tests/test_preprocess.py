"""preprocess.py: each step on synthetic images with a known answer, and bad files."""

import warnings

import numpy as np
import pytest
from PIL import Image

from convlab import preprocess


def garment_on_white(size=(300, 400), box=(50, 150, 200, 260), shade=40):
    """A dark rectangle (rows 50-149, columns 200-259) on a white canvas, as an RGB photo."""
    gray = np.full(size, 255, np.uint8)
    top, bottom, left, right = box
    gray[top:bottom, left:right] = shade
    return Image.fromarray(gray).convert("RGB")


def rotate_90():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    return exif


def test_a_fashion_mnist_like_image_comes_out_unchanged():
    image = np.zeros((28, 28), np.uint8)
    image[:, 6:22] = 255  # a white garment spanning the full height, centred, on black
    np.testing.assert_array_equal(preprocess.to_fashion_mnist(Image.fromarray(image)), image)


def test_a_dark_garment_on_white_is_inverted():
    garment = preprocess.garment_on_black(preprocess.to_grayscale(garment_on_white()))
    assert garment[0, 0] == 0 and garment[100, 230] == 255 - 40 - 0  # background 0, garment bright


def test_a_light_garment_on_black_is_not_inverted():
    gray = np.zeros((50, 50), np.float32)
    gray[20:30, 20:30] = 200
    np.testing.assert_array_equal(preprocess.garment_on_black(gray), gray)


def test_a_grey_background_is_removed():
    gray = np.full((50, 50), 230, np.float32)
    gray[20:30, 20:30] = 30
    garment = preprocess.garment_on_black(gray)
    assert garment[0, 0] == 0 and garment[25, 25] == 200


def test_an_off_centre_garment_ends_up_centred_and_filling_the_frame():
    out = preprocess.to_fashion_mnist(garment_on_white())  # 100 tall, 60 wide, far right of the canvas
    rows, cols = np.flatnonzero(out.max(axis=1) > 128), np.flatnonzero(out.max(axis=0) > 128)
    assert (rows[0], rows[-1]) == (0, 27)  # the longer side spans the frame, as in Fashion-MNIST
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 0.5  # centred left-right
    assert 15 <= len(cols) <= 18  # 60/100 of 28 = 16.8 columns wide
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255


def test_crop_keeps_exactly_the_garment():
    garment = np.zeros((40, 40), np.float32)
    garment[5:15, 20:33] = 100
    garment[0, 0] = 5  # noise below the threshold is background
    assert preprocess.crop_to_garment(garment).shape == (10, 13)


def test_pad_to_square_centres():
    square = preprocess.pad_to_square(np.ones((10, 4), np.float32), margin=1)
    assert square.shape == (12, 12)
    np.testing.assert_array_equal(np.flatnonzero(square.max(axis=0)), [4, 5, 6, 7])
    np.testing.assert_array_equal(np.flatnonzero(square.max(axis=1)), range(1, 11))


def test_steps_are_the_pipeline_and_end_in_its_result():
    photo = garment_on_white()
    steps = preprocess.steps(photo)
    assert [image.shape for _, image in steps] == [(300, 400), (300, 400), (100, 60), (100, 100), (28, 28)]
    np.testing.assert_array_equal(steps[-1][1], preprocess.to_fashion_mnist(photo))


def test_stretch_contrast_spans_0_to_255():
    np.testing.assert_array_equal(preprocess.stretch_contrast(np.array([[10.0, 20.0], [30.0, 50.0]])),
                                  [[0, 64], [128, 255]])
    np.testing.assert_array_equal(preprocess.stretch_contrast(np.full((2, 2), 7.0)), np.zeros((2, 2)))


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "I;16", "CMYK", "LAB"])
def test_every_image_mode_converts_to_the_same_grayscale(mode):
    rgb = garment_on_white()
    if mode == "I;16":  # 16-bit: 255 -> 65535
        image = Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257)
    elif mode == "LAB":  # Pillow cannot convert RGB to LAB: build it from its lightness band
        neutral = Image.new("L", rgb.size, 128)
        image = Image.merge("LAB", [rgb.convert("L"), neutral, neutral])
    elif mode == "P":  # an adaptive palette holds both colours exactly
        image = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    else:
        image = rgb.convert(mode)
    assert image.mode == mode
    gray = preprocess.to_grayscale(image)
    assert gray.shape == (300, 400)
    assert abs(gray[0, 0] - 255) <= 1 and abs(gray[100, 230] - 40) <= 3


def test_transparency_counts_as_a_white_background():
    rgba = np.zeros((20, 20, 4), np.uint8)  # fully transparent black...
    rgba[5:15, 5:15] = (30, 30, 30, 255)  # ...around an opaque dark square
    gray = preprocess.to_grayscale(Image.fromarray(rgba, "RGBA"))
    assert gray[0, 0] == 255 and gray[10, 10] == 30


def test_exif_orientation_is_honoured(tmp_path):
    image = garment_on_white(size=(100, 200), box=(10, 30, 20, 180))  # a wide bar: 20 x 160
    image.save(tmp_path / "rotated.jpg", exif=rotate_90())
    opened = preprocess.open_photo(tmp_path / "rotated.jpg")
    assert opened.size == (100, 200)  # width, height: upright, as a viewer shows it


def test_a_big_photo_is_shrunk_and_still_turned_upright(tmp_path):
    garment_on_white(size=(1500, 3000), box=(100, 1400, 1000, 1200)).save(tmp_path / "big.jpg", exif=rotate_90())
    opened = preprocess.open_photo(tmp_path / "big.jpg")
    assert opened.size == (512, 1024)  # 3000 x 1500 shrunk to WORKING_SIZE (1024 x 512), then turned upright


def test_a_photo_past_pillows_warning_size_opens_quietly(tmp_path, monkeypatch):
    garment_on_white().save(tmp_path / "large.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # 120,000 pixels: warned about, not refused
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert preprocess.open_photo(tmp_path / "large.png").size == (400, 300)


def test_an_unreadable_file_says_so(tmp_path, monkeypatch):
    def refuse(path):  # the tests may run as root, whom chmod does not stop
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(preprocess.PhotoError) as error:
        preprocess.open_photo(tmp_path / "secret.jpg")
    assert str(error.value) == (f"cannot read {tmp_path / 'secret.jpg'}: permission denied. "
                                "Check the file's permissions.")


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file: {path}. Check the path."),
    ("text", "{path} is not an image that Pillow can read. Pass a photo (JPEG, PNG, WebP, ...)."),
    ("truncated", "{path} is damaged or truncated"),
    ("huge", "{path} is too large to open safely"),
])
def test_unreadable_files_give_one_clear_message(case, message, tmp_path, monkeypatch):
    path = tmp_path / f"{case}.png"
    if case == "text":
        path.write_text("not an image")
    elif case in ("truncated", "huge"):
        garment_on_white().save(path)
        if case == "truncated":
            path.write_bytes(path.read_bytes()[:300])
        else:
            monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 120,000 pixels: over twice the limit
    with pytest.raises(preprocess.PhotoError) as error:
        preprocess.open_photo(path)
    assert str(error.value).startswith(message.format(path=path))


@pytest.mark.parametrize("index", range(6))
def test_a_side_lit_photo_is_cropped_to_the_garment_as_its_evenly_lit_twin(index, fashion_mnist, tmp_path):
    """One side of the table 35% brighter than the other: the background is flattened before the crop,
    so the crop holds the garment (280 pixels at most), not the whole 520x420 photo."""
    image = fashion_mnist[1][0][index]
    for name, brighter in (("lit.jpg", 0.35), ("even.jpg", 0.0)):  # the same rng: the garment in the same place
        preprocess.as_side_lit_photo(image, tmp_path / name, np.random.default_rng(index), brighter=brighter)
    lit, even = (preprocess.steps(preprocess.open_photo(tmp_path / name)) for name in ("lit.jpg", "even.jpg"))
    gray = lit[0][1]
    assert gray[:, :20].mean() * 1.25 < gray[:, -20:].mean() or gray[:, -20:].mean() * 1.25 < gray[:, :20].mean()
    assert max(lit[2][1].shape) <= 290 and max(even[2][1].shape) <= 290  # the garment's picture is 280 square
    assert np.abs(np.subtract(lit[2][1].shape, even[2][1].shape)).max() <= 8  # measured: 0 to 5 pixels


def test_the_background_surface_is_fitted_around_a_garment_that_reaches_the_border():
    """A linear light, 150 to 210 across, with a dark garment covering a third of the top border: the fitted
    background is the light itself, to within a gray level."""
    light = np.tile(np.linspace(150, 210, 400, dtype=np.float32), (300, 1))
    gray = light.copy()
    gray[:200, 100:250] = 40  # from the top edge down
    np.testing.assert_allclose(preprocess.background(gray), light, atol=1.0)
    garment = preprocess.garment_on_black(gray)
    assert garment[:200, 100:250].min() > 100 and garment[250:].max() <= 1.0


@pytest.mark.parametrize("shape", [(1, 50), (50, 1), (3, 3), (1, 1), (5, 400)])
def test_a_photo_of_a_few_pixels_or_one_pixel_tall_is_preprocessed(shape):
    """Too little border for a surface of 6 coefficients: no error, a 28x28 image all the same."""
    gray = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = preprocess.to_fashion_mnist(Image.fromarray(gray))
    assert out.shape == (28, 28) and out.dtype == np.uint8
