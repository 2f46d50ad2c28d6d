"""Emotions of the faces in images, and the movies they map to.

    python -m fer.predict IMAGE... [--json] [--annotate OUT.png] [--top N] [--model PATH] [--preset NAME] [--group]
                                   [--profile local|PROFILE.json] [--mix]

Unreadable files get a one-line error on stderr and a non-zero exit; the other files are still processed.
With several images, --annotate OUT.png writes OUT_<image stem>.png for each. The films are the page's list for
the reading (the one ranker, fer.recommend.ranker.recommend), with the profile's marks, mapping and filters when
--profile is given (it is only read; a missing or unreadable one is one sentence and exit code 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import pandas as pd

from fer.files import DEFAULT_CATALOGUE
from fer.genres import PRESETS
from fer.profiles.store import Profile, ProfileError
from fer.recommend.catalogue import load_catalogue
from fer.recommend.person import ranked_for, read_profile, saved_mapping, setting
from fer.vision.detect import DEFAULT_DETECTOR, DETECTORS
from fer.vision.draw import draw_faces
from fer.vision.images import load_image
from fer.vision.mood import read_mood
from fer.vision.recognizer import EmotionRecognizer


def annotate_path(out: Path, image: Path, many: bool) -> Path:
    return out.with_name(f"{out.stem}_{image.stem}{out.suffix}") if many else out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Detect faces and their emotions; suggest movies for the mood.")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--annotate", type=Path, default=None, help="write the image with boxes and labels here")
    p.add_argument("--top", type=int, default=5, help="movies to list per image (0: none)")
    p.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    p.add_argument("--detector", default=None, choices=DETECTORS, help=f"face detector (default: {DEFAULT_DETECTOR})")
    p.add_argument("--preset", default=None, choices=list(PRESETS),
                   help="emotion -> genre map (default: the profile's, else paper)")
    p.add_argument("--group", action="store_true", help="mood of all faces together (default: the largest face)")
    p.add_argument("--profile", default=None, help="`local` (this user's own profile) or a file from \"Download my "
                   "data\": its marks, mapping and filters apply; it is only read")
    p.add_argument("--mix", action=argparse.BooleanOptionalAction, default=None,
                   help="blend the genres of the leading emotions (default: the profile's setting, else off)")
    a = p.parse_args(argv)
    if a.annotate and not cv2.haveImageWriter(str(a.annotate)):  # cv2.imwrite would raise, after all the work
        p.error(f"--annotate: OpenCV cannot write {a.annotate.name!r}; name it .png or .jpg.")
    return a


def catalogue_or_none(top: int) -> pd.DataFrame | None:
    """The movie catalogue when movies are asked for and it is readable (a warning otherwise)."""
    if top <= 0 or not DEFAULT_CATALOGUE.is_file():
        return None
    try:
        return load_catalogue()[0]
    except ValueError as e:
        print(f"warning: {e}", file=sys.stderr)
        return None


def describe(path: Path, faces: list, mapping: dict[str, str], movies: pd.DataFrame | None, top: int,
             group: bool, profile: Profile | None = None, mix: bool | None = None) -> dict:
    """One image's result as JSON-able data: faces, the mood, its genre and the page's list for it."""
    result = {"image": str(path), "faces": [{"box": list(f.box), "emotion": f.emotion,
                                             "confidence": round(f.confidence, 4),
                                             "probs": {k: round(v, 4) for k, v in f.probs.items()}} for f in faces]}
    reading = read_mood([f.probs for f in faces], group)
    if reading is not None:
        result.update(mood=reading.emotion, mood_source=reading.source,
                      genre=mapping[reading.emotion])
        if movies is not None:
            films = ranked_for(reading.probs, mapping, movies, profile, top, mix=mix)
            result["genres"] = list(films.attrs.get("genres", {}))
            result["movies"] = [{"rank": int(r.rank), "title": r.title, "rating": float(r.rating), "url": r.url,
                                 "year": None if pd.isna(r.year) else int(r.year), "tconst": r.tconst,
                                 "reason": r.reason} for r in films.itertuples()]
    return result


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        profile = read_profile(a.profile) if a.profile else None
    except ProfileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        rec = EmotionRecognizer.load(a.model, a.detector)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    movies, mapping = catalogue_or_none(a.top), saved_mapping(setting(profile, "mapping"), a.preset)
    failed, results = 0, []
    for path in a.images:
        try:
            image = load_image(path)
        except ValueError as e:
            msg = str(e) if str(e).startswith(str(path)) else f"{path}: {e}"
            print(f"error: {msg}", file=sys.stderr)
            failed += 1
            results.append({"image": str(path), "error": msg})
            continue
        faces, note = rec.read_photo(image)
        if note:
            print(f"{path}: {note}", file=sys.stderr)
        result = describe(path, faces, mapping, movies, a.top, a.group, profile, a.mix)
        if a.annotate:
            out = annotate_path(a.annotate, path, len(a.images) > 1)
            if not cv2.imwrite(str(out), draw_faces(image, faces)):
                print(f"error: could not write {out}", file=sys.stderr)
                failed += 1
        results.append(result)
        if not a.json:
            print(format_result(result))
    if a.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0


def format_result(r: dict) -> str:
    lines = [f"{r['image']}: {len(r['faces'])} face(s)" if r["faces"] else f"{r['image']}: no face found"]
    for i, f in enumerate(r["faces"], 1):
        probs = " ".join(f"{k} {v:.2f}" for k, v in sorted(f["probs"].items(), key=lambda kv: -kv[1]))
        lines.append(f"  #{i} box {tuple(f['box'])}: {f['emotion']} ({f['confidence']:.0%})  [{probs}]")
    if "genre" in r:
        lines.append(f"  genre for {r['mood']} ({r['mood_source']}): {r['genre']}")
    for m in r.get("movies", []):
        lines.append(f"    {m['rank']:2d}. {m['title']} ({m['year']}) {m['rating']}  {m['url']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
