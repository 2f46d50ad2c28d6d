"""Emotions of the faces in images, and the movies they map to.

    python -m fer.predict IMAGE... [--json] [--annotate OUT.png] [--top N] [--model PATH] [--preset NAME]

Unreadable files get a one-line error on stderr and a non-zero exit; the other files are still processed.
With several images, --annotate OUT.png writes OUT_<image stem>.png for each.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import pandas as pd

from fer.draw import draw_faces
from fer.images import load_image
from fer.movies import DEFAULT_CATALOGUE, PRESETS, build_mapping, load_catalogue, top_movies
from fer.recognizer import EmotionRecognizer


def annotate_path(out: Path, image: Path, many: bool) -> Path:
    return out.with_name(f"{out.stem}_{image.stem}{out.suffix}") if many else out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Detect faces and their emotions; suggest movies for the mood.")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--annotate", type=Path, default=None, help="write the image with boxes and labels here")
    p.add_argument("--top", type=int, default=5, help="movies to list per image (0: none)")
    p.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    p.add_argument("--preset", default="paper", choices=list(PRESETS), help="emotion -> genre map")
    a = p.parse_args(argv)
    if a.annotate and not cv2.haveImageWriter(str(a.annotate)):  # cv2.imwrite would raise, after all the work
        p.error(f"--annotate: OpenCV cannot write {a.annotate.name!r}; name it .png or .jpg.")
    try:
        rec = EmotionRecognizer.load(a.model)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    movies = None
    if a.top > 0 and DEFAULT_CATALOGUE.is_file():
        try:
            movies, _ = load_catalogue()
        except ValueError as e:
            print(f"warning: {e}", file=sys.stderr)
    mapping = build_mapping(a.preset)

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
        faces = rec.predict(image)
        result = {"image": str(path), "faces": [{"box": list(f.box), "emotion": f.emotion,
                                                 "confidence": round(f.confidence, 4),
                                                 "probs": {k: round(v, 4) for k, v in f.probs.items()}}
                                                for f in faces]}
        if faces:
            genre = mapping[faces[0].emotion]
            result["genre"] = genre
            if movies is not None:
                top = top_movies(genre, a.top, movies)
                result["movies"] = [{"rank": int(r.rank), "title": r.title,
                                     "year": None if pd.isna(r.year) else int(r.year),
                                     "rating": float(r.rating), "url": r.url} for r in top.itertuples()]
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
        lines.append(f"  genre for {r['faces'][0]['emotion']}: {r['genre']}")
    for m in r.get("movies", []):
        lines.append(f"    {m['rank']:2d}. {m['title']} ({m['year']}) {m['rating']}  {m['url']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
