"""Synthetic camera frames with real faces, for tests and benchmarks (no dataset images are committed).

Lives in tests/ (it needs scikit-image, a dev-only dependency); benchmarks import it too.
A FER2013 face (48x48) is upscaled and pasted onto a smooth, slightly noisy background, or a real
photo (scikit-image's astronaut, when installed) is letterboxed into the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from fer.vision.detect import Box


def background(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """A soft grey-blue gradient with sensor-like noise: textured, but nothing face-like."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 90 + 60 * (xx / width) + 30 * (yy / height)
    frame = np.stack([base + 20, base, base - 10], axis=2) + rng.normal(0, 4, (height, width, 3))
    return np.clip(frame, 0, 255).astype(np.uint8)


def paste_face(frame: np.ndarray, face: np.ndarray, x: int, y: int, side: int) -> Box:
    """Paste a grayscale face, upscaled to side x side, at (x, y); returns its box."""
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    frame[y:y + side, x:x + side] = big[:, :, None]
    return (x, y, side, side)


def face_frame(face: np.ndarray, side: int = 200, width: int = 640, height: int = 480, seed: int = 0,
               dx: int = 0, dy: int = 0) -> tuple[np.ndarray, Box]:
    """A width x height BGR frame with one face centred (shifted by dx, dy); returns (frame, true box)."""
    frame = background(width, height, seed)
    box = paste_face(frame, face, (width - side) // 2 + dx, (height - side) // 2 + dy, side)
    return frame, box


def confident_face(rec, faces: np.ndarray, side: int = 200, tries: int = 200) -> tuple[np.ndarray, object]:
    """(frame, Face): the first of `faces` (48x48 FER2013 images) that `rec` finds alone in a face_frame and
    reads with >= 80 % confidence."""
    for i, face in enumerate(faces[:tries]):
        frame, _ = face_frame(face, side=side, seed=i)
        found = rec.predict(frame)
        if len(found) == 1 and found[0].confidence >= 0.8:
            return frame, found[0]
    raise AssertionError(f"no confidently read face among {tries} images")


# The face in scikit-image's 512x512 astronaut photo (x, y, w, h), checked by eye on an annotated copy.
ASTRONAUT_FACE = (177, 67, 93, 93)


def astronaut_frame(width: int = 640, height: int = 480, dx: int = 0) -> tuple[np.ndarray, Box]:
    """scikit-image's astronaut photo (a real face, public domain) letterboxed into a BGR frame; (frame, face box)."""
    from skimage import data  # test/benchmark dependency only

    photo = data.astronaut()[:, :, ::-1]
    photo = cv2.resize(photo, (height, height), interpolation=cv2.INTER_AREA)
    frame = np.full((height, width, 3), 40, np.uint8)
    x = (width - height) // 2 + dx
    frame[:, x:x + height] = photo
    s = height / 512
    fx, fy, fw, fh = ASTRONAUT_FACE
    return frame, (round(x + fx * s), round(fy * s), round(fw * s), round(fh * s))
