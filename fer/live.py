"""The live-webcam state of one viewer: runs the pipeline on each frame and holds the smoothed mood.

`process` runs on the video thread (streamlit-webrtc's frame callback); `snapshot` runs on the script
thread. They share state only under `self._lock`, and `process` never blocks on the UI.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from fer.detect import StreamTracker
from fer.draw import draw_faces
from fer.mood import Reading
from fer.recognizer import EmotionRecognizer
from fer.smoothing import StreamMood


@dataclass(frozen=True)
class MoodSnapshot:
    reading: Reading | None  # the smoothed mood; None until a face has been seen
    faces: int  # faces in the latest frame
    frames: int  # frames processed so far
    ms_per_frame: float  # mean of the last frames' pipeline time


# streamlit-webrtc's private bookkeeping that app.keep_stream_alive clears (see there). Private API: the
# requirement pins streamlit-webrtc below 0.80 and tests/test_contracts.py fails by name if it disappears.
WEBRTC_RENDERED_RUN_COUNT = "_last_rendered_run_count"


class LiveMood:
    def __init__(self, recognizer: EmotionRecognizer):
        self.recognizer = recognizer
        self._tracker = StreamTracker()
        self._mood = StreamMood()
        self._lock = threading.Lock()
        self._latest = MoodSnapshot(None, 0, 0, 0.0)
        self._ms = 0.0

    def process(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Pipeline + smoothing on one BGR frame; returns the frame with faces boxed and labelled."""
        t0 = time.perf_counter()
        faces = self.recognizer.predict(frame_bgr, self._tracker)  # tracker and mood: this thread only
        self._mood.update(faces)
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

    def snapshot(self) -> MoodSnapshot:
        with self._lock:
            return self._latest

    def frame_callback(self):
        """streamlit-webrtc's video_frame_callback: av.VideoFrame in, annotated av.VideoFrame out."""
        import av  # installed with streamlit-webrtc; imported here so fer itself does not need it

        def on_frame(frame: av.VideoFrame) -> av.VideoFrame:
            return av.VideoFrame.from_ndarray(self.process(frame.to_ndarray(format="bgr24")), format="bgr24")

        return on_frame
