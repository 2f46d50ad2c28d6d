"""Robust image loading: any common photo in, an H×W×3 BGR uint8 array out, or one clear ValueError."""

from __future__ import annotations

import io
import struct
import threading
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # 40 MP: bigger is a decompression bomb or not a photo of a person
MAX_ASPECT = 20  # a 20:1 strip holds no face worth finding
MAX_UPLOAD_MB = 25  # also .streamlit/config.toml's maxUploadSize
# Photos are decoded no larger than this: twice the detector's 960-px photo pass, so small faces keep their
# detail. A JPEG is decoded at reduced size by its own DCT scaling (a 38 MP photo: ~30 MB, not ~400 MB).
MAX_SIDE = 1920
# NOTE: one server decodes for every visitor; two at a time bound the memory that simultaneous uploads take.
_DECODES = threading.BoundedSemaphore(2)


def load_image(source: str | Path | bytes | BinaryIO, max_side: int | None = MAX_SIDE) -> np.ndarray:
    """Decode a path, bytes or file-like object into an H×W×3 BGR uint8 array (OpenCV order).

    Handles JPEG/PNG/WebP/BMP/TIFF/GIF (first frame), grayscale, alpha (flattened on white),
    palette, 16-bit, CMYK and EXIF orientation. Raises ValueError with one short sentence otherwise.
    A photo longer than `max_side` is scaled down to it (None: full size).
    """
    data = _read_bytes(source)
    with _DECODES:
        return _decode(data, max_side)


def _decode(data: bytes, max_side: int | None) -> np.ndarray:
    if not data:
        raise ValueError("The file is empty.")
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise ValueError(f"The file is larger than {MAX_UPLOAD_MB} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ValueError(f"The image is too large ({w}×{h}); "
                                 f"the limit is {MAX_PIXELS // 1_000_000} megapixels.")
            if min(w, h) < 1 or max(w, h) / min(w, h) > MAX_ASPECT:
                raise ValueError(f"The image shape {w}×{h} is too narrow to hold a face.")
            img.seek(0)  # first frame of a GIF / multi-page TIFF
            if max_side and max(w, h) > max_side:
                scale = max_side / max(w, h)
                img.draft(img.mode, (round(w * scale), round(h * scale)))  # JPEG: decode at 1/2, 1/4 or 1/8
                img.thumbnail((max_side, max_side))
            img.load()
            img = ImageOps.exif_transpose(img)
    except UnidentifiedImageError:
        raise ValueError("This file is not an image (or not a format we can read).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"The image is too large; the limit is {MAX_PIXELS // 1_000_000} megapixels.") from None
    except (OSError, SyntaxError, EOFError, struct.error):
        # The library's own words ("16 bytes not processed") mean nothing to the person who uploaded it.
        raise ValueError("The image file is damaged or cut short: try another copy of the photo.") from None
    return _to_bgr(img)


def _read_bytes(source: str | Path | bytes | BinaryIO) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            raise ValueError(f"{path}: is a folder, not an image file.")
        if not path.is_file():
            raise ValueError(f"{path}: no such file.")
        if path.stat().st_size > MAX_UPLOAD_MB * 1024 * 1024:
            raise ValueError(f"The file is larger than {MAX_UPLOAD_MB} MB.")
        try:
            return path.read_bytes()
        except OSError as e:
            raise ValueError(f"{path}: cannot be read ({e.strerror or type(e).__name__}).") from None
    if hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        return source.read(MAX_UPLOAD_MB * 1024 * 1024 + 1)
    raise ValueError(f"Cannot read an image from a {type(source).__name__}.")


def _to_bgr(img: Image.Image) -> np.ndarray:
    """Any PIL mode -> BGR uint8."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        img = Image.fromarray(np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    rgb = np.asarray(img.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])
