"""Which mood a picture shows: the largest face's, or the mean of every face in it (the "group" mood).

The one rule for a photo, a snapshot, the CLI and the live stream (whose per-face probabilities are
smoothed first, see fer/smoothing.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fer.emotions import EMOTIONS


@dataclass(frozen=True)
class Reading:
    emotion: str
    confidence: float  # the probability of `emotion`
    probs: dict[str, float]  # all 7, in EMOTIONS order
    source: str  # what decided it: "" (the only face), "largest face" or "group of N"


def as_vector(probs: np.ndarray | Mapping[str, float]) -> np.ndarray:
    """7 probabilities in EMOTIONS order from an array or an emotion -> probability mapping."""
    return np.array([probs[e] for e in EMOTIONS] if isinstance(probs, Mapping) else probs, dtype=np.float64)


def read_mood(faces: Sequence[np.ndarray | Mapping[str, float]], group: bool = False) -> Reading | None:
    """The mood of a picture from its faces' probabilities, largest face first; None without a face.

    group=False: the largest face decides (the person nearest the camera). group=True: the mean of all faces.
    """
    if not faces:
        return None
    if group and len(faces) > 1:
        p, source = np.mean([as_vector(f) for f in faces], axis=0), f"group of {len(faces)}"
    else:
        p, source = as_vector(faces[0]), "largest face" if len(faces) > 1 else ""
    i = int(np.argmax(p))
    return Reading(EMOTIONS[i], float(p[i]), dict(zip(EMOTIONS, map(float, p))), source)
