"""The one path from an image to emotions: detect faces, crop, classify all of them in one forward pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer.classifier import Classifier, load_classifier
from fer.detect import Box, FaceDetector, StreamTracker, crop_face
from fer.emotions import EMOTIONS

# Square crop side = Haar box side * (1 + CROP_MARGIN). On PublicTest faces pasted into frames the Haar box
# matches FER2013's own framing (median side ratio 1.006, centred), and margin 0 scored best
# (benchmarks/pipeline_accuracy.py; chosen on PublicTest, never PrivateTest).
CROP_MARGIN = 0.0


@dataclass(frozen=True)
class Face:
    box: Box  # x, y, w, h in image coordinates
    emotion: str
    confidence: float
    probs: dict[str, float]


def faces_from_probs(boxes: list[Box], probs: np.ndarray) -> list[Face]:
    out = []
    for box, p in zip(boxes, probs):
        i = int(np.argmax(p))
        out.append(Face(tuple(int(v) for v in box), EMOTIONS[i], float(p[i]),
                        {c: float(v) for c, v in zip(EMOTIONS, p)}))
    return out


class EmotionRecognizer:
    """Faces and their emotions in an image. Thread-safe: one recogniser serves every viewer of a server (its
    detector and classifier lend each thread its own OpenCV objects, see fer/pool.py); a `StreamTracker` is
    the per-stream state, one per viewer."""

    def __init__(self, classifier: Classifier, detector: FaceDetector | None = None, margin: float = CROP_MARGIN):
        self.classifier = classifier
        self.detector = detector or FaceDetector()
        self.margin = margin

    @classmethod
    def load(cls, path: str | Path | None = None) -> EmotionRecognizer:
        """The shipped default model, or a checkpoint written by `python -m fer.train` (see `load_classifier`)."""
        return cls(load_classifier(path))

    def classify(self, crops: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """(N, 7) probabilities for face crops of any size (grayscale, or BGR converted here)."""
        faces = [_gray(c) for c in crops]
        batch = np.stack([c if c.shape == (48, 48) else
                          cv2.resize(c, (48, 48), interpolation=cv2.INTER_AREA if c.shape[0] > 48 else cv2.INTER_LINEAR)
                          for c in faces]) if faces else np.zeros((0, 48, 48), np.uint8)
        return self.classifier.predict(batch)

    def predict(self, image: np.ndarray, tracker: StreamTracker | None = None) -> list[Face]:
        """Faces in an H×W×3 BGR or H×W gray uint8 image, largest first; [] when there is none.

        Pass a `StreamTracker` (one per video stream) to search near the last faces: much faster on video.
        """
        gray, boxes = self.detect(image, tracker)
        return self.classify_boxes(gray, boxes)

    def detect(self, image: np.ndarray, tracker: StreamTracker | None = None) -> tuple[np.ndarray, list[Box]]:
        """(grey image, face boxes largest first): the first half of `predict`."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError("Expected an H×W×3 BGR or H×W grayscale uint8 image.")
        gray = _gray(image)
        return gray, self.detector.detect(gray, tracker)

    def classify_boxes(self, gray: np.ndarray, boxes: list[Box]) -> list[Face]:
        """The second half of `predict`: crop each box and classify all of them in one pass."""
        if not boxes:
            return []
        crops = np.stack([crop_face(gray, b, self.margin) for b in boxes])
        return faces_from_probs(boxes, self.classifier.predict(crops))


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if image.shape[2] == 1:
        return image[:, :, 0]
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
