"""The one path from an image to emotions: detect faces, crop, classify all of them in one forward pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer.emotions import EMOTIONS
from fer.vision.align import face_crop, wants_aligned
from fer.vision.classifier import Classifier, load_classifier
from fer.vision.detect import Box, Eyes, Found, HaarDetector, StreamTracker, YuNetDetector, make_detector
from fer.vision.mood import as_vector
from fer.vision.personal import answer_bias

# Square crop side = box side * (1 + CROP_MARGIN), for faces without eye points (the Haar detector's; YuNet's
# faces are aligned by their eyes, fer/vision/align.py). On PublicTest faces pasted into frames the Haar box
# matches FER2013's own framing (median side ratio 1.006, centred), and margin 0 scored best
# (benchmarks/pipeline_accuracy.py; chosen on PublicTest, never PrivateTest).
CROP_MARGIN = 0.0
# Resting-face correction (`EmotionRecognizer.calibrated`): no class is damped or boosted more than 3-fold, so
# one odd calibration picture cannot silence an emotion.
MAX_SHIFT = float(np.log(3.0))
# How much of a calibration to trust. 1.0 since 2026-12-06, chosen on real people (the model card's "Real
# faces"; `python -m benchmarks.real_faces --london ...`): calibrated on their neutral photo, 102 people's smiles
# read right +5.4 points (0.5: +1.0), no one worse. On PublicTest (benchmarks/resting_face.py), where one
# person's calibration is applied to everyone else's faces, the full shift costs more than half of it would.
RESTING_WEIGHT = 1.0
MAX_FACES = 12  # faces a photo is read for, largest first: a crowd photo costs what 12 faces do


@dataclass(frozen=True)
class Face:
    box: Box  # x, y, w, h in image coordinates
    emotion: str
    confidence: float
    probs: dict[str, float]
    eyes: Eyes | None = None  # the eye points the crop was aligned by (None: a box crop)


def faces_from_probs(found: list[Found], probs: np.ndarray) -> list[Face]:
    out = []
    for f, p in zip(found, probs):
        i = int(np.argmax(p))
        out.append(Face(tuple(int(v) for v in f.box), EMOTIONS[i], float(p[i]),
                        {c: float(v) for c, v in zip(EMOTIONS, p)}, f.eyes))
    return out


class EmotionRecognizer:
    """Faces and their emotions in an image. Thread-safe: one recogniser serves every viewer of a server (its
    detector and classifier lend each thread its own OpenCV objects, see fer/server/pool.py); a `StreamTracker` is
    the per-stream state, one per viewer."""

    def __init__(self, classifier: Classifier, detector: HaarDetector | YuNetDetector | None = None,
                 margin: float = CROP_MARGIN, resting: np.ndarray | None = None,
                 taught: Sequence[tuple[np.ndarray, str]] = (), resting_weight: float = RESTING_WEIGHT):
        self.classifier = classifier
        self.detector = detector or make_detector()
        self.align = wants_aligned(classifier.info)  # crops aligned by the eyes only for a model trained so
        self.margin = margin
        self.resting = None if resting is None else np.asarray(resting, np.float64)  # a person's neutral reading
        self._shift = None if resting is None else resting_weight * self._resting_shift(self.resting)
        # The answers' bias is fitted to the readings as this person sees them: after the resting-face correction.
        bias = answer_bias([(self.correct(np.asarray(p, np.float64)[None])[0], e) for p, e in taught])
        if bias is not None:
            self._shift = (0 if self._shift is None else self._shift) - bias

    @property
    def not_sure_below(self) -> float | None:
        """Readings less confident than this are "not sure" (fitted on PublicTest; None for an uncalibrated model)."""
        return self.classifier.info.get("uncertain_below")

    @property
    def can_calibrate(self) -> bool:
        """Whether a resting face can correct this model's readings: only with its neutral reference (the average
        neutral face's reading, written by `python -m fer.calibrate`)."""
        return self.classifier.info.get("neutral_reference") is not None

    def calibrated(self, neutral_images: list[np.ndarray]) -> EmotionRecognizer:
        """This recogniser corrected for one person's resting face, from whole images of it (BGR, as `predict`).

        Principle: on the population's average neutral face the model outputs n (stored with the model, from
        FER2013 Training's neutral faces); on this person's relaxed face it outputs r. log(r / n) is what this
        face adds to every reading, so later readings are divided by r / n (at most 3-fold per class) and
        renormalised. For a person whose resting face reads like the average, r = n: nothing changes.
        `calibrated([])` is the uncalibrated recogniser. ValueError, one sentence, when an image has no face.
        """
        base = EmotionRecognizer(self.classifier, self.detector, self.margin)
        if not neutral_images:
            return base
        probs = []
        for i, image in enumerate(neutral_images, 1):
            faces = base.predict(image)
            if not faces:
                raise ValueError(f"No face found in calibration picture {i}: look straight at the camera, in good "
                                 "light, with the face filling more of the picture.")
            probs.append([faces[0].probs[e] for e in EMOTIONS])
        return base.with_person(np.mean(probs, axis=0))

    def with_person(self, resting: np.ndarray | list[float] | None,
                    taught: Sequence[tuple[np.ndarray, str]] = (),
                    resting_weight: float = RESTING_WEIGHT) -> EmotionRecognizer:
        """This recogniser adapted to one person from what their profile keeps: their resting reading (7
        probabilities, uncorrected; None: not calibrated) and their answered "not sure" readings ((7
        uncorrected probabilities, emotion) pairs, fer/vision/personal.py). `resting_weight` is for benchmarks that
        weigh other shares of the resting-face correction than the app's."""
        return EmotionRecognizer(self.classifier, self.detector, self.margin,
                                 None if resting is None else np.asarray(resting, np.float64), taught, resting_weight)

    def _resting_shift(self, resting: np.ndarray) -> np.ndarray:
        if not self.can_calibrate:
            raise ValueError("This model has no neutral reference; run `python -m fer.calibrate` on it first.")
        reference = np.asarray(self.classifier.info["neutral_reference"], np.float64)
        shift = np.log(np.clip(resting, 1e-6, None)) - np.log(np.clip(reference, 1e-6, None))
        return np.clip(shift, -MAX_SHIFT, MAX_SHIFT)

    def correct(self, probs: np.ndarray) -> np.ndarray:
        """Apply this person's correction (resting face, answers) to (N, 7) probabilities (unchanged when none)."""
        return _shifted(probs, self._shift)

    def corrected(self, raw: list[Face]) -> list[Face]:
        """Faces as this recogniser reads them for its person, from the model's own readings of them
        (`classify_boxes(..., corrected=False)`): one classification serves both, e.g. a calibration that records
        the model's reading while the person sees theirs, or a photo read once and shown to a person who calibrates
        on it."""
        return faces_from_probs(raw, self.correct(np.array([as_vector(f.probs) for f in raw]))) if raw else []

    def uncorrect(self, probs: np.ndarray) -> np.ndarray:
        """The readings `correct` turned into `probs`: what an answer keeps, so a later resting face or answer
        refits the correction from the model's own readings."""
        return _shifted(probs, None if self._shift is None else -self._shift)

    @classmethod
    def load(cls, path: str | Path | None = None, detector: str | None = None) -> EmotionRecognizer:
        """The shipped default model, or a checkpoint written by `python -m fer.train` (see `load_classifier`),
        with the named face detector ("yunet" or "haar", see `fer.vision.detect.make_detector`; None: the default)."""
        return cls(load_classifier(path), make_detector(detector))

    def classify(self, crops: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """(N, 7) probabilities for face crops of any size (grayscale, or BGR converted here)."""
        faces = [_gray(c) for c in crops]
        batch = np.stack([c if c.shape == (48, 48) else
                          cv2.resize(c, (48, 48), interpolation=cv2.INTER_AREA if c.shape[0] > 48 else cv2.INTER_LINEAR)
                          for c in faces]) if faces else np.zeros((0, 48, 48), np.uint8)
        return self.correct(self.classifier.predict(batch))

    def predict(self, image: np.ndarray, tracker: StreamTracker | None = None) -> list[Face]:
        """Faces in an H×W×3 BGR or H×W gray uint8 image, largest first; [] when there is none.

        Pass a `StreamTracker` (one per video stream) to search near the last faces: much faster on video.
        """
        gray, found = self.detect(image, tracker)
        return self.classify_boxes(gray, found)

    def read_photo(self, image: np.ndarray) -> tuple[list[Face], str | None]:
        """A photo's MAX_FACES largest faces, and one sentence when it holds more (None otherwise)."""
        gray, found = self.detect(image)
        note = f"{len(found)} faces found: reading the {MAX_FACES} largest." if len(found) > MAX_FACES else None
        return self.classify_boxes(gray, found[:MAX_FACES]), note

    def detect(self, image: np.ndarray, tracker: StreamTracker | None = None) -> tuple[np.ndarray, list[Found]]:
        """(grey image, faces found, largest first): the first half of `predict`."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError("Expected an H×W×3 BGR or H×W grayscale uint8 image.")
        gray = _gray(image)
        return gray, self.detector.find(gray, tracker)

    def crop(self, gray: np.ndarray, face: Found) -> np.ndarray:
        """The 48x48 crop the classifier reads for a face (`Found` or `Face`) of this grey image."""
        return face_crop(gray, face, self.margin, self.align)

    def classify_boxes(self, gray: np.ndarray, found: list[Found], corrected: bool = True) -> list[Face]:
        """The second half of `predict`: crop each face (aligned by its eyes when known) and classify all of
        them in one pass.

        corrected=False skips the resting-face correction (what a calibration records).
        """
        if not found:
            return []
        probs = self.classifier.predict(np.stack([self.crop(gray, f) for f in found]))
        return faces_from_probs(found, self.correct(probs) if corrected else probs)


def _shifted(probs: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
    if shift is None or not len(probs):
        return probs
    q = probs * np.exp(-shift)
    return (q / q.sum(1, keepdims=True)).astype(np.float32)


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if image.shape[2] == 1:
        return image[:, :, 0]
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
