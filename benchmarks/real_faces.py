"""Real people's photos through the app's own photo path: per-class recall, and what per-person adaptation gains.

    python -m benchmarks.real_faces --london runs/webmorph [--detector yunet|haar] [--tilt 15] [--crops aligned]
    python -m benchmarks.real_faces --labels my_faces.csv            # any licensed set: file,person,emotion

The photos are decoded, detected, cropped and read exactly as an uploaded photo is in the app
(`fer.vision.images.load_image`, `EmotionRecognizer.read_photo`, the largest face, the calibrated reading, "not sure"
below the model's threshold). No photo is copied or written anywhere.

`--london ROOT`: the Face Research Lab London Set (DeBruine & Jones 2017, CC BY 4.0,
doi:10.6084/m9.figshare.5047666.v5), 102 adults photographed in a studio, each once with a neutral face
(`inst/neutral_front/NNN_03.jpg`) and once smiling (`inst/smiling_front/NNN_08.jpg`), as the R package
webmorphR.stim holds it (github.com/debruine/webmorphR.stim, CC BY 4.0):
`git --git-dir=<its git directory> archive HEAD inst/neutral_front inst/smiling_front | tar -x -C runs/webmorph`.
`--no-faces DIR`: face-free photos (false faces are counted), e.g. the same package's `inst/rainbow`.

Per person, leave one photo out: each photo is read once with nothing learnt about its person, and once
adapted by what the app would have learnt from that person's *other* photos (their neutral photos as the
resting face, `EmotionRecognizer.with_person`; their other photos as answered "not sure" questions). The gain
is the change in the share of held-out photos read right, per person, with a 95 % bootstrap interval over people.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer.emotions import EMOTIONS
from fer.vision.detect import DETECTORS
from fer.vision.images import load_image
from fer.vision.recognizer import RESTING_WEIGHT, EmotionRecognizer


@dataclass
class Photo:
    path: Path
    person: str
    emotion: str
    probs: np.ndarray | None = None  # the uncorrected reading of its largest face; None: no face found


def london(root: Path) -> list[Photo]:
    """The London Set's photos: person NNN, neutral (NNN_03) and smiling (NNN_08, read as happy)."""
    out = [Photo(p, p.stem.split("_")[0], emotion)
           for folder, emotion in (("neutral_front", "neutral"), ("smiling_front", "happy"))
           for p in sorted((root / "inst" / folder).glob("[0-9]*.jpg"))]
    if not out:
        raise SystemExit(f"No London Set photos under {root}/inst/neutral_front or smiling_front.")
    return out


def from_csv(path: Path) -> list[Photo]:
    """file,person,emotion rows; files relative to the CSV's folder."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    if not {"file", "person", "emotion"} <= set(reader.fieldnames or ()):
        raise SystemExit(f"{path} needs a header row with the columns file, person and emotion.")
    bad = {r["emotion"] for r in rows} - set(EMOTIONS)
    if bad:
        raise SystemExit(f"Unknown emotions in {path}: {sorted(bad)}; use {list(EMOTIONS)}.")
    return [Photo(path.parent / r["file"], r["person"], r["emotion"]) for r in rows]


def tilted(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, rot, (w, h), borderMode=cv2.BORDER_REPLICATE)


def read_all(rec: EmotionRecognizer, photos: list[Photo], tilt: float) -> None:
    """Each photo's uncorrected reading of its largest face, as the app reads an upload."""
    for i, ph in enumerate(photos):
        try:
            image = load_image(ph.path)
        except (OSError, ValueError) as e:  # one sentence, as the app answers a bad upload
            raise SystemExit(f"{ph.path} could not be read: {e}") from None
        if tilt:
            image = tilted(image, tilt if i % 2 else -tilt)
        gray, found = rec.detect(image)
        faces = rec.classify_boxes(gray, found[:1], corrected=False)
        ph.probs = np.array([faces[0].probs[e] for e in EMOTIONS]) if faces else None


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def per_class(rec: EmotionRecognizer, photos: list[Photo]) -> None:
    below = rec.not_sure_below or 0.0
    print(f"{'emotion':<9} {'photos':>6} {'no face':>7} {'recall (95 % interval)':>24} {'not sure':>8}  read as")
    for e in EMOTIONS:
        mine = [p for p in photos if p.emotion == e]
        if not mine:
            continue
        read = [p.probs for p in mine if p.probs is not None]
        right = sum(int(np.argmax(q)) == EMOTIONS.index(e) for q in read)
        lo, hi = wilson(right, len(mine))  # a face not found counts as not read right
        as_ = np.bincount([int(np.argmax(q)) for q in read], minlength=len(EMOTIONS))
        shown = ", ".join(f"{EMOTIONS[i]} {n}" for i, n in sorted(enumerate(as_), key=lambda t: -t[1]) if n)
        print(f"{e:<9} {len(mine):>6} {len(mine) - len(read):>7} {right / len(mine):>9.1%} ({lo:.1%}-{hi:.1%}) "
              f"{sum(q.max() < below for q in read):>8}  {shown}")
    read = [p for p in photos if p.probs is not None]
    stated = [p for p in read if p.probs.max() >= below]
    print(f"all: {len(photos)} photos, faces found in {len(read)}; read right "
          f"{np.mean([np.argmax(p.probs) == EMOTIONS.index(p.emotion) for p in read]):.1%} of found; "
          f"{len(stated)} stated (confidence >= {below}), right among them "
          f"{np.mean([np.argmax(p.probs) == EMOTIONS.index(p.emotion) for p in stated]):.1%}")


