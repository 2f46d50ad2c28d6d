"""Does the list predict what real people go on to like? An offline evaluation on MovieLens people (the dev half,
../shared/datasets/movielens-dev), each scored by models learnt from other people only.

    python -m benchmarks.recommend_offline [--preset paper] [--boot 1000] [--json out.json]   # the report
    python -m benchmarks.recommend_offline --tune                                            # chooses RANKER

Protocol:
- A person's ratings in time order: the earliest HISTORY (70 %) go into their profile as the app would hold them
  (every rated catalogue film marked seen; >= 4 stars a thumb up, <= 2 a thumb down). The split time T is the
  last of them. Targets: their later ratings >= 4 of catalogue films.
- Readings: the 7 one-hot moods and MIXES mixed ones (two emotions, seeded per person) under the preset's
  mapping; a reading's targets are those in its list's genres; a pair with no target is skipped.
- Everything learnt for a person (the neighbours file, like counts, the baselines) comes from OTHER people's
  ratings made before their T, and every list holds only films released by T's year (at T no later film
  could be shown).
- Baselines: popularity-in-genre (the mood's genres ranked by how many people liked each film) and item-kNN
  (summed co-rating similarity to the films the person saw), both hiding the films the person saw, as a
  recommender engineer would run them; they know the person's history, so they are the bar of the personal
  list. The list without a profile knows nothing of the person: its like-for-like bar is "popularity, no
  history" (the same ranking with nothing hidden); its gap to popularity-in-genre is printed too.
- People are split once (seeded) into tuning people (a third) and report people: --tune scores a grid of ranker
  weights on the tuning people; the report scores the shipped RANKER on the report people, never used to choose.
- hit@50, recall@50 and NDCG@50 pooled over (person, reading) pairs, with 95 % bootstrap intervals over people
  (paired intervals for the differences that the issue's bars name).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from benchmarks.recommend_baselines import BETAS, EASE_LAMBDA, LAMBDAS, RP3_BETA, Models, learn_models, scores
from fer.emotions import EMOTIONS
from fer.genres import GENRES, PRESETS, build_mapping
from fer.profiles.store import Profile
from fer.recommend.arrays import index, learnt
from fer.recommend.catalogue import load_catalogue
from fer.recommend.neighbours import DEFAULT_RATINGS, EMPTY, LIKE, read_movielens
from fer.recommend.preferences import mood_genres
from fer.recommend.ranker import PAPER, RANKER, Ranker, nearness, recommend
from fer.recommend.variety import pick

HISTORY = 0.7  # share of each person's ratings (earliest first) that their profile holds
UP, DOWN = 4.0, 2.0  # MovieLens stars at or above UP: thumb up; at or below DOWN: thumb down
MIXES = 7  # mixed readings per person
RANKER_LAMBDA = EASE_LAMBDA  # the EASE weight of the ranker's file built here (the shipped file has none)
N = 50
TUNE_SHARE = 1 / 3

EASE, RP3 = f"EASE λ={EASE_LAMBDA:g}", f"RP3beta β={RP3_BETA:g}"  # the names baselines.scores gives them
METHODS = ("imdb (paper's list)", "popularity, no history", "popularity-in-genre", "item-kNN", RP3, EASE,
           "no profile", "personal")


@dataclass
class Person:
    user: int
    split: int  # T: time of the last history rating
    year: int  # T's year: the newest films a list at T could show
    seen: list[str]
    up: list[str]
    down: list[str]
    targets: set[str]


def people(ratings: pd.DataFrame, films: set[str]) -> list[Person]:
    """Each person's time split over all their ratings (ties in time keep the file's order); the profile and
    the targets keep the catalogue's films (the app can show and mark no other)."""
    out = []
    for user, r in ratings.groupby("user", sort=True):
        r = r.sort_values("time", kind="stable")
        cut = int(np.ceil(HISTORY * len(r)))
        split = int(r["time"].iloc[cut - 1])
        known = np.array([t in films for t in r["tconst"]])
        hist, later = r.iloc[:cut][known[:cut]], r.iloc[cut:][known[cut:]]
        out.append(Person(int(user), split, pd.Timestamp(split, unit="s").year, hist["tconst"].tolist(),
                          hist.loc[hist["rating"] >= UP, "tconst"].tolist(),
                          hist.loc[hist["rating"] <= DOWN, "tconst"].tolist(),
                          set(later.loc[later["rating"] >= LIKE, "tconst"]) - set(hist["tconst"])))
    return out


