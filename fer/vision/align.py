"""Face alignment: rotate and scale a face so its eyes sit level at FER2013's own eye points.

The classifier learnt FER2013's 48x48 crops, whose eyes sit at roughly the same place in every image
(the dataset was registered, loosely). A detector's box frames a face its own way and a tilted head
tilts the crop; with the eyes from YuNet the crop is the similarity transform that puts them where
FER2013's are, so every face reaches the classifier framed like the faces it learnt. Faces without eye
points (the Haar detector gives none) keep the plain square box crop.

The same step aligns FER2013 itself for training and evaluation (`eyes_48`, `align_48`): its eyes are
found by YuNet on a padded, upscaled copy of each 48x48 image.
"""

from __future__ import annotations

import cv2
import numpy as np

from fer.vision.detect import Eyes, Found, YuNetDetector, crop_face, square

# The median eye points of FER2013 Training in its 48x48 crops (left eye x, y, right eye x, y), found by
# YuNet as `eyes_48` does: `python -m benchmarks.alignment --fit` (eyes in 97.6 % of its 28,709 faces;
# interquartile ranges ~3 px, so FER2013's own registration is loose by about that much).
EYES_AT: Eyes = (14.1, 18.9, 33.0, 19.0)
MIN_EYE_GAP = 4.0  # pixels: eye points closer than this are a detector's mistake, not a face


def align_matrix(eyes: Eyes, size: int = 48) -> np.ndarray | None:
    """The 2x3 similarity transform taking these eyes to EYES_AT (scaled to `size`); None if they are degenerate."""
    src = np.array([[eyes[0], eyes[1]], [eyes[2], eyes[3]]], np.float64)
    dst = np.array([[EYES_AT[0], EYES_AT[1]], [EYES_AT[2], EYES_AT[3]]], np.float64) * (size / 48)
    (sv,), (dv,) = np.diff(src, axis=0), np.diff(dst, axis=0)
    if not np.all(np.isfinite(src)) or np.hypot(*sv) < MIN_EYE_GAP * size / 48 or sv[0] <= 0:
        return None
    # The rotation and scale that turn the eye-to-eye vector sv into dv, then the translation that
    # takes the midpoint of the eyes to the midpoint of the target points.
    s = np.hypot(*dv) / np.hypot(*sv)
    angle = np.arctan2(dv[1], dv[0]) - np.arctan2(sv[1], sv[0])
    rot = s * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = dst.mean(0) - rot @ src.mean(0)
    return np.hstack([rot, shift[:, None]])


def aligned_crop(gray: np.ndarray, eyes: Eyes, size: int = 48) -> np.ndarray | None:
    """size x size crop with the eyes at EYES_AT; None when the eye points are degenerate."""
    m = align_matrix(eyes, size)
    if m is None:
        return None
    scale = np.sqrt(abs(np.linalg.det(m[:, :2])))
    if scale < 0.5:  # a big face: shrink it first with area averaging (warpAffine alone would alias)
        pre = 2 * scale
        gray = cv2.resize(gray, None, fx=pre, fy=pre, interpolation=cv2.INTER_AREA)
        m = m.copy()
        m[:, :2] /= pre
    return cv2.warpAffine(gray, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def face_crop(gray: np.ndarray, face: Found, margin: float, align: bool, size: int = 48) -> np.ndarray:
    """What the classifier reads for a face: with `align` (a model trained on aligned faces) and its eyes
    known, the aligned crop; else the square box crop.

    `face` is anything with `box` and `eyes` (a detector's `Found`, a recogniser's `Face`).
    """
    crop = aligned_crop(gray, face.eyes, size) if align and face.eyes is not None else None
    return crop if crop is not None else crop_face(gray, face.box, margin, size)


def crop_matrix(face: Found, margin: float, align: bool, size: int = 48) -> np.ndarray:
    """The 2x3 transform from image pixels to `face_crop`'s pixels (to draw on the face what its crop shows)."""
    m = align_matrix(face.eyes, size) if align and face.eyes is not None else None
    if m is not None:
        return m
    x0, y0, side = square(face.box, margin)
    s = size / side
    return np.array([[s, 0, -s * x0], [0, s, -s * y0]], np.float64)


# FER2013 faces fill their 48x48 image; YuNet finds them once there is background around and the face is
# larger than its smallest anchors: pad 24 px on each side, then upscale 3x (eyes in 97.4 % of PublicTest,
# `python -m benchmarks.alignment`; 12 px / 2x found 94 % of its first 600 in a throw-away probe).
_PAD, _UP = 24, 3


def eyes_48(images: np.ndarray, detector: YuNetDetector | None = None) -> np.ndarray:
    """(N, 4) eye points of 48x48 face images in their own pixels, NaN where YuNet finds no face."""
    detector = detector or YuNetDetector(score=0.5)  # there is a face in every image: take a weak one too
    side = (48 + 2 * _PAD) * _UP
    out = np.full((len(images), 4), np.nan, np.float32)
    for i, im in enumerate(images):
        big = cv2.resize(cv2.copyMakeBorder(im, _PAD, _PAD, _PAD, _PAD, cv2.BORDER_CONSTANT, value=128),
                         (side, side), interpolation=cv2.INTER_LINEAR)
        found = detector.find(big)
        if found and found[0].eyes is not None:
            out[i] = np.array(found[0].eyes) / _UP - _PAD
    return out


def align_48(images: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """48x48 images aligned by their eye points (`eyes_48`); an image without usable eyes is kept as it is."""
    out = images.copy()
    for i, (im, e) in enumerate(zip(images, eyes)):
        if np.all(np.isfinite(e)):
            crop = aligned_crop(im, tuple(float(v) for v in e))
            if crop is not None:
                out[i] = crop
    return out


def wants_aligned(info: dict) -> bool:
    """Whether a model was trained on aligned faces, from its `reading_info` (a classifier's `info`)."""
    return bool(info.get("aligned"))
