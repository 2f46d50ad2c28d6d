"""Stable moods from flickering per-frame predictions.

`EmotionSmoother` smooths one probability stream with an exponential moving average and changes its
mood only when another emotion has led the average for `hold` frames in a row. So a blip of fewer
than `hold` frames never changes the mood, and a sustained change does within
`frames_to_lead + hold` frames (frames_to_lead = 2 for alpha 0.4 from a confident mood).

`StreamMood` follows each face across frames (matched by box overlap) with its own smoother, and
keeps the stream's mood: `fer.vision.mood.read_mood` (largest face, or the group) over the smoothed faces in view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fer.emotions import EMOTIONS
from fer.vision.detect import Box, iou
from fer.vision.mood import Reading, as_vector, read_mood


class EmotionSmoother:
    def __init__(self, alpha: float = 0.4, hold: int = 3):
        self.alpha, self.hold = alpha, hold
        self.probs: np.ndarray | None = None
        self.mood: str | None = None
        self._challenger: str | None = None
        self._streak = 0

    def update(self, probs: np.ndarray | dict[str, float]) -> str:
        """Feed one frame's probabilities (7 values in EMOTIONS order, or a dict); returns the current mood."""
        p = as_vector(probs)
        self.probs = p if self.probs is None else (1 - self.alpha) * self.probs + self.alpha * p
        leader = EMOTIONS[int(np.argmax(self.probs))]
        if self.mood is None:
            self.mood = leader
        elif leader == self.mood:
            self._challenger, self._streak = None, 0
        else:
            self._streak = self._streak + 1 if leader == self._challenger else 1
            self._challenger = leader
            if self._streak >= self.hold:
                self.mood, self._challenger, self._streak = leader, None, 0
        return self.mood

    @property
    def confidence(self) -> float:
        return 0.0 if self.probs is None else float(self.probs[EMOTIONS.index(self.mood)])


@dataclass
class Track:
    box: Box
    smoother: EmotionSmoother
    missed: int = 0


@dataclass
class StreamMood:
    """Per-face moods of a live stream and the stream's mood. One per stream; not thread-safe by itself.

    `group` picks the rule of `fer.vision.mood.read_mood`; the viewer may flip it while the stream runs.
    """

    alpha: float = 0.4
    hold: int = 3
    max_missed: int = 10  # frames a face may vanish (blink, turn) before its track is dropped
    group: bool = False
    not_sure_below: float | None = None  # the model's threshold: an uncertain moment keeps the last sure mood
    last_sure: Reading | None = None
    tracks: list[Track] = field(default_factory=list)
    overall: EmotionSmoother | None = None

    def update(self, faces: list) -> str | None:
        """Feed one frame's `Face` list (largest first); returns the mood (None until a face has been seen)."""
        if self.overall is None:
            self.overall = EmotionSmoother(self.alpha, self.hold)
        unmatched = list(self.tracks)
        for face in faces:
            best = max(unmatched, key=lambda t: iou(t.box, face.box), default=None)
            if best is not None and iou(best.box, face.box) > 0.2:
                unmatched.remove(best)
                best.box, best.missed = face.box, 0
            else:
                best = Track(face.box, EmotionSmoother(self.alpha, self.hold))
                self.tracks.append(best)
            best.smoother.update(face.probs)
        for t in unmatched:
            t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        in_view = sorted((t for t in self.tracks if t.missed == 0), key=lambda t: t.box[2] * t.box[3], reverse=True)
        reading = read_mood([t.smoother.probs for t in in_view], self.group)
        if reading is not None:
            self.overall.update(reading.probs)
        now = self._smoothed()
        if now is not None and not now.uncertain:
            self.last_sure = now
        return self.overall.mood

    @property
    def mood(self) -> str | None:
        return None if self.overall is None else self.overall.mood

    @property
    def confidence(self) -> float:
        return 0.0 if self.overall is None else self.overall.confidence

    @property
    def reading(self) -> Reading | None:
        """The smoothed mood (None until a face has been seen). While it is uncertain, the last sure one stays,
        so a doubtful moment does not flicker the list; with no sure one yet, the uncertain reading itself."""
        now = self._smoothed()
        return self.last_sure if now is not None and now.uncertain and self.last_sure is not None else now

    def _smoothed(self) -> Reading | None:
        if self.overall is None or self.overall.mood is None:
            return None
        confidence = self.overall.confidence
        return Reading(self.overall.mood, confidence, dict(zip(EMOTIONS, map(float, self.overall.probs))),
                       "group" if self.group else "",
                       self.not_sure_below is not None and confidence < self.not_sure_below)