def readings(person: Person) -> list[tuple[dict[str, float], bool]]:
    """(probs, mix) pairs: the 7 one-hot moods, then MIXES two-emotion mixes seeded by the person."""
    out = [({e: float(e == emotion) for e in EMOTIONS}, False) for emotion in EMOTIONS]
    rng = np.random.default_rng(person.user)
    for _ in range(MIXES):
        a, b = rng.choice(len(EMOTIONS), 2, replace=False)
        w = float(rng.uniform(0.5, 0.8))
        out.append(({e: w if i == a else 1 - w if i == b else 0.0 for i, e in enumerate(EMOTIONS)}, True))
    return out


def profile_of(person: Person) -> Profile:
    profile = Profile(None)  # in memory, as an anonymous visitor's
    for t in person.seen:
        profile.mark_seen(t)
    for t in person.up:
        profile.rate(t, 1)
    for t in person.down:
        profile.rate(t, -1)
    return profile


def metrics(listed: list[str], targets: set[str]) -> tuple[float, float, float]:
    """hit, recall and NDCG (binary relevance) of one list."""
    gains = np.array([t in targets for t in listed[:N]], dtype=float)
    dcg = (gains / np.log2(np.arange(2, len(gains) + 2))).sum()
    ideal = (1 / np.log2(np.arange(2, min(len(targets), N) + 2))).sum()
    return float(gains.any()), gains.sum() / len(targets), dcg / ideal


class Scorer:
    """Scores one person's readings with every method, each from models learnt without them."""

    def __init__(self, movies: pd.DataFrame, ratings: pd.DataFrame, mapping: dict[str, str]):
        """`ratings`: of the catalogue's films only."""
        self.movies, self.ratings, self.mapping = movies, ratings, mapping
        self.ix = index(movies)
        self.films = set(movies["tconst"])
        self.genre_of = {t: set(str(g).split(",")) for t, g in zip(movies["tconst"], movies["genres"])}

    def learnt_for(self, person: Person, tune: bool = False) -> Models:
        """The ranker's file and the baselines, from other people's ratings before this person's split."""
        r = self.ratings
        others = r[(r["user"] != person.user) & (r["time"] < person.split)]
        if tune:
            return learn_models(others, self.ix, LAMBDAS, BETAS, RANKER_LAMBDA)
        return learn_models(others, self.ix, (EASE_LAMBDA,), (RP3_BETA,), RANKER_LAMBDA)

    def score(self, person: Person, models: Models, rankers: dict[str, Ranker],
              baselines: bool = True) -> dict[str, np.ndarray]:
        """Method -> (pairs, 3) hit/recall/NDCG rows for this person's readings with targets."""
        profile = profile_of(person)
        # A list with no profile depends only on these of a ranker's weights (cold_diversity, not diversity).
        cold_lists_differ = len({(r.rating, r.votes, r.likes, r.cold_diversity) for r in rankers.values()}) > 1
        years = (int(np.nanmin(self.ix.year)), person.year)
        nb = models.file
        lt = learnt(self.movies, nb)
        seen = [self.ix.row[t] for t in person.seen if t in self.ix.row]
        likes = lt.likes
        learnt_scores = {"item-kNN": nearness(lt.file_row, lt.nbr, lt.sim, dict.fromkeys(seen, 1.0)),
                         **scores(models, seen, len(self.movies))}
        out: dict[str, list] = {}
        for probs, mix in readings(person):
            weights, _ = mood_genres(probs, self.mapping, mix)
            targets = {t for t in person.targets if self.genre_of[t] & set(weights)}
            if not targets:
                continue
            lists: dict[str, list[str]] = {}
            if baselines:
                keep = (self.ix.genres[:, [GENRES.index(g) for g in weights]] > 0).any(1)
                keep &= (self.ix.year <= person.year)
                unseen = keep.copy()
                unseen[seen] = False
                for name, mask, score in (("popularity, no history", keep, likes),
                                          ("popularity-in-genre", unseen, likes),
                                          *((k, unseen, v + 1e-6 * likes) for k, v in learnt_scores.items())):
                    rows, _ = pick(mask, score, self.ix, N, weights, diversity=0.0)
                    lists[name] = self.movies["tconst"].to_numpy()[rows].tolist()
                lists["imdb (paper's list)"] = self._list(probs, mix, None, EMPTY, PAPER, years)
            for i, (name, ranker) in enumerate(rankers.items()):
                if not i or cold_lists_differ:
                    lists[f"no profile{name}"] = self._list(probs, mix, None, nb, ranker, years)
                lists[f"personal{name}"] = self._list(probs, mix, profile, nb, ranker, years)
            for name, listed in lists.items():
                out.setdefault(name, []).append(metrics(listed, targets))
        profile.close()
        return {k: np.array(v) for k, v in out.items()}

    def _list(self, probs, mix, profile, nb, ranker, years) -> list[str]:
        return recommend(probs, self.mapping, self.movies, profile, N, mix, years=years, neighbours=nb,
                         ranker=ranker)["tconst"].tolist()


