"""Detection rate and accuracy of the full pipeline on FER2013 faces pasted into 640x480 frames, by crop margin.

    python -m benchmarks.pipeline_accuracy [--split PublicTest] [--n 1000] [--model PATH] [--detector haar]
                                           [--tilt DEG]

Used to choose fer.vision.recognizer.CROP_MARGIN on PublicTest (never PrivateTest). "direct" is the model on the
original 48x48 images, the upper bound for a perfect detector. "aligned" crops by the detector's eye points
(fer/vision/align.py; YuNet only), which is what the app does for a model trained with `--align`. --tilt turns each
pasted face by +-DEG degrees (alternately), as a tilted head.
"""

import argparse

import cv2
import numpy as np

from fer.training.data import load_dataset
from fer.vision.align import face_crop
from fer.vision.detect import DETECTORS, crop_face, iou
from fer.vision.recognizer import EmotionRecognizer
from tests.scenes import face_frame

FER_CSV = "../shared/datasets/fer2013.csv.gz"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--split", default="PublicTest")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--model", default=None)
    p.add_argument("--margins", type=float, nargs="+", default=[-0.1, 0.0, 0.1, 0.2, 0.3])
    p.add_argument("--detector", default=None, choices=DETECTORS, help="default: the app's")
    p.add_argument("--tilt", type=float, default=0.0)
    a = p.parse_args()
    rec = EmotionRecognizer.load(a.model, a.detector)
    x, y = load_dataset(FER_CSV).split(a.split)
    x, y = x[:a.n], y[:a.n]
    direct = rec.classify(list(x)).argmax(1)
    print(f"{a.split}, first {len(y)} faces; direct accuracy on 48x48 images: {(direct == y).mean():.4f}")
    crops = {m: [] for m in [*a.margins, "aligned"]}
    found = []
    for i, face in enumerate(x):
        if a.tilt:
            turn = cv2.getRotationMatrix2D((24, 24), a.tilt * (1 if i % 2 else -1), 1.0)
            face = cv2.warpAffine(face, turn, (48, 48), borderMode=cv2.BORDER_REPLICATE)
        frame, box = face_frame(face, side=160, seed=i)
        gray = frame[:, :, 1]
        faces = [f for f in rec.detector.find(gray) if iou(f.box, box) > 0.3]
        if faces:
            found.append(i)
            for m in a.margins:
                crops[m].append(crop_face(gray, faces[0].box, m))
            crops["aligned"].append(face_crop(gray, faces[0], 0.0, align=True))
    found = np.array(found)
    print(f"detector {rec.detector.name}, tilt +-{a.tilt:g} deg: detected {len(found)}/{len(y)} "
          f"({len(found) / len(y):.1%})")
    for m, c in crops.items():
        pred = rec.classify(c).argmax(1)
        name = m if m == "aligned" else f"margin {m:+.2f}"
        print(f"{name:13s}: accuracy on detected faces {(pred == y[found]).mean():.4f}  "
              f"(direct on the same faces {(direct[found] == y[found]).mean():.4f})")


if __name__ == "__main__":
    main()
