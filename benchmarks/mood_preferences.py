"""Do the lists learn a person's own mood -> genre tastes? A simulation of people with hidden tastes.

    python -m benchmarks.mood_preferences [--people 30] [--marks 140] [--every 14] [--preset paper]

Each simulated person accepts, in each of the 7 moods, one or two hidden genres (drawn from the genres with at
least 200 catalogue films), which the preset's mapping does not know. A mark: a random mood comes up, the person
looks at the top LOOK films of its list, picks one at random and gives it a thumb up if it has one of the genres
they accept in that mood, else a thumb down. Match: the share of the top LOOK films of each mood's list that
have an accepted genre, averaged over the 7 moods. Two arms from the same marks' process and seeds:
- learnt: thumbs are kept with their mood (the app's path: fer/recommend/preferences.py learns mood x genre);
- fixed mapping: the same thumbs without their mood (genres stay the mapping's; thumbs still re-rank).
Printed: the mean match after 0, 7, 14, ... marks, and how many marks until a person's lists match them
(match >= GOAL), per arm.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fer.emotions import EMOTIONS
from fer.genres import GENRES, PRESETS, build_mapping
from fer.profiles.store import Profile
from fer.recommend.arrays import index
from fer.recommend.catalogue import load_catalogue
from fer.recommend.ranker import recommend

LOOK = 10  # films of a list a person looks at
GOAL = 0.8  # a person's lists "match" them when this share of what they look at is of genres they accept
MIN_FILMS = 200  # a hidden genre has at least this many catalogue films


def simulate(movies, mapping, taste: dict[str, set[str]], marks: int, learn: bool, seed: int,
             every: int) -> list[float]:
    """Match after 0, every, 2 x every, ... marks for one person and one arm."""
    rng = np.random.default_rng(seed)
    profile = Profile(None)
    genres_of = dict(zip(movies["tconst"], movies["genres"].str.split(",")))
    curve = []
    for k in range(marks + 1):
        if k % every == 0:
            curve.append(match(movies, mapping, profile, taste, genres_of))
        if k == marks:
            break
        mood = EMOTIONS[rng.integers(len(EMOTIONS))]
        shown = recommend({e: float(e == mood) for e in EMOTIONS}, mapping, movies, profile, LOOK)["tconst"]
        film = shown.iloc[rng.integers(len(shown))]
        thumb = 1 if set(genres_of[film]) & taste[mood] else -1
        profile.rate(film, thumb, mood if learn else None)
    profile.close()
    return curve


def match(movies, mapping, profile, taste, genres_of) -> float:
    shares = []
    for mood in EMOTIONS:
        shown = recommend({e: float(e == mood) for e in EMOTIONS}, mapping, movies, profile, LOOK)["tconst"]
        shares.append(np.mean([bool(set(genres_of[t]) & taste[mood]) for t in shown]) if len(shown) else 0.0)
    return float(np.mean(shares))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=30)
    p.add_argument("--marks", type=int, default=140)
    p.add_argument("--every", type=int, default=14)
    p.add_argument("--preset", default="paper", choices=list(PRESETS))
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    movies, _ = load_catalogue()
    mapping = build_mapping(a.preset)
    ix = index(movies)
    common = [g for j, g in enumerate(GENRES) if ix.genres[:, j].sum() >= MIN_FILMS]
    rng = np.random.default_rng(a.seed)
    curves = {"learnt": [], "fixed mapping": []}
    for person in range(a.people):
        taste = {e: set(rng.choice([g for g in common if g != mapping[e]], rng.integers(1, 3), replace=False))
                 for e in EMOTIONS}
        for arm, learn in (("learnt", True), ("fixed mapping", False)):
            curves[arm].append(simulate(movies, mapping, taste, a.marks, learn, a.seed * 10_000 + person, a.every))
    steps = list(range(0, a.marks + 1, a.every))
    print(f"{a.people} simulated people, hidden tastes of 1-2 genres per mood among {len(common)} genres, preset "
          f"{a.preset!r}; match = share of the top {LOOK} of each mood's list in the accepted genres")
    print(f"{'marks':<16}" + "".join(f"{s:>8}" for s in steps))
    for arm, rows in curves.items():
        mean = np.mean(rows, 0)
        print(f"{arm:<16}" + "".join(f"{m:>8.2f}" for m in mean))
    for arm, rows in curves.items():
        reached = [next((s for s, m in zip(steps, r) if m >= GOAL), None) for r in rows]
        done = [s for s in reached if s is not None]
        median = f"median {np.median(done):.0f} marks among them" if done else "none"
        print(f"{arm}: lists match (>= {GOAL:.0%}) within {a.marks} marks for {len(done)}/{len(rows)} people; "
              f"{median}")
    print(f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