def split_people(persons: list[Person], seed: int = 0) -> tuple[list[Person], list[Person]]:
    """(tuning people, report people): one seeded split of the dev half's people."""
    order = np.random.default_rng(seed).permutation(len(persons))
    cut = int(round(TUNE_SHARE * len(persons)))
    return [persons[i] for i in sorted(order[:cut])], [persons[i] for i in sorted(order[cut:])]


def totals(per_person: list[dict[str, np.ndarray]], method: str) -> tuple[np.ndarray, np.ndarray]:
    """Per person: the sums of hit, recall and NDCG over their pairs, and their number of pairs."""
    rows = [pp.get(method, np.zeros((0, 3))) for pp in per_person]
    return np.array([r.sum(0) if len(r) else np.zeros(3) for r in rows]), np.array([len(r) for r in rows])


def pooled(per_person: list[dict[str, np.ndarray]], method: str) -> np.ndarray:
    """hit, recall and NDCG pooled over every (person, reading) pair."""
    sums, counts = totals(per_person, method)
    return sums.sum(0) / max(counts.sum(), 1)


def bootstrap(per_person: list[dict[str, np.ndarray]], methods: list[str], boot: int,
              seed: int = 0) -> tuple[dict, dict]:
    """Each method's pooled figures with 95 % intervals, resampling people (the same draws for every method,
    so differences are paired); returns the figures and each method's resampled values."""
    draws = np.random.default_rng(seed).integers(0, len(per_person), (boot, len(per_person)))
    samples, figures = {}, {}
    for m in methods:
        sums, counts = totals(per_person, m)
        samples[m] = sums[draws].sum(1) / np.maximum(counts[draws].sum(1), 1)[:, None]
        figures[m] = {"point": pooled(per_person, m), "low": np.percentile(samples[m], 2.5, 0),
                      "high": np.percentile(samples[m], 97.5, 0)}
    return figures, samples


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ratings", default=str(DEFAULT_RATINGS))
    p.add_argument("--preset", default="paper", choices=list(PRESETS))
    p.add_argument("--boot", type=int, default=1000)
    p.add_argument("--tune", action="store_true", help="score a grid of ranker weights on the tuning people")
    p.add_argument("--people", type=int, default=None, help="score only the first N people of the set (a quick run)")
    p.add_argument("--only", help="with --tune: score only the grid's rankers whose name holds this text")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    movies, meta = load_catalogue()
    ratings = read_movielens(a.ratings)
    films = set(movies["tconst"])
    scorer = Scorer(movies, ratings[np.array([t in films for t in ratings["tconst"]])], build_mapping(a.preset))
    tune, report = split_people(people(ratings, films))
    chosen = (tune if a.tune else report)[:a.people]
    rankers = {k: v for k, v in grid().items() if a.only is None or a.only in k} if a.tune else {"": RANKER}
    per_person = []
    for i, person in enumerate(chosen):
        per_person.append(scorer.score(person, scorer.learnt_for(person, a.tune), rankers, baselines=True))
        if (i + 1) % 20 == 0:
            print(f"  {i + 1}/{len(chosen)} people, {time.perf_counter() - t0:.0f} s", flush=True)
    pairs = sum(len(pp.get("personal" + next(iter(rankers)), [])) for pp in per_person)
    print(f"\n{'tuning' if a.tune else 'report'} people: {len(chosen)} ({pairs} person x reading pairs with a later "
          f"like in the list's genres), preset {a.preset!r}, catalogue {meta.get('snapshot')} ({len(movies):,} films)")
    if a.tune:
        return _print_tuning(per_person, rankers)
    methods = list(METHODS)
    figures, samples = bootstrap(per_person, methods, a.boot)
    print(f"{'method':<22} {'hit@50':>22} {'recall@50':>22} {'NDCG@50':>22}")
    for m in methods:
        f = figures[m]
        print(f"{m:<22} " + " ".join(f"{f['point'][k]:.3f} [{f['low'][k]:.3f}, {f['high'][k]:.3f}]".rjust(22)
                                     for k in range(3)))
    diffs = {"no profile - popularity, no history": ("no profile", "popularity, no history"),
             "no profile - popularity-in-genre": ("no profile", "popularity-in-genre"),
             "personal - item-kNN": ("personal", "item-kNN"),
             "personal - EASE": ("personal", EASE), "personal - RP3beta": ("personal", RP3),
             "personal - popularity-in-genre": ("personal", "popularity-in-genre")}
    print("paired differences (95 % interval over people):")
    out = {m: {k: v.tolist() for k, v in f.items()} for m, f in figures.items()}
    for name, (x, y) in diffs.items():
        d = samples[x] - samples[y]
        point = figures[x]["point"] - figures[y]["point"]
        lo, hi = np.percentile(d, 2.5, 0), np.percentile(d, 97.5, 0)
        print(f"  {name:<36} " + " ".join(f"{point[k]:+.3f} [{lo[k]:+.3f}, {hi[k]:+.3f}]".rjust(22) for k in range(3)))
        out[name] = {"point": point.tolist(), "low": lo.tolist(), "high": hi.tolist()}
    print(f"ranker: {asdict(RANKER)}; {time.perf_counter() - t0:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"people": len(chosen), "pairs": pairs, "preset": a.preset, "ranker": asdict(RANKER),
                       "figures": out}, f, indent=1)
    return 0


