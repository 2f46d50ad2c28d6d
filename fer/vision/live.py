"""The live-webcam state of one viewer: runs the pipeline on each frame and holds the smoothed mood.

`process` runs on the video thread (streamlit-webrtc's frame callback); `snapshot` runs on the script
thread. They share state only under `self._lock`, and `process` never blocks on the UI.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from fer.emotions import EMOTIONS
from fer.vision.detect import Found, StreamTracker, iou
from fer.vision.draw import draw_faces
from fer.vision.mood import Reading
from fer.vision.recognizer import EmotionRecognizer, Face
from fer.vision.smoothing import StreamMood


@dataclass(frozen=True)
class MoodSnapshot:
    reading: Reading | None  # the smoothed mood; None until a face has been seen
    faces: int  # faces in the latest frame
    frames: int  # frames processed so far
    ms_per_frame: float  # mean of the last frames' pipeline time


log = logging.getLogger(__name__)

# streamlit-webrtc's private bookkeeping that ui.inputs.keep_stream_alive clears (see there). Private API: the
# requirement pins streamlit-webrtc below 0.80 and tests/test_contracts.py fails by name if it disappears.
WEBRTC_RENDERED_RUN_COUNT = "_last_rendered_run_count"


# Classify a face at most every MIN_INTERVAL_S, and no more often than LOAD_FACTOR times the last
# classification's own time: under load (many viewers on one server) classifications slow down and so
# become rarer, while detection and drawing still run on every frame, so the video stays fluid. The
# mood is smoothed over classifications anyway; ~10 a second is plenty.
MIN_INTERVAL_S = 0.1
LOAD_FACTOR = 4


class LiveMood:
    """One viewer's live state. `process` runs on the video thread; `snapshot` on the script thread."""

    def __init__(self, recognizer: EmotionRecognizer):
        self.recognizer = recognizer
        self._tracker = StreamTracker()
        self._mood = StreamMood(not_sure_below=recognizer.not_sure_below)
        self._faces: list[Face] = []  # the last labelled faces, drawn until the next classification
        self._next_classify = 0.0
        self._lock = threading.Lock()
        self._latest = MoodSnapshot(None, 0, 0, 0.0)
        self._ms = 0.0
        self._failed: dict[str, int] = {}  # exception type -> frames it spoiled
        self._resting: list[list[float]] = []  # uncorrected readings of the largest face while calibrating
        self._resting_until = 0.0

    def process(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Detection on every frame, classification when due, smoothing; returns the frame boxed and labelled."""
        t0 = time.perf_counter()
        rec = self.recognizer  # NOTE: one recogniser for the whole frame, however the script thread swaps it
        gray, found = rec.detect(frame_bgr, self._tracker)  # tracker, mood: this thread only
        carried = _carry(self._faces, found)
        if t0 >= self._next_classify or carried is None:
            raw = rec.classify_boxes(gray, found, corrected=False)  # one classification: calibration and reading
            faces = rec.corrected(raw)
            if raw and t0 < self._resting_until:
                with self._lock:
                    self._resting.append([raw[0].probs[e] for e in EMOTIONS])
            cost = time.perf_counter() - t0
            self._next_classify = t0 + max(MIN_INTERVAL_S, LOAD_FACTOR * cost)
            self._mood.update(faces)
        else:
            faces = carried
        self._faces = faces
        ms = (time.perf_counter() - t0) * 1e3
        self._ms = ms if not self._latest.frames else 0.9 * self._ms + 0.1 * ms
        with self._lock:  # NOTE: the only state the script thread reads
            self._latest = MoodSnapshot(self._mood.reading, len(faces), self._latest.frames + 1, self._ms)
        return draw_faces(frame_bgr, faces)

    @property
    def group(self) -> bool:
        return self._mood.group

    @group.setter
    def group(self, on: bool) -> None:
        # NOTE: set by the script thread, read by the video thread at its next frame (a bool: no lock needed).
        self._mood.group = bool(on)

    def start_resting(self, seconds: float = 2.0) -> None:
        """Record the largest face's readings (numbers only) for `seconds`: a resting-face calibration."""
        with self._lock:
            self._resting, self._resting_until = [], time.perf_counter() + seconds

    def resting(self) -> tuple[bool, list[list[float]]]:
        """(still recording, the readings so far)."""
        with self._lock:
            return time.perf_counter() < self._resting_until, list(self._resting)

    def use(self, recognizer: EmotionRecognizer) -> None:
        """Switch to another recogniser (e.g. calibrated for this viewer)."""
        # NOTE: a reference swap; the video thread picks it up at its next frame.
        self.recognizer = recognizer

    def snapshot(self) -> MoodSnapshot:
        with self._lock:
            return self._latest

    def frame_callback(self):
        """streamlit-webrtc's video_frame_callback: av.VideoFrame in, annotated av.VideoFrame out."""
        import av  # installed with streamlit-webrtc; imported here so fer itself does not need it

        def on_frame(frame: av.VideoFrame) -> av.VideoFrame:
            image = frame.to_ndarray(format="bgr24")
            try:
                image = self.process(image)
            except Exception as e:  # noqa: BLE001 (a bad frame must not end the viewer's stream)
                self._failure(e)
            return av.VideoFrame.from_ndarray(image, format="bgr24")

        return on_frame

    def _failure(self, e: Exception) -> None:
        """Count a spoiled frame; log each kind of failure once per viewer, with its traceback."""
        kind = type(e).__name__
        self._failed[kind] = self._failed.get(kind, 0) + 1
        if self._failed[kind] == 1:
            log.exception("Live frame failed (%s); the stream goes on, further %s failures are only counted.",
                          kind, kind)

    @property
    def failed_frames(self) -> int:
        return sum(self._failed.values())


def _carry(previous: list[Face], found: list[Found]) -> list[Face] | None:
    """The previous labels moved onto this frame's faces (matched by overlap); None when a face is new."""
    faces = []
    for f in found:
        best = max(previous, key=lambda p: iou(p.box, f.box), default=None)
        if best is None or iou(best.box, f.box) < 0.2:
            return None
        faces.append(replace(best, box=tuple(int(v) for v in f.box), eyes=f.eyes))
    return faces