def adapted(rec: EmotionRecognizer, held: Photo, others: list[Photo], resting: bool, answers: bool,
            weight: float) -> np.ndarray:
    """The held-out photo's reading after the app learnt from the person's other photos: with `resting`, their
    neutral photos as the resting face; with `answers`, every other photo as an answered "not sure" question."""
    neutral = [p.probs for p in others if p.emotion == "neutral"] if resting else []
    taught = [(p.probs, p.emotion) for p in others] if answers else []
    person = rec.with_person(np.mean(neutral, axis=0) if neutral else None, taught, weight)
    return person.correct(held.probs[None])[0]


def per_person(rec: EmotionRecognizer, photos: list[Photo], weights: list[float], boot: int,
               same: Callable[[Photo, Photo], bool] | None = None) -> None:
    """Leave one photo out per person; `same(a, b)`: photos held out with it (e.g. frames of one sequence).
    Without neutral photos there is no resting face: answers alone are weighed."""
    people: dict[str, list[Photo]] = {}
    for p in photos:
        if p.probs is not None:
            people.setdefault(p.person, []).append(p)
    people = {k: v for k, v in people.items() if len(v) > 1}
    print(f"\nleave one {'photo' if same is None else 'group of alike photos'} out, {len(people)} people with 2+ "
          "photos read; held-out photos read right (share per person, mean over people), change against no "
          "adaptation with its 95 % interval:")
    shipped, neutral = RESTING_WEIGHT, any(p.emotion == "neutral" for p in photos)
    methods = [(f"resting face, weight {w}", w, True, False) for w in weights] if neutral else []
    methods += [("answers alone", shipped, False, True)]
    methods += [(f"resting face {shipped} + answers", shipped, True, True)] if neutral else []
    base = {k: np.mean([np.argmax(h.probs) == EMOTIONS.index(h.emotion) for h in v]) for k, v in people.items()}
    rng = np.random.default_rng(0)
    names = list(people)
    draws = rng.integers(0, len(names), (boot, len(names)))
    print(f"  {'no adaptation':<34} {np.mean(list(base.values())):.1%}")
    for label, weight, resting, answers in methods:
        score, by_class = {}, {}
        for k, v in people.items():
            right = []
            for i, h in enumerate(v):
                truth = EMOTIONS.index(h.emotion)
                rest = [o for j, o in enumerate(v) if j != i and not (same and same(o, h))]
                ok = np.argmax(adapted(rec, h, rest, resting, answers, weight)) == truth
                right.append(ok)
                by_class.setdefault(h.emotion, []).append(int(ok) - int(np.argmax(h.probs) == truth))
            score[k] = np.mean(right)
        gain = np.array([score[k] - base[k] for k in names])
        lo, hi = np.percentile(gain[draws].mean(1), [2.5, 97.5])
        classes = ", ".join(f"{e} {np.sum(d):+d} of {len(d)}" for e, d in by_class.items())
        print(f"  {label:<34} {np.mean(list(score.values())):.1%}  {gain.mean():+.2%} ({lo:+.2%} to {hi:+.2%}); "
              f"helped {np.sum(gain > 0)}, hurt {np.sum(gain < 0)} people; photos {classes}")


def false_faces(rec: EmotionRecognizer, folder: Path) -> None:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    found = [len(rec.detect(load_image(p))[1]) for p in files]
    print(f"\nface-free photos ({folder}): {len(files)}, false faces {sum(found)} "
          f"(in {np.count_nonzero(found)} photos)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--london", type=Path, help="a webmorphR.stim tree holding the London Set (see above)")
    src.add_argument("--labels", type=Path, help="a CSV of file,person,emotion")
    p.add_argument("--detector", choices=DETECTORS, help="default: the app's")
    p.add_argument("--model", help="a checkpoint (default: the shipped model)")
    p.add_argument("--crops", choices=("model", "aligned", "box"), default="model",
                   help="aligned by the eyes or square boxes (default: what the model was trained on)")
    p.add_argument("--tilt", type=float, default=0.0, help="rotate each photo by this many degrees, sides alternating")
    p.add_argument("--weights", type=float, nargs="+", default=[0.3, 0.5, 1.0], help="resting-face weights to compare")
    p.add_argument("--no-faces", type=Path, help="a folder of face-free photos: false faces are counted")
    p.add_argument("--boot", type=int, default=2000)
    a = p.parse_args(argv)
    photos = london(a.london) if a.london else from_csv(a.labels)
    rec = EmotionRecognizer.load(a.model, a.detector)
    if a.crops != "model":
        rec.align = a.crops == "aligned"
    read_all(rec, photos, a.tilt)
    print(f"{len(photos)} photos, {len({p.person for p in photos})} people; detector "
          f"{type(rec.detector).__name__}, {'aligned' if rec.align else 'box'} crops, tilt ±{a.tilt:g}°")
    per_class(rec, photos)
    per_person(rec, photos, a.weights, a.boot)
    if a.no_faces:
        false_faces(rec, a.no_faces)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
