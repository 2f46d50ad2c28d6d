"""Milliseconds per face of the "show why" heatmap (occlusion through the app's ONNX classifier).

    python -m benchmarks.heatmap [--runs 30]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from fer.vision.explain import occlusion_map
from fer.vision.recognizer import EmotionRecognizer
from tests.scenes import astronaut_frame


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=30)
    a = p.parse_args(argv)
    rec = EmotionRecognizer.load()
    frame, _ = astronaut_frame()
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    face = rec.predict(frame)[0]
    occlusion_map(rec, gray, face)  # warm-up
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        occlusion_map(rec, gray, face)
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"classifier {rec.classifier.backend}: heatmap per face p50 {np.percentile(times, 50):.1f} ms, "
          f"p95 {np.percentile(times, 95):.1f} ms ({a.runs} runs; target <= 300 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
