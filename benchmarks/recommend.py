"""Milliseconds for a personalised, filtered, re-ranked top-50 from the shipped catalogue and neighbours file
(the list re-renders on every live reading), with a profile file of 2,000 marks (1,000 seen, 1,000 thumbs, each
given in one of the 7 moods, so every mood's genres are learnt).

    python -m benchmarks.recommend [--marks 2000] [--runs 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from fer.emotions import EMOTIONS
from fer.genres import build_mapping
from fer.profiles.store import Profile
from fer.recommend.catalogue import load_catalogue
from fer.recommend.ranker import recommend


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--marks", type=int, default=2000)
    p.add_argument("--runs", type=int, default=200)
    a = p.parse_args(argv)
    movies, _ = load_catalogue()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        profile = Profile(Path(tmp) / "profile.db")
        for i, t in enumerate(rng.choice(movies["tconst"].to_numpy(), a.marks, replace=False)):
            profile.mark_seen(t) if i % 2 else profile.rate(t, 1 if i % 4 == 0 else -1, EMOTIONS[i % 7])
        mapping = build_mapping("match my mood")
        times = []
        for run in range(a.runs + 1):
            probs = dict(zip(EMOTIONS, rng.dirichlet(np.ones(len(EMOTIONS)))))
            t0 = time.perf_counter()
            top = recommend(probs, mapping, movies, profile, mix=True, years=(1950, 2025), min_rating=6.5,
                            runtime=(80, 180))
            if run:  # the first call builds the catalogue's index once per process
                times.append((time.perf_counter() - t0) * 1e3)
        profile.close()
    print(f"{len(movies):,} films, profile of {a.marks:,} marks, mood mix + filters + MMR -> {len(top)} rows: "
          f"p50 {np.percentile(times, 50):.1f} ms, p95 {np.percentile(times, 95):.1f} ms "
          f"({a.runs} runs; target p50 <= 30 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