def grid() -> dict[str, Ranker]:
    """The weights --tune tries: the nearest neighbours counted again (close), the cosine neighbours (knn) and the
    EASE^R lift alone and together, a thumb up's seed weight and the taste weight, on the priors and variety chosen
    before (0.2 IMDb rating + 0.2 votes + 0.6 likes, variety 0.35: benchmarks/README.md)."""
    variants = {"shipped": {}, "close 0 (before)": {"close": 0.0}, "close 1": {"close": 1.0},
                "close 0 knn 0 lift 2": {"close": 0.0, "knn": 0.0, "lift": 2.0},
                "close 0 lift 1": {"close": 0.0, "lift": 1.0}, "close 0 knn 3": {"close": 0.0, "knn": 3.0},
                "close 0 up 1": {"close": 0.0, "up": 1.0}, "close 0 up 6": {"close": 0.0, "up": 6.0},
                "close 0 affinity 0.3": {"close": 0.0, "affinity": 0.3}}
    return {f"[{name}]": replace(RANKER, **v) for name, v in variants.items()}


def _print_tuning(per_person: list[dict[str, np.ndarray]], rankers: dict[str, Ranker]) -> int:
    print(f"{'ranker':<34} {'no profile hit/recall/NDCG':>28} {'personal hit/recall/NDCG':>28}")
    baselines = [m for m in per_person[0] if not m.startswith(("no profile", "personal"))] if per_person else []
    for name in baselines:
        print(f"{name:<34} {'':>28} " + " ".join(f"{v:.3f}" for v in pooled(per_person, name)).rjust(28))
    for name in rankers:
        # Scorer.score lists no profile once when every ranker's would be the same: the later ones have no scores
        own = any(f"no profile{name}" in pp for pp in per_person)
        cold = " ".join(f"{v:.3f}" for v in pooled(per_person, f"no profile{name}")) if own else "same as first ranker"
        print(f"{name:<34} {cold:>28} " + " ".join(f"{v:.3f}" for v in pooled(per_person, f"personal{name}")).rjust(28))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
