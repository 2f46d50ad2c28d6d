"""Detection rate and accuracy of the full pipeline on FER2013 faces pasted into 640x480 frames, by crop margin.

    python -m benchmarks.pipeline_accuracy [--split PublicTest] [--n 1000] [--model PATH]

Used to choose fer.recognizer.CROP_MARGIN on PublicTest (never PrivateTest). "direct" is the model on the
original 48x48 images, the upper bound for a perfect detector.
"""

import argparse

import numpy as np

from fer.data import load_dataset
from fer.detect import crop_face, iou
from fer.recognizer import EmotionRecognizer
from tests.scenes import face_frame

FER_CSV = "../shared/datasets/fer2013.csv.gz"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--split", default="PublicTest")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--model", default=None)
    p.add_argument("--margins", type=float, nargs="+", default=[-0.1, 0.0, 0.1, 0.2, 0.3])
    a = p.parse_args()
    rec = EmotionRecognizer.load(a.model)
    x, y = load_dataset(FER_CSV).split(a.split)
    x, y = x[:a.n], y[:a.n]
    direct = rec.classify(list(x)).argmax(1)
    print(f"{a.split}, first {len(y)} faces; direct accuracy on 48x48 images: {(direct == y).mean():.4f}")
    crops = {m: [] for m in a.margins}
    found = []
    for i, face in enumerate(x):
        frame, box = face_frame(face, side=160, seed=i)
        gray = frame[:, :, 1]
        boxes = [b for b in rec.detector.detect(gray) if iou(b, box) > 0.3]
        if boxes:
            found.append(i)
            for m in a.margins:
                crops[m].append(crop_face(gray, boxes[0], m))
    found = np.array(found)
    print(f"detected: {len(found)}/{len(y)} ({len(found) / len(y):.1%})")
    for m in a.margins:
        pred = rec.classify(crops[m]).argmax(1)
        print(f"margin {m:+.2f}: accuracy on detected faces {(pred == y[found]).mean():.4f}  "
              f"(direct on the same faces {(direct[found] == y[found]).mean():.4f})")


if __name__ == "__main__":
    main()
