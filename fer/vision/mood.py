"""Which mood a picture shows: the largest face's, or the mean of every face in it (the "group" mood).

The one rule for a photo, a snapshot, the CLI and the live stream (whose per-face probabilities are
smoothed first, see fer/vision/smoothing.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fer.emotions import EMOTIONS


@dataclass(frozen=True)
class Reading:
    emotion: str
    confidence: float  # the (calibrated) probability of `emotion`
    probs: dict[str, float]  # all 7, in EMOTIONS order
    source: str  # what decided it: "the only face", "largest face", "group of N", "your answer", ...
    uncertain: bool = False  # confidence below the model's "not sure" threshold: ask, don't state

    @property
    def candidates(self) -> tuple[str, str]:
        """The two likeliest emotions, for "Not sure: sad or angry?"."""
        first, second = sorted(self.probs, key=self.probs.get, reverse=True)[:2]
        return first, second


def as_vector(probs: np.ndarray | Mapping[str, float]) -> np.ndarray:
    """7 probabilities in EMOTIONS order from an array or an emotion -> probability mapping."""
    return np.array([probs[e] for e in EMOTIONS] if isinstance(probs, Mapping) else probs, dtype=np.float64)


def read_mood(faces: Sequence[np.ndarray | Mapping[str, float]], group: bool = False,
              not_sure_below: float | None = None) -> Reading | None:
    """The mood of a picture from its faces' probabilities, largest face first; None without a face.

    group=False: the largest face decides (the person nearest the camera). group=True: the mean of all faces.
    A reading whose confidence is below `not_sure_below` (the model's threshold, fer/training/calibrate.py) is
    uncertain.
    """
    if not faces:
        return None
    if group and len(faces) > 1:
        p, source = np.mean([as_vector(f) for f in faces], axis=0), f"group of {len(faces)}"
    else:
        p, source = as_vector(faces[0]), "largest face" if len(faces) > 1 else "the only face"
    i = int(np.argmax(p))
    return Reading(EMOTIONS[i], float(p[i]), dict(zip(EMOTIONS, map(float, p))), source,
                   not_sure_below is not None and float(p[i]) < not_sure_below)


def answered(reading: Reading, emotion: str) -> Reading:
    """The person's own answer to an uncertain reading: it becomes the mood."""
    return Reading(emotion, 1.0, {e: float(e == emotion) for e in EMOTIONS}, "your answer")
