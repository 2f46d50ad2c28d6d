"""Milliseconds per 640x480 BGR frame (detection + classification) and detection rate, photo vs stream mode.

    python -m benchmarks.frame_latency [--frames 300] [--model PATH]

Frames: a real face (scikit-image's astronaut) letterboxed into 640x480 and swaying ±24 px sideways, like
a person in front of a webcam. "photo" is one full-resolution Haar pass per frame (scale factor 1.1);
"stream" is the live path (StreamTracker: search near the last face, full downscaled pass every 10 frames).
A frame counts as detected when a box overlaps the face's true position (IoU > 0.5).
"""

import argparse
import math
import time

import cv2
import numpy as np

from fer.detect import StreamTracker, iou
from fer.recognizer import EmotionRecognizer
from tests.scenes import astronaut_frame


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--model", default=None)
    a = p.parse_args()
    rec = EmotionRecognizer.load(a.model)
    shifts = [round(24 * math.sin(i / 15)) for i in range(a.frames)]
    frames, truth = zip(*(astronaut_frame(dx=dx) for dx in shifts))
    w, h = truth[0][2:]
    print(f"classifier: {rec.classifier.backend}, OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), "
          f"{a.frames} frames 640x480, face {w}x{h} px")
    for mode in ("photo", "stream"):
        tracker = StreamTracker() if mode == "stream" else None
        if mode == "photo":
            rec.detector.photo_side = 640  # full resolution for a 640x480 frame
        times, hits = [], 0
        for frame, box in zip(frames, truth):
            t0 = time.perf_counter()
            faces = rec.predict(frame, tracker)
            times.append((time.perf_counter() - t0) * 1e3)
            hits += any(iou(f.box, box) > 0.5 for f in faces)
        t = np.array(times[5:])  # skip warm-up
        print(f"{mode:6s}: p50 {np.percentile(t, 50):6.2f} ms  p95 {np.percentile(t, 95):6.2f} ms  "
              f"mean {t.mean():6.2f} ms  detection rate {hits / len(frames):.1%}")


if __name__ == "__main__":
    main()
