"""Catalogue refresh on a synthetic dump the size and shape of IMDb's: our streamed refresh vs naive pandas.

    python -m benchmarks.refresh [--rows 10000000] [--ratings 1600000] [--dir DIR] [--chunk-rows N ...]

Generates title.basics (all title types, ~7 % movies, genres, \\N's) and title.ratings in a temp dir,
then runs each approach in a fresh subprocess and prints wall seconds and peak RSS (MB).
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TYPES = np.array(["tvEpisode", "short", "movie", "tvSeries", "video", "tvMovie", "tvMiniSeries", "videoGame",
                  "tvSpecial", "tvShort", "tvPilot"])
TYPE_P = np.array([0.745, 0.095, 0.07, 0.025, 0.027, 0.015, 0.006, 0.004, 0.005, 0.002, 0.006])
GENRES = np.array(["Drama", "Comedy", "Documentary", "Action", "Romance", "Thriller", "Crime", "Horror", "Family",
                   "Adventure", "Animation", "Talk-Show", "Reality-TV", "Music", "Short", "Film-Noir", "Western",
                   "Musical", "Sport", "\\N"])

NAIVE = """
import csv, sys, pandas as pd
d = sys.argv[1]
b = pd.read_csv(d + "/title.basics.tsv.gz", sep="\\t", quoting=csv.QUOTE_NONE, na_values="\\\\N", dtype=str)
r = pd.read_csv(d + "/title.ratings.tsv.gz", sep="\\t", quoting=csv.QUOTE_NONE, na_values="\\\\N")
m = b[(b.titleType == "movie") & (b.isAdult == "0")].merge(r[r.numVotes >= 10000], on="tconst")
print(len(m))
"""
OURS = """
import sys
import fer.recommend.catalogue
if len(sys.argv) > 2:
    fer.recommend.catalogue.CHUNK_ROWS = int(sys.argv[2])
print(fer.recommend.catalogue.refresh(sys.argv[1], sys.argv[1] + "/movies.json.gz")["rows"])
"""
PEAK = "import resource; print('peak_rss_mb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"


def generate(d: Path, rows: int, n_ratings: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with gzip.open(d / "title.basics.tsv.gz", "wt", compresslevel=6, encoding="utf-8") as f:
        f.write("tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\truntimeMinutes\tgenres\n")
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            ids = np.arange(start, start + n)
            types = rng.choice(TYPES, n, p=TYPE_P)
            words = rng.integers(0, 50_000, (n, 2))
            years = np.where(rng.random(n) < 0.1, "\\N", rng.integers(1900, 2027, n).astype(str))
            runtime = np.where(rng.random(n) < 0.4, "\\N", rng.integers(5, 200, n).astype(str))
            g1, g2 = rng.choice(GENRES, n), rng.choice(GENRES[:-1], n)
            adult = np.where(rng.random(n) < 0.02, "1", "0")
            f.write("".join(
                f"tt{i:08d}\t{t}\tTitle {a} {b}\tTitle {a} {b}\t{ad}\t{y}\t\\N\t{rt}\t"
                f"{g if g == chr(92) + 'N' or g == h else g + ',' + h}\n"
                for i, t, (a, b), ad, y, rt, g, h in zip(ids, types, words, adult, years, runtime, g1, g2)))
    rated = np.sort(rng.choice(rows, n_ratings, replace=False))
    votes = (rng.pareto(1.0, n_ratings) * 500).astype(np.int64) + 5  # ~5 % of rated titles reach 10,000 votes
    with gzip.open(d / "title.ratings.tsv.gz", "wt", compresslevel=6, encoding="utf-8") as f:
        f.write("tconst\taverageRating\tnumVotes\n")
        f.write("".join(f"tt{i:08d}\t{r:.1f}\t{v}\n" for i, r, v in zip(rated, rng.uniform(1, 10, n_ratings), votes)))


def run(code: str, d: Path, *args: str) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code + "\n" + PEAK, str(d), *args], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    return {"seconds": round(time.perf_counter() - t0, 1), "movies": int(out[0]), "peak_rss_mb": round(float(out[-1]))}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--ratings", type=int, default=1_600_000)
    p.add_argument("--dir", default=None, help="keep the generated dump here and reuse it on later runs")
    p.add_argument("--chunk-rows", type=int, nargs="*", default=[],
                   help="also time fer.recommend.catalogue.refresh with these chunk sizes "
                        "(default: only its own CHUNK_ROWS)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(a.dir or tmp)
        d.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if not (d / "title.ratings.tsv.gz").exists():
            generate(d, a.rows, a.ratings)
        sizes = {f.name: round(f.stat().st_size / 1e6, 1) for f in d.iterdir()}
        print(f"generated {a.rows} titles, {a.ratings} ratings in {time.perf_counter() - t0:.0f}s: {sizes} MB")
        results = {"naive pandas": run(NAIVE, d), "fer.movies.refresh": run(OURS, d)}
        results |= {f"refresh, {n} rows/chunk": run(OURS, d, str(n)) for n in a.chunk_rows}
    for name, r in results.items():
        print(f"{name:28s} {r['seconds']:6.1f} s  peak RSS {r['peak_rss_mb']:5d} MB  ({r['movies']} movies)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
