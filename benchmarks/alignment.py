"""Eye alignment on FER2013: where its eyes sit, and what aligning its faces does to the model's reading.

    python -m benchmarks.alignment --fit              # FER2013 Training's median eye points (fer.vision.align.EYES_AT)
    python -m benchmarks.alignment [--split PublicTest] [--model PATH]

The second form reads the split twice with the same model: the images as they are, and each image
aligned by its own eye points (`fer.vision.align.align_48`); PublicTest only for decisions, never PrivateTest.
"""

import argparse
import time

import numpy as np

from fer.emotions import EMOTIONS
from fer.training.data import load_dataset
from fer.vision.align import EYES_AT, align_48, eyes_48
from fer.vision.recognizer import EmotionRecognizer

FER_CSV = "../shared/datasets/fer2013.csv.gz"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--split", default="PublicTest")
    p.add_argument("--model", default=None)
    p.add_argument("--fit", action="store_true", help="measure the median eye points on Training")
    p.add_argument("--n", type=int, default=None, help="only the first N faces")
    a = p.parse_args()
    x, y = load_dataset(FER_CSV).split("Training" if a.fit else a.split)
    x, y = x[:a.n], y[:a.n]
    t0 = time.perf_counter()
    eyes = eyes_48(x)
    ok = np.all(np.isfinite(eyes), axis=1)
    print(f"{'Training' if a.fit else a.split}: eyes found in {ok.sum()}/{len(x)} faces ({ok.mean():.1%}), "
          f"{(time.perf_counter() - t0) / len(x) * 1e3:.1f} ms per face")
    med = np.median(eyes[ok], axis=0)
    iqr = np.percentile(eyes[ok], 75, axis=0) - np.percentile(eyes[ok], 25, axis=0)
    print(f"median eye points {tuple(round(float(v), 1) for v in med)}, interquartile ranges "
          f"{tuple(round(float(v), 1) for v in iqr)}; fer.vision.align.EYES_AT = {EYES_AT}")
    if a.fit:
        return
    rec = EmotionRecognizer.load(a.model)
    plain = rec.classify(list(x)).argmax(1)
    aligned = rec.classify(list(align_48(x, eyes))).argmax(1)
    for name, pred in (("as they are", plain), ("aligned", aligned)):
        recall = " ".join(f"{e} {(pred[y == i] == i).mean():.3f}" for i, e in enumerate(EMOTIONS))
        print(f"{name:12s}: accuracy {(pred == y).mean():.4f} (faces with eyes {(pred[ok] == y[ok]).mean():.4f}); "
              f"recall {recall}")


if __name__ == "__main__":
    main()
