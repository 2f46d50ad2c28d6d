"""Real faces of people the model never saw: ckplus-dev (CK+ crops of 55 people, 6 posed expressions), per class.

    python -m benchmarks.ckplus --data ../shared/datasets/ckplus-dev                       # the shipped model
    python -m benchmarks.ckplus --data ... --model runs/x/best.pt                          # a model on all people
    python -m benchmarks.ckplus --data ... --folds runs/a/fold0/best.pt ... runs/a/fold4/best.pt

`--folds`: K models, model I trained without the people of fold I (`fer.train --real-faces --real-fold I`,
people dealt by `fer.training.archives.person_folds`) and scored on those people alone; their readings pooled.
A model that trained on ckplus-dev people is only ever scored here through `--folds`.

Two paths: "crops", the 48x48 faces as given through the classifier; "photo", each face upscaled into a webcam
frame (640x480 or 1280x720, light and tilt varied per face) and read as the app reads a photo
(`EmotionRecognizer.read_photo`: detector, crop, classifier); a face the detector misses counts as read wrong.
Per-class recall, macro recall (the mean over the 6 classes) and a confusion matrix; 95 % intervals by
resampling PEOPLE (a person's photos are near copies: a photo is not an independent sample).
Then the "Not sure" question (readings below the model's threshold) and per-person adaptation from answers
(`EmotionRecognizer.with_person`): each sequence (a person's 3 frames of one expression) held out in turn, the
person's other sequences given as answered questions (CK+ has no neutral face: no resting-face correction).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from benchmarks.real_faces import Photo, per_person
from fer.emotions import EMOTIONS
from fer.training.archives import load_real_faces, person_folds
from fer.vision.detect import iou
from fer.vision.recognizer import EmotionRecognizer
from tests.scenes import background

SIZES = ((640, 480), (1280, 720))
LIGHT = (1.0, 0.6, 1.3, 0.8)  # gain on the face and its surroundings: as lit, dim, bright, a little dim
TILT = (0.0, -10.0, 6.0, 12.0, -5.0)  # degrees the head is turned in the image plane
SIDE_LIGHT = (False, False, True)  # every third frame lit from one side (a ramp across the frame)


def webcam_frame(face: np.ndarray, i: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Face i (48x48 grey) in a BGR webcam frame: its size, light and tilt set by i; (frame, true face box)."""
    w, h = SIZES[i % len(SIZES)]
    rng = np.random.default_rng(i)
    side = int(h * rng.uniform(0.3, 0.5))
    x, y = (w - side) // 2 + int(rng.integers(-w // 8, w // 8)), (h - side) // 2 + int(rng.integers(-h // 10, h // 10))
    frame = background(w, h, seed=i).astype(np.float32)
    frame[y:y + side, x:x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)[:, :, None]
    angle = TILT[i % len(TILT)]
    if angle:
        turn = cv2.getRotationMatrix2D((x + side / 2, y + side / 2), angle, 1.0)
        frame = cv2.warpAffine(frame, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    frame *= LIGHT[i % len(LIGHT)]
    if SIDE_LIGHT[i % len(SIDE_LIGHT)]:
        frame *= np.linspace(0.6, 1.2, w, dtype=np.float32)[None, :, None]
    return np.clip(frame, 0, 255).astype(np.uint8), (x, y, side, side)


def read_crops(rec: EmotionRecognizer, faces: np.ndarray) -> np.ndarray:
    """(N, 7) uncorrected readings of the 48x48 faces as given."""
    return rec.classifier.predict(faces)


def read_photos(rec: EmotionRecognizer, faces: np.ndarray, index: np.ndarray) -> list[np.ndarray | None]:
    """Each face's reading through the app's photo path (its largest face overlapping the true box); None: missed."""
    out = []
    for face, i in zip(faces, index):
        frame, box = webcam_frame(face, int(i))
        found, _ = rec.read_photo(frame)
        hit = [f for f in found if iou(f.box, box) > 0.3]
        out.append(np.array([hit[0].probs[e] for e in EMOTIONS]) if hit else None)
    return out


def read_by_fold(recs: list[EmotionRecognizer], fold: np.ndarray, faces: np.ndarray,
                 path: str) -> list[np.ndarray | None]:
    """Every face's reading by the model of its fold (recs[k] reads exactly the faces of fold k), on `path`."""
    readings: list = [None] * len(faces)
    for k, rec in enumerate(recs):
        mine = np.flatnonzero(fold == k)
        got = read_crops(rec, faces[mine]) if path == "crops" else read_photos(rec, faces[mine], mine)
        for j, r in zip(mine, got):
            readings[j] = r
    return readings


def recalls(pred: np.ndarray, labels: np.ndarray, classes: list[int]) -> np.ndarray:
    """Per-class recall (pred -1: no face, wrong) over `classes`; nan for a class with no photo."""
    return np.array([np.mean(pred[labels == c] == c) if np.any(labels == c) else np.nan for c in classes])


def report(name: str, readings: list[np.ndarray | None], labels: np.ndarray, people: np.ndarray, boot: int,
           seed: int = 0) -> dict:
    """Print per-class and macro recall with 95 % intervals over people, and the confusion matrix; returns figures."""
    classes = sorted(set(labels.tolist()))
    pred = np.array([-1 if r is None else int(np.argmax(r)) for r in readings])
    rec = recalls(pred, labels, classes)
    names = sorted(set(people.tolist()))
    rows = {p: np.flatnonzero(people == p) for p in names}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(boot):
        idx = np.concatenate([rows[names[j]] for j in rng.integers(0, len(names), len(names))])
        draws.append(recalls(pred[idx], labels[idx], classes))
    draws = np.array(draws)
    lo, hi = np.nanpercentile(draws, [2.5, 97.5], axis=0)
    mlo, mhi = np.percentile(np.nanmean(draws, 1), [2.5, 97.5])
    found = np.mean(pred >= 0)
    print(f"\n{name}: {len(labels)} faces, {len(names)} people, face found in {found:.1%}")
    print(f"  {'class':<9} {'faces':>5} {'recall':>7}  95 % interval (people resampled)")
    for c, r, a, b in zip(classes, rec, lo, hi):
        print(f"  {EMOTIONS[c]:<9} {np.sum(labels == c):>5} {r:>7.1%}  {a:.1%}-{b:.1%}")
    print(f"  {'macro':<9} {len(labels):>5} {np.mean(rec):>7.1%}  {mlo:.1%}-{mhi:.1%}   "
          f"(lowest class: {EMOTIONS[classes[int(np.argmin(rec))]]} {np.min(rec):.1%})")
    heads = [e[:4] for e in EMOTIONS] + (["none"] if found < 1 else [])
    print("  confusion (rows: true, columns: read as): " + " ".join(f"{h:>5}" for h in heads))
    for c in classes:
        counts = np.bincount(pred[labels == c] + 1, minlength=len(EMOTIONS) + 1)
        cells = list(counts[1:]) + ([counts[0]] if found < 1 else [])
        print(f"  {EMOTIONS[c]:<9}{' ' * 33}" + " ".join(f"{n:>5}" for n in cells))
    return {"recall": dict(zip([EMOTIONS[c] for c in classes], rec.round(4).tolist())),
            "macro": float(np.mean(rec)), "macro_interval": (float(mlo), float(mhi)), "found": float(found)}


def not_sure(readings: list[np.ndarray | None], labels: np.ndarray, below: float) -> None:
    """How many readings the app would question, and how right the stated and the questioned ones are."""
    read = [(r, y) for r, y in zip(readings, labels) if r is not None]
    sure = [np.argmax(r) == y for r, y in read if r.max() >= below]
    unsure = [np.argmax(r) == y for r, y in read if r.max() < below]
    print(f"  not sure (confidence < {below}): {len(unsure)} of {len(read)} ({len(unsure) / max(len(read), 1):.1%}); "
          f"right among stated {np.mean(sure) if sure else float('nan'):.1%}, "
          f"among questioned {np.mean(unsure) if unsure else float('nan'):.1%}")


def adaptation(rec: EmotionRecognizer, readings: list[np.ndarray | None], labels: np.ndarray, people: np.ndarray,
               names: np.ndarray, boot: int) -> None:
    """Per-person adaptation from answers, each sequence (person_sequence) held out with all its frames."""
    photos = [Photo(Path(n), p, EMOTIONS[y], r) for r, y, p, n in zip(readings, labels, people, names)]
    per_person(rec, photos, [], boot, same=lambda a, b: sequence(a) == sequence(b))


def sequence(photo: Photo) -> str:
    return "_".join(photo.path.name.split("_")[:2])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="ckplus-dev: <emotion>/<person>_*.png")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--model", help="a checkpoint that never trained on these people (default: the shipped model)")
    who.add_argument("--folds", nargs="+", help="K checkpoints, the I-th trained without fold I's people")
    p.add_argument("--path", choices=("crops", "photo", "both"), default="both")
    p.add_argument("--boot", type=int, default=2000)
    a = p.parse_args(argv)
    try:
        ds, people, names = load_real_faces(a.data)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    models = a.folds or [a.model]
    fold = person_folds(people, len(models)) if a.folds else np.zeros(len(people), np.int64)
    recs = [EmotionRecognizer.load(m) for m in models]
    out = {}
    for path in (("crops", "photo") if a.path == "both" else (a.path,)):
        readings = read_by_fold(recs, fold, ds.images, path)
        label = f"{path}, {'held-out folds of ' + str(len(models)) + ' models' if a.folds else models[0] or 'shipped'}"
        out[path] = report(label, readings, ds.labels, people, a.boot)
        below = recs[0].not_sure_below
        if below is not None:
            not_sure(readings, ds.labels, below)
        adaptation(recs[0], readings, ds.labels, people, names, a.boot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
