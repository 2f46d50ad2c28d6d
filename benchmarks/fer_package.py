"""The `fer` package (PyPI, Keras model + OpenCV Haar) timed on the frames benchmarks/frame_latency.py saved.

    python -m benchmarks.frame_latency --save-frames /tmp/frames.npz
    cd /tmp && /path/to/venv-with-fer/bin/python /path/to/repo/benchmarks/fer_package.py /tmp/frames.npz

Run it by path, from outside the repository, with a Python that has `pip install fer` (it needs TensorFlow,
which this project does not): this project's own package is also called `fer` and would shadow it.
Prints what frame_latency.py prints: ms per 640x480 frame (detection + classification), and the detection rate
(here: a box centred inside the true one).
"""

import sys
import time

import numpy as np
from fer.fer import FER  # the PyPI package (25.x: the class lives in fer.fer)


def centred(found, truth) -> bool:
    """A face box whose centre lies inside the true box (this file cannot import the project's `iou`: see above)."""
    x, y, w, h = found
    tx, ty, tw, th = truth
    return tx <= x + w / 2 <= tx + tw and ty <= y + h / 2 <= ty + th


def main() -> None:
    data = np.load(sys.argv[1])
    frames, boxes = data["frames"], data["boxes"]
    detector = FER(mtcnn=False)
    times, hits = [], 0
    for frame, box in zip(frames, boxes):
        t0 = time.perf_counter()
        faces = detector.detect_emotions(frame)
        times.append((time.perf_counter() - t0) * 1e3)
        hits += any(centred(f["box"], box) for f in faces)
    t = np.array(times[5:])  # skip warm-up
    print(f"fer package ({len(frames)} frames): p50 {np.percentile(t, 50):6.2f} ms  p95 {np.percentile(t, 95):6.2f} ms"
          f"  mean {t.mean():6.2f} ms  detection rate {hits / len(frames):.1%}")


if __name__ == "__main__":
    main()
