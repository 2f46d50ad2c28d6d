"""Does the resting-face correction hurt a person whose calm face is average? (It must not.)

    python -m benchmarks.resting_face [--trials 200]

FER2013 has no identities, so a person's own later expressions cannot be replayed here. What can be
measured honestly: take as a "person's" calibration k random neutral faces from Training (k=1: one
snapshot; k=5: a steadier baseline), correct every PublicTest reading with it, and compare PublicTest
accuracy with the uncorrected model, for several weights of the correction (RESTING_WEIGHT). Also
reported: how the calibration pictures themselves read after the correction (they should read neutral).
"""

from __future__ import annotations

import argparse

import numpy as np

from fer.emotions import EMOTIONS
from fer.files import SHARED_FER
from fer.training.data import load_dataset
from fer.vision.recognizer import EmotionRecognizer


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(SHARED_FER))
    p.add_argument("--trials", type=int, default=200)
    a = p.parse_args(argv)
    rec = EmotionRecognizer.load()
    ds = load_dataset(a.data)
    x, y = ds.split("PublicTest")
    tx, ty = ds.split("Training")
    probs = rec.classifier.predict(x)
    neutral = rec.classifier.predict(tx[ty == EMOTIONS.index("neutral")])
    base = (probs.argmax(1) == y).mean()
    print(f"PublicTest accuracy uncorrected: {base:.2%}; Training neutral faces read neutral uncorrected: "
          f"{(neutral.argmax(1) == EMOTIONS.index('neutral')).mean():.1%}; {a.trials} calibrations per row")
    for weight, k in [(w, k) for w in (1.0, 0.5, 0.3) for k in (1, 5)]:
        rng = np.random.default_rng(0)
        deltas, self_neutral = [], []
        for _ in range(a.trials):
            pick = neutral[rng.choice(len(neutral), k, replace=False)]
            person = rec.with_person(pick.mean(0), resting_weight=weight)
            deltas.append((person.correct(probs).argmax(1) == y).mean() - base)
            self_neutral.append((person.correct(pick).argmax(1) == EMOTIONS.index("neutral")).mean())
        d = np.array(deltas)
        print(f"weight {weight}, k={k}: accuracy change median {np.median(d):+.2%}, "
              f"5th pct {np.percentile(d, 5):+.2%}, "
              f"worst {d.min():+.2%}; calibration faces read neutral after correction: {np.mean(self_neutral):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
