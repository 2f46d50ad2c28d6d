"""Milliseconds per 640x480 BGR frame (detection + classification) and detection rate, photo vs stream mode.

    python -m benchmarks.frame_latency [--frames 300] [--model PATH] [--detector haar] [--save-frames F.npz]

Frames: a real face (scikit-image's astronaut) letterboxed into 640x480 and swaying ±24 px sideways, like
a person in front of a webcam. "photo" is one full-resolution detector pass per frame; "stream" is the live
path (YuNet: one pass over the frame downscaled to 320 px; Haar: a StreamTracker searches near the last
face, with a full downscaled pass every 10 frames). A frame counts as detected when a box overlaps the
face's true position (IoU > 0.5). --save-frames writes the frames and true boxes for
benchmarks/fer_package.py, which times the `fer` package on the very same frames.
"""

import argparse
import math
import time

import cv2
import numpy as np

from fer.vision.detect import DETECTORS, StreamTracker, iou
from fer.vision.recognizer import EmotionRecognizer
from tests.scenes import astronaut_frame


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--model", default=None)
    p.add_argument("--detector", default=None, choices=DETECTORS, help="default: the app's")
    p.add_argument("--save-frames", default=None)
    a = p.parse_args()
    rec = EmotionRecognizer.load(a.model, a.detector)
    shifts = [round(24 * math.sin(i / 15)) for i in range(a.frames)]
    frames, truth = zip(*(astronaut_frame(dx=dx) for dx in shifts))
    if a.save_frames:
        np.savez_compressed(a.save_frames, frames=np.stack(frames), boxes=np.array(truth))
    w, h = truth[0][2:]
    print(f"detector: {rec.detector.name}, classifier: {rec.classifier.backend}, "
          f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), "
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
