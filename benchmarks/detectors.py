"""YuNet against Haar: recall on tilted, dark, small and half-hidden faces, false faces, and cost per frame.

    python -m benchmarks.detectors [--faces 200] [--frames 200]
    python -m benchmarks.detectors --faces 100 --scores 0.5 0.6 0.7 0.8 0.9   # YuNet's score threshold

Faces: scikit-image's astronaut (a real photo, public domain) and the first `--faces` PublicTest faces
of FER2013 (tightly cropped, so harder for both), each pasted into a 640x480 frame under every condition
below. A face counts as found when a box's centre lies within 0.4 face sides of the true centre and its
side is 0.5-2x the true side (the detectors frame faces differently, so overlap would favour one).
False faces: boxes on face-free frames (textured backgrounds and scikit-image's non-face photos).
Cost: milliseconds per 640x480 frame of the swaying astronaut on the live path (a StreamTracker each).
"""

import argparse
import time

import cv2
import numpy as np

from fer.training.data import load_dataset
from fer.vision.detect import DETECTORS, Box, StreamTracker, YuNetDetector, make_detector
from tests.scenes import astronaut_frame, background

FER_CSV = "../shared/datasets/fer2013.csv.gz"


def astronaut_face() -> np.ndarray:
    """The astronaut's face with some of the photo around it, grey (so both sources paste alike)."""
    frame, (x, y, w, h) = astronaut_frame()
    m = w // 2
    return cv2.cvtColor(frame[max(0, y - m):y + h + m, x - m:x + w + m], cv2.COLOR_BGR2GRAY)


def scene(face: np.ndarray, inner: float, condition: str, seed: int) -> tuple[np.ndarray, Box]:
    """A 640x480 frame with `face` pasted in under `condition`; its true face box. `inner`: the share of the
    pasted square that is the face itself (1 for FER2013's tight crops, 0.5 for the astronaut's)."""
    rng = np.random.default_rng(seed)
    frame = cv2.cvtColor(background(seed=seed), cv2.COLOR_BGR2GRAY)
    side = int((30 if condition.startswith("small") else 110) / inner)
    patch = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA if side < face.shape[0] else cv2.INTER_CUBIC)
    if condition.startswith("tilted"):
        angle = float(condition.split()[1].rstrip("°")) * rng.choice([-1, 1])
        rot = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
        patch = cv2.warpAffine(patch, rot, (side, side), borderMode=cv2.BORDER_REPLICATE)
    x, y = int(rng.integers(20, 640 - side - 20)), int(rng.integers(20, 480 - side - 20))
    frame[y:y + side, x:x + side] = patch
    fs = side * inner
    fx, fy = x + (side - fs) / 2, y + (side - fs) / 2
    if condition == "dark":
        frame = np.clip(255 * (frame / 255.0) ** 2.2 * 0.45 + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)
    if condition == "half hidden (hand over mouth)":
        frame[int(fy + 0.6 * fs):int(fy + fs), int(fx):int(fx + fs)] = 200
    return frame, (round(fx), round(fy), round(fs), round(fs))


def hit(boxes: list[Box], truth: Box) -> bool:
    tx, ty, ts = truth[0] + truth[2] / 2, truth[1] + truth[3] / 2, truth[2]
    return any(np.hypot(x + w / 2 - tx, y + h / 2 - ty) < 0.4 * ts and 0.5 < max(w, h) / ts < 2
               for x, y, w, h in boxes)


CONDITIONS = ["upright", "tilted 15°", "tilted 30°", "dark", "small (30 px face)", "half hidden (hand over mouth)"]


def face_free_frames(n: int) -> list[np.ndarray]:
    from skimage import data  # test/benchmark dependency only

    photos = [data.coffee(), data.chelsea(), data.rocket(), data.hubble_deep_field()]
    frames = [cv2.cvtColor(background(seed=1000 + i), cv2.COLOR_BGR2GRAY) for i in range(n)]
    return frames + [cv2.cvtColor(cv2.resize(p, (640, 480)), cv2.COLOR_RGB2GRAY) for p in photos]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--faces", type=int, default=200, help="FER2013 PublicTest faces per condition")
    p.add_argument("--frames", type=int, default=200, help="frames for the cost measurement")
    p.add_argument("--scores", type=float, nargs="+", help="only: YuNet's recall and false faces at these thresholds")
    a = p.parse_args()
    fer_faces = load_dataset(FER_CSV).split("PublicTest")[0][:a.faces]
    sources = {"astronaut (x20 placements)": [(astronaut_face(), 0.5)] * 20,
               f"FER2013 PublicTest ({len(fer_faces)})": [(f, 1.0) for f in fer_faces]}
    if a.scores:
        faces = [f for group in sources.values() for f in group]
        free = face_free_frames(100)
        for score in a.scores:
            det = YuNetDetector(score=score)
            rates = [np.mean([hit([f.box for f in det.find(fr)], box) for fr, box in
                              (scene(f, inner, c, seed) for seed, (f, inner) in enumerate(faces))]) for c in CONDITIONS]
            print(f"score {score:.2f}: recall " + " ".join(f"{r:.1%}" for r in rates) +
                  f"  mean {np.mean(rates):.1%}; false faces on {len(free)} face-free frames "
                  f"{sum(len(det.find(fr)) for fr in free)}")
        return
    detectors = {name: make_detector(name) for name in DETECTORS}
    print(f"OpenCV {cv2.__version__}; found = centre within 0.4 sides, size 0.5-2x; photo mode (960 px pass)")
    for source, faces in sources.items():
        print(f"\n{source}")
        print(f"{'condition':32s}" + "".join(f"{d:>10s}" for d in detectors))
        for condition in CONDITIONS:
            scenes = [scene(f, inner, condition, seed) for seed, (f, inner) in enumerate(faces)]
            rates = [np.mean([hit([f.box for f in det.find(fr)], box) for fr, box in scenes])
                     for det in detectors.values()]
            print(f"{condition:32s}" + "".join(f"{r:10.1%}" for r in rates))
    free = face_free_frames(40)
    print(f"\nfalse faces on {len(free)} face-free frames: " +
          ", ".join(f"{d} {sum(len(det.find(fr)) for fr in free)}" for d, det in detectors.items()))
    shifts = [round(24 * np.sin(i / 15)) for i in range(a.frames)]
    frames = [cv2.cvtColor(astronaut_frame(dx=dx)[0], cv2.COLOR_BGR2GRAY) for dx in shifts]
    for d, det in detectors.items():
        tracker, times = StreamTracker(), []
        for fr in frames:
            t0 = time.perf_counter()
            det.find(fr, tracker)
            times.append((time.perf_counter() - t0) * 1e3)
        t = np.array(times[5:])
        print(f"live path, detection only ({d}): p50 {np.percentile(t, 50):.2f} ms, p95 {np.percentile(t, 95):.2f} ms")


if __name__ == "__main__":
    main()
