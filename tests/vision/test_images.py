"""load_image: every format and oddity a user's photo can have, and every way a file can be bad."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from fer import load_image
from fer.vision.images import MAX_PIXELS, MAX_SIDE


def _rgb(w=64, h=48):
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = 200  # red
    a[:, : w // 2, 2] = 100  # left half also some blue
    return Image.fromarray(a, "RGB")


def _save(img, fmt, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_common_formats_decode_to_bgr(fmt):
    out = load_image(_save(_rgb(), fmt))
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    b, g, r = out[10, 50].astype(int)
    assert r > 150 and r > b and r > g  # red stays red: channels are in BGR order


def test_path_bytes_and_file_object(tmp_path):
    data = _save(_rgb(), "PNG")
    (tmp_path / "x.png").write_bytes(data)
    for source in (tmp_path / "x.png", str(tmp_path / "x.png"), data, io.BytesIO(data)):
        assert load_image(source).shape == (48, 64, 3)


def test_gif_first_frame():
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert load_image(buf.getvalue())[20, 20, 2] > 200  # red channel of the first frame


def test_grayscale_palette_rgba_16bit_cmyk():
    gray = load_image(_save(Image.new("L", (30, 30), 77), "PNG"))
    assert gray.shape == (30, 30, 3) and (gray == 77).all()
    pal = load_image(_save(_rgb().convert("P"), "PNG"))
    assert pal.shape == (48, 64, 3)
    rgba = Image.new("RGBA", (30, 30), (255, 0, 0, 0))  # fully transparent -> white background
    assert (load_image(_save(rgba, "PNG")) == 255).all()
    sixteen = Image.fromarray(np.full((30, 30), 65535 // 2, np.uint16))
    out = load_image(_save(sixteen, "PNG"))
    assert abs(int(out[0, 0, 0]) - 128) <= 1
    cmyk = load_image(_save(_rgb().convert("CMYK"), "JPEG"))
    assert cmyk.shape == (48, 64, 3) and cmyk[10, 50, 2] > 150


def test_exif_orientation_is_applied():
    img = _rgb(64, 48)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    out = load_image(_save(img, "JPEG", exif=exif.tobytes()))
    assert out.shape == (64, 48, 3)


@pytest.mark.parametrize("data,message", [
    (b"", "The file is empty."),
    (b"hello, I am a text file" * 10, "not an image"),
    (b"%PDF-1.4 not really", "not an image"),
])
def test_refusals_are_one_clear_sentence(data, message):
    with pytest.raises(ValueError, match=message) as e:
        load_image(data)
    assert "\n" not in str(e.value) and len(str(e.value)) < 120


def test_truncated_image():
    data = _save(Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)), "PNG")
    with pytest.raises(ValueError, match=r"^The image file is damaged or cut short: try another copy of the photo\.$"):
        load_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_without_decoding():
    side = int(MAX_PIXELS ** 0.5) + 100
    data = _save(Image.new("1", (side, side)), "PNG")  # a few KB on disk, 40+ MP decoded
    assert len(data) < 200_000
    with pytest.raises(ValueError, match="too large"):
        load_image(data)


def test_absurd_aspect_ratio():
    with pytest.raises(ValueError, match="too narrow"):
        load_image(_save(Image.new("RGB", (3000, 20)), "PNG"))


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_folder_instead_of_a_file(tmp_path):
    with pytest.raises(ValueError, match="is a folder, not an image file"):
        load_image(tmp_path)


def test_a_large_photo_is_decoded_at_reduced_size():
    """The detector never looks past 960 px: a 30 MP JPEG comes back at MAX_SIDE, aspect kept."""
    big = cv2.resize(np.random.default_rng(0).integers(0, 255, (30, 45, 3), dtype=np.uint8), (6750, 4500))
    data = cv2.imencode(".jpg", big)[1].tobytes()
    assert load_image(data).shape == (MAX_SIDE * 2 // 3, MAX_SIDE, 3)
    assert load_image(data, max_side=None).shape == (4500, 6750, 3)
