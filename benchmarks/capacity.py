"""How many live viewers one server carries: N viewers, each its own LiveMood on its own thread, all sharing
the app's one cached recogniser, each fed its own 640x480 camera stream of a moving real face at 30 fps.

    python -m benchmarks.capacity [--viewers 1 2 4 8] [--seconds 10] [--fps 30] [--model CKPT]

A viewer takes the newest frame of its camera whenever it is free (as streamlit-webrtc does: frames that
arrive while a frame is being processed are dropped, never queued). Prints processed frames/s per viewer
(min and median over viewers) and failed frames (exceptions in the pipeline).
"""

from __future__ import annotations

import argparse
import math
import statistics
import threading
import time

from fer.vision.detect import DETECTORS
from fer.vision.live import LiveMood
from fer.vision.recognizer import EmotionRecognizer
from tests.scenes import astronaut_frame


def viewer(rec: EmotionRecognizer, frames: list, seconds: float, fps: float, out: dict, start: threading.Event):
    live, done, failed, last = LiveMood(rec), 0, 0, -1
    start.wait()
    t0 = time.perf_counter()
    while (now := time.perf_counter() - t0) < seconds:
        i = int(now * fps)
        if i == last:  # nothing new from the camera yet
            time.sleep((i + 1) / fps - now)
            continue
        last = i
        try:
            live.process(frames[i % len(frames)])
            done += 1
        except Exception:  # noqa: BLE001 (counted: the target is zero)
            failed += 1
    out.update(fps=done / seconds, failed=failed)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--viewers", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--model", default=None, help="checkpoint (default: the shipped model; its ONNX export if current)")
    p.add_argument("--detector", default=None, choices=DETECTORS, help="default: the app's")
    a = p.parse_args(argv)
    rec = EmotionRecognizer.load(a.model, a.detector)  # one, as the app shares it (fer/server/shared.py)
    print(f"detector {rec.detector.name}, classifier {rec.classifier.backend}; {a.fps:.0f} fps cameras; "
          f"{a.seconds:.0f} s per row")
    print(f"{'viewers':>7s} {'min fps':>8s} {'median fps':>10s} {'failed frames':>13s}  detector copies")
    for n in a.viewers:
        streams = [[astronaut_frame(dx=round(24 * math.sin((i + 7 * v) / 15)))[0] for i in range(60)]
                   for v in range(n)]
        results, start = [{} for _ in range(n)], threading.Event()
        threads = [threading.Thread(target=viewer, args=(rec, streams[v], a.seconds, a.fps, results[v], start))
                   for v in range(n)]
        for t in threads:
            t.start()
        start.set()
        for t in threads:
            t.join()
        fps = [r["fps"] for r in results]
        print(f"{n:7d} {min(fps):8.1f} {statistics.median(fps):10.1f} {sum(r['failed'] for r in results):13d}"
              f"  {rec.detector.pool.size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
