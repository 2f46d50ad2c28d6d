"""Face detection: YuNet (a small CNN run by OpenCV, with eye landmarks) or the paper's Haar cascade.

Both look at a grey copy whose longer side is at most `photo_side` for a photo (a 4000 px photo gains
nothing from a full-resolution pass but seconds) or `stream_side` for a video frame. Haar on a stream:
a `StreamTracker` remembers the last boxes; the next frame is searched only around them at a face-sized
scale, with a full pass every `redetect_every` frames or when a face is lost. YuNet needs no tracking:
one pass over a 320 px frame costs a few milliseconds (benchmarks/detectors.py).

`make_detector` picks one; each is optional, so an OpenCV without Haar (5.x ships no cascades) or without
`FaceDetectorYN` (before 4.8) still runs with the other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from fer.files import ROOT
from fer.server.pool import Pool

Box = tuple[int, int, int, int]  # x, y, w, h in image pixels
Eyes = tuple[float, float, float, float]  # x, y of the eye on the image's left, then of the one on its right

CASCADE = "haarcascade_frontalface_default.xml"
# YuNet 2023mar from the OpenCV Zoo (MIT licence beside it; SHA-256 in the model card).
YUNET = ROOT / "models" / "face_detection_yunet_2023mar.onnx"
DETECTORS = ("yunet", "haar")
# Chosen by `python -m benchmarks.detectors` (recall on tilted, dark, small and half-hidden faces, and
# per-frame cost; see the model card).
DEFAULT_DETECTOR = "yunet"


@dataclass(frozen=True)
class Found:
    """A face the detector found: its box and, when the detector gives them (YuNet), its eyes."""

    box: Box
    eyes: Eyes | None = None


@dataclass
class StreamTracker:
    """Per-stream detection state (one per webcam session; never shared between users)."""

    redetect_every: int = 10
    boxes: list[Box] = field(default_factory=list)
    frames_since_full: int = 0


def haar_available() -> bool:
    """This OpenCV has `CascadeClassifier` and its frontal-face cascade (OpenCV 5 wheels have neither)."""
    data = getattr(cv2, "data", None)
    return hasattr(cv2, "CascadeClassifier") and data is not None and \
        os.path.isfile(os.path.join(getattr(data, "haarcascades", ""), CASCADE))


def yunet_available() -> bool:
    """This OpenCV has `FaceDetectorYN` (4.8 and later) and the model file is here."""
    return hasattr(cv2, "FaceDetectorYN") and YUNET.is_file()


def make_detector(name: str | None = None) -> HaarDetector | YuNetDetector:
    """The named detector ("yunet" or "haar"; None: the default), or the other when this OpenCV lacks it."""
    name = name or DEFAULT_DETECTOR
    if name not in DETECTORS:
        raise ValueError(f"Unknown face detector {name!r}: use one of {', '.join(DETECTORS)}.")
    usable = {"yunet": yunet_available(), "haar": haar_available()}
    if not usable[name]:
        other = next(d for d in DETECTORS if d != name)
        if not usable[other]:
            raise RuntimeError("This OpenCV has no usable face detector: install opencv-python-headless>=4.10.")
        name = other
    return YuNetDetector() if name == "yunet" else HaarDetector()


def _load_cascade() -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + CASCADE
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not load {path}; install opencv-python-headless>=4.10,<5.")
    return cascade


def _downscaled(gray: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, side / max(gray.shape))
    small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return small, scale


class YuNetDetector:
    """YuNet through `cv2.FaceDetectorYN`. Thread-safe: each call borrows its own detector (fer/server/pool.py)."""

    name = "yunet"

    def __init__(self, score: float = 0.6, stream_side: int = 320, photo_side: int = 960, model: str = str(YUNET)):
        # 0.6, not the Zoo demo's 0.9: on benchmarks/detectors.py's faces (`--scores`) 0.9 finds 26.5 % (mean of
        # the six conditions), 0.8 62.2 %, 0.6 72.2 %, 0.5 75.6 %, with no false face at any of them on 104
        # face-free frames; 0.6 keeps a margin against clutter that small face-free set lacks.
        self.score = score
        self.stream_side = stream_side
        self.photo_side = photo_side
        self.model = model
        self.pool = Pool(self._load)
        self.pool.prime()

    def _load(self) -> cv2.FaceDetectorYN:
        return cv2.FaceDetectorYN.create(self.model, "", (320, 320), self.score, 0.3, 50)

    def find(self, gray: np.ndarray, tracker: StreamTracker | None = None) -> list[Found]:
        """Faces in `gray`'s coordinates, largest first. A tracker is accepted for the same calls as Haar's."""
        small, scale = _downscaled(gray, self.photo_side if tracker is None else self.stream_side)
        with self.pool.borrow() as net:
            net.setInputSize((small.shape[1], small.shape[0]))
            _, rows = net.detect(cv2.cvtColor(small, cv2.COLOR_GRAY2BGR))
        rows = np.zeros((0, 15), np.float32) if rows is None else rows
        # NOTE: YuNet has once (in a full test run, not reproduced alone) given a row of infinities for a
        # 10x10 blank image: a row that is not a finite box of positive size is no face.
        rows = rows[np.isfinite(rows[:, :14]).all(axis=1) & (rows[:, 2] > 0) & (rows[:, 3] > 0)]
        found = [Found(tuple(int(round(v / scale)) for v in r[:4]), tuple(float(v / scale) for v in r[4:8]))
                 for r in rows]
        found = sorted(found, key=lambda f: f.box[2] * f.box[3], reverse=True)
        if tracker is not None:
            tracker.boxes = [f.box for f in found]
        return found


class HaarDetector:
    """Thread-safe: each call borrows its own cascade (fer/server/pool.py); per-stream state is a StreamTracker's."""

    name = "haar"

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 6, min_face: int = 24,
                 stream_side: int = 320, photo_side: int = 960):
        self.pool = Pool(_load_cascade)
        self.pool.prime()
        self.scale_factor = scale_factor
        # 6, not OpenCV's usual 3-5: on test video a suit fold passed at 5 and, being larger, outranked the
        # real face; 6 removed it for 1-3 points of recall on tightly cropped FER2013 faces.
        self.min_neighbors = min_neighbors
        self.min_face = min_face  # pixels, in the downscaled detection image
        self.stream_side = stream_side
        self.photo_side = photo_side

    def find(self, gray: np.ndarray, tracker: StreamTracker | None = None) -> list[Found]:
        """Faces in `gray`'s coordinates, largest first (boxes only: Haar gives no landmarks)."""
        return [Found(b) for b in self._boxes(gray, tracker)]

    def _boxes(self, gray: np.ndarray, tracker: StreamTracker | None) -> list[Box]:
        if tracker is None:
            return _largest_first(self._full(gray, self.photo_side))
        boxes: list[Box] = []
        if tracker.boxes and tracker.frames_since_full < tracker.redetect_every:
            boxes = [b for prev in tracker.boxes for b in self._near(gray, prev)]
        if len(boxes) < len(tracker.boxes) or not boxes:  # lost one, or nothing to follow: look everywhere
            boxes = self._full(gray, self.stream_side)
            tracker.frames_since_full = 0
        else:
            tracker.frames_since_full += 1
        tracker.boxes = _largest_first(_dedupe(boxes))
        return list(tracker.boxes)

    def _full(self, gray: np.ndarray, side: int) -> list[Box]:
        small, scale = _downscaled(gray, side)
        with self.pool.borrow() as cascade:
            found = cascade.detectMultiScale(cv2.equalizeHist(small), self.scale_factor, self.min_neighbors,
                                             minSize=(self.min_face, self.min_face))
        return [tuple(int(round(v / scale)) for v in b) for b in found]

    def _near(self, gray: np.ndarray, prev: Box) -> list[Box]:
        """Search a window of 2x the last box for sizes 0.7x-1.4x of it.

        Same downscale (so the same pyramid of window sizes) as the full stream pass: boxes from either
        pass frame the face alike, so the crops the classifier sees do not jump between frames.
        """
        x, y, w, h = prev
        x0, y0 = max(0, x - w // 2), max(0, y - h // 2)
        x1, y1 = min(gray.shape[1], x + w + w // 2), min(gray.shape[0], y + h + h // 2)
        roi = gray[y0:y1, x0:x1]
        scale = min(1.0, self.stream_side / max(gray.shape))
        lo, hi = max(self.min_face, int(0.7 * w * scale)), int(1.4 * w * scale) + 1
        if roi.size == 0 or hi <= self.min_face:
            return []
        small = roi if scale == 1.0 else cv2.resize(roi, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        with self.pool.borrow() as cascade:
            found = cascade.detectMultiScale(cv2.equalizeHist(small), self.scale_factor, self.min_neighbors,
                                             minSize=(lo, lo), maxSize=(hi, hi))
        return [(int(round(x0 + bx / scale)), int(round(y0 + by / scale)), int(round(bw / scale)),
                 int(round(bh / scale))) for bx, by, bw, bh in found]


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


def _dedupe(boxes: list[Box], threshold: float = 0.3) -> list[Box]:
    kept: list[Box] = []
    for b in _largest_first(boxes):
        if all(iou(b, k) < threshold for k in kept):
            kept.append(b)
    return kept


def _largest_first(boxes: list[Box]) -> list[Box]:
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def square(box: Box, margin: float) -> tuple[int, int, int]:
    """(x0, y0, side) of the square a box crop reads: centred on the box, side = max(w, h) * (1 + margin)."""
    x, y, w, h = box
    side = int(round(max(w, h) * (1 + margin)))
    return int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2)), side


def crop_face(gray: np.ndarray, box: Box, margin: float, size: int = 48) -> np.ndarray:
    """The `square` crop of a box, edges replicated, resized to size."""
    x0, y0, side = square(box, margin)
    pad = max(0, -x0, -y0, x0 + side - gray.shape[1], y0 + side - gray.shape[0])
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    crop = gray[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)
