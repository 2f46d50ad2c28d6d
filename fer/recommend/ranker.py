"""The one entry that ranks a list (`recommend`: the page, `python -m fer.predict`, `python -m fer.movies recommend`
and `top` all call it): the mood's genre(s), the person's filters and marks, a score that blends what IMDb and real
people's ratings say with what this person marked, and variety, each film with one line saying why it is there.
Pure functions of the catalogue, the learnt file (fer/recommend/neighbours.py) and a profile.

Score of a film = RANKER.rating x its IMDb weighted rating + RANKER.votes x its IMDb votes + RANKER.likes x how
                  many MovieLens people liked it (each scaled 0-1 over the catalogue)
                + RANKER.knn x how near it is, by co-ratings, to the films this person saw and liked, + RANKER.close
                  x the same over each of those films' 10 nearest only (ramped in over their first marks)
                + RANKER.affinity x how much the person liked its genres and its decade (from their thumbs).
The weights were chosen on tuning people only (python -m benchmarks.recommend_offline --tune); the figures on
the other people are in benchmarks/README.md. Which genres, and their shares: fer/recommend/preferences.py (the
mapping's genre leads; what the person taught a mood joins as a labelled share); which films fill the places:
fer/recommend/variety.py; the reason lines: fer/recommend/reasons.py; the catalogue's arrays: arrays.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

import numpy as np
import pandas as pd

from fer.genres import GENRES
from fer.recommend.arrays import Index, filter_mask, index, learnt
from fer.recommend.neighbours import Neighbours, shipped
from fer.recommend.preferences import mood_genres
from fer.recommend.reasons import LIFT, because, reason
from fer.recommend.variety import DIVERSITY, pick

if TYPE_CHECKING:
    from fer.profiles.store import Profile

AFFINITY = 0.15  # weight of the person's taste against IMDb's rating (both on a 0-1 scale)
SHRINK = 2  # pseudo-marks: one thumb moves a genre's affinity less than ten agreeing thumbs
CLOSE = 10  # see Ranker.close
KNN_RAMP = 5  # the neighbours weigh seeds / (seeds + KNN_RAMP) of RANKER.knn: they earn their say with marks
WATCH_URL = "https://www.justwatch.com/us/search?q={}"  # a search on a streaming guide: no key, no scraping
COLUMNS = ["rank", "title", "year", "rating", "votes", "runtime", "genres", "weighted_rating", "url", "tconst"]


@dataclass(frozen=True)
class Ranker:
    """The blend's weights (each signal is scaled 0-1 first). The defaults were chosen on tuning people only
    (`python -m benchmarks.recommend_offline --tune`, benchmarks/README.md): like counts and votes beat IMDb's
    rating as a prior, the neighbours add most of the personal gain, variety costs nothing measurable."""
    rating: float = 0.2  # IMDb weighted rating
    votes: float = 0.2  # log IMDb votes: how widely seen
    likes: float = 0.6  # log MovieLens likes: how widely liked by people who rate films
    knn: float = 2.0  # nearness, by co-ratings (cosine), to the person's seen and liked films
    lift: float = 0.0  # how much the person's seen and liked films lift it by EASE^R weights (0: measured no gain on
    # tuning people, so the shipped file carries none; `python -m fer.neighbours build --lift-k 100` adds them)
    up: float = 3.0  # a thumbed-up film's weight as a neighbour seed (a seen film weighs 1)
    down: float = -1.0  # a thumbed-down film's
    close: float = 2.0  # the CLOSE nearest neighbours of each seed count again with this weight: the films most
    # like the person's lead among the many loosely like them
    affinity: float = AFFINITY  # the person's genre and decade taste
    diversity: float = DIVERSITY  # MMR
    cold_diversity: float = 0.1  # MMR for a person with no seen or liked film yet (a list from the priors alone)


RANKER = Ranker()
PAPER = Ranker(rating=1, votes=0, likes=0, knn=0, close=0, affinity=0, diversity=0, cold_diversity=0)  # paper's list


def recommend(probs: dict[str, float], mapping: dict[str, str], movies: pd.DataFrame, profile=None, n: int = 50,
              mix: bool = False, years: tuple[int, int] | None = None, min_rating: float | None = None,
              runtime: tuple[int, int] | None = None, hide_seen: bool = True, diverse: bool = True,
              neighbours: Neighbours | None = None, ranker: Ranker = RANKER,
              learnt_genres: bool = True) -> pd.DataFrame:
    """The top-n for a reading (`probs`: emotion -> probability) as a DataFrame with a `reason` per film, the
    `mood` (emotion) whose list brought it, the `list_genre` it stands for, `genre_source` ("mapping" or "learnt")
    and its `score`; `attrs["genres"]` holds every genre of the list, genre -> "mapping" or "learnt", leading first.
    The first n of a longer list are the shorter list (the page ranks 100 and shows 50).

    mix=False: the winning emotion's genre(s); mix=True: the genres of the leading emotions, weighted by their
    probabilities. The mapping's genre leads each mood's list; learnt_genres=True lets the genres this person's
    thumbs taught a mood join it as a labelled share (at most preferences.LEARNT_SHARE), False keeps the list to
    the mapping's genres. `profile` (fer.profiles.store.Profile): seen films are left out (hide_seen),
    thumbed-down films always; seen and thumbed films seed the learnt item weights, thumbs tilt genres, and thumbs
    given in a mood teach that mood's genres. Filters: years and runtime (minutes) as inclusive (low, high),
    min_rating on IMDb's 0-10 scale. diverse=False: plain score order, no MMR. `neighbours`: the learnt file
    (default: the shipped one); `ranker`: the blend's weights (PAPER: the paper's list, IMDb's rating alone).
    """
    ix = index(movies)
    lt = learnt(movies, shipped() if neighbours is None else neighbours)
    marks, seen, hidden = marked(profile, hide_seen)
    moods = profile.mood_ratings() if profile is not None else {}
    taste_genre, taste_decade, liked = _taste(ix, marks)
    weights, source = mood_genres(probs, mapping, mix, ix, moods, taste_genre, learnt_genres)
    keep = (ix.genres[:, [GENRES.index(g) for g in weights]] > 0).any(1) & filter_mask(ix, years, min_rating,
                                                                                         runtime)
    keep[[ix.row[t] for t in hidden if t in ix.row]] = False
    score = ranker.rating * ix.base + ranker.votes * lt.votes + ranker.likes * lt.likes
    affinity = (ix.genres @ taste_genre) / np.maximum(ix.genres.sum(1), 1) + taste_decade[ix.decade // 10]
    score = score + ranker.affinity * affinity
    seeds, sources = _seeds(ix, ranker, marks, seen), []
    if seeds:
        # NOTE: a profile of one or two marks would otherwise turn the whole list into their neighbours.
        evidence = sum(w > 0 for w in seeds.values())
        ramp = evidence / (evidence + KNN_RAMP)
        for weight, nbr, sim in ((ranker.knn, lt.nbr, lt.sim), (ranker.close, lt.nbr[:, :CLOSE], lt.sim[:, :CLOSE]),
                                 (ranker.lift, lt.lift_nbr, lt.lift_sim)):
            near = nearness(lt.file_row, nbr, sim, seeds) if weight else np.zeros(0)
            top = near[keep].max(initial=0.0) if len(near) else 0.0
            if top > 0:
                score = score + weight * ramp / top * near
                sources.append((nbr, sim, weight * ramp / top))
    known = bool(seen) or any(r > 0 for r in marks.values())  # a person with a seen or liked film
    diversity = ranker.diversity if known else ranker.cold_diversity
    picked, picked_for = pick(keep, score, ix, n, weights, diversity if diverse else 0.0)
    out = movies.iloc[picked].reset_index(drop=True)
    tconst, titles = out["tconst"].tolist(), movies["title"].to_numpy()
    nearest, lift = because(lt.file_row, sources, seeds, picked)
    extra = pd.DataFrame({
        "watch_url": [WATCH_URL.format(quote_plus(t)) for t in out["title"]],
        "seen": [t in seen for t in tconst], "thumb": [marks.get(t, 0) for t in tconst],
        "mood": [source[g].emotion for g in picked_for], "list_genre": picked_for,
        "genre_source": ["learnt" if source[g].learnt else "mapping" for g in picked_for], "score": score[picked],
        "reason": [reason(row, genre, source[genre], liked, mapping, probs, mix,
                          None if s < 0 or w < LIFT else ("liked" if seeds[s] > 1 else "saw", titles[s]))
                   for row, genre, s, w in zip(out[["rating", "votes", "genres"]].itertuples(), picked_for, nearest,
                                               lift)]})
    out.insert(0, "rank", range(1, len(out) + 1))
    out["url"] = "https://www.imdb.com/title/" + out["tconst"] + "/"
    out = pd.concat([out[COLUMNS], extra], axis=1)
    out.attrs["genres"] = {g: "learnt" if source[g].learnt else "mapping" for g in weights}
    return out


def marked(profile: Profile | None, hide_seen: bool) -> tuple[dict[str, int], set[str], set[str]]:
    """A profile's thumbs (tconst -> +1/-1), its seen films, and the films a list leaves out: thumbed down always,
    seen ones when hide_seen (none without a profile)."""
    marks = profile.ratings() if profile is not None else {}
    seen = profile.seen() if profile is not None else set()
    return marks, seen, {t for t, r in marks.items() if r < 0} | (seen if hide_seen else set())


def _seeds(ix: Index, ranker: Ranker, marks: dict[str, int], seen: set[str]) -> dict[int, float]:
    """Catalogue row -> weight of the person's seen and thumbed films as seeds of the learnt item weights."""
    if not (ranker.knn or ranker.close or ranker.lift):
        return {}
    seeds = {ix.row[t]: 1.0 for t in seen if t in ix.row}
    for t, r in marks.items():
        if t in ix.row:
            seeds[ix.row[t]] = ranker.down if r < 0 else seeds.get(ix.row[t], 0.0) + ranker.up
    return seeds


def steady(previous: pd.DataFrame | None, fresh: pd.DataFrame, profile=None, hide_seen: bool = True,
           n: int = 50) -> pd.DataFrame:
    """The list to show after a mark: the films shown before keep their places (only those now hidden, seen or
    thumbed down, leave), and the fresh list's best fill the gaps at the end.

    Why: a mark re-ranks the fresh list (taste, neighbours), and a film that drops out of it loses its mark
    control on the server while the person may be clicking it: the click was lost (6-10 of 48 with six
    visitors clicking at once, benchmarks/concurrent_marks.py). Nothing moves under the cursor now; the
    re-ranked order shows with the next reading or filter."""
    if previous is None or previous.empty:
        return fresh.iloc[:n]
    marks, seen, hidden = marked(profile, hide_seen)
    kept = previous[~previous["tconst"].isin(hidden)]
    fill = fresh[~fresh["tconst"].isin(set(kept["tconst"]) | hidden)]  # `fresh` may predate the latest marks
    out = pd.concat([kept, fill], ignore_index=True).iloc[:n].copy()
    out["rank"] = range(1, len(out) + 1)
    out["seen"] = [t in seen for t in out["tconst"]]
    out["thumb"] = [marks.get(t, 0) for t in out["tconst"]]
    out.attrs = dict(fresh.attrs)
    return out


def nearness(file_row: np.ndarray, nbr: np.ndarray, sim: np.ndarray, seeds: dict[int, float]) -> np.ndarray:
    """Per catalogue row: the seeds' weighted similarity (or EASE weight) to it, from each seed's row of nbr/sim
    (`Learnt`: nbr/sim are the cosine neighbours, lift_nbr/lift_sim the EASE^R weights)."""
    out = np.zeros(len(file_row))
    if not seeds or not nbr.shape[1]:
        return out
    rows = np.fromiter(seeds, dtype=np.int64, count=len(seeds))
    w = np.fromiter(seeds.values(), dtype=float, count=len(seeds))
    f = file_row[rows]
    known = f >= 0
    near, strength = nbr[f[known]], sim[f[known]] * w[known, None]
    valid = near >= 0
    return np.bincount(near[valid], weights=strength[valid], minlength=len(out))


def _taste(ix: Index, marks: dict[str, int]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Per-genre and per-decade affinity in [-1, 1] from the person's thumbs, and liked counts per genre.

    Each is the mean thumb shrunk towards 0 by SHRINK pseudo-marks, so one thumb nudges and many agree.
    Decades are indexed by decade // 10 (0 for unknown years).
    """
    decades = np.zeros(int(ix.decade.max(initial=0)) // 10 + 1)
    rows = [ix.row[t] for t in marks if t in ix.row]
    if not rows:
        return np.zeros(len(GENRES)), decades, {}
    r = np.array([marks[t] for t in marks if t in ix.row], dtype=float)
    gm = ix.genres[rows]
    taste_genre = (gm * r[:, None]).sum(0) / (gm.sum(0) + SHRINK)
    liked = {GENRES[j]: int(((gm[:, j] > 0) & (r > 0)).sum()) for j in range(len(GENRES))}
    d = ix.decade[rows] // 10
    decades = np.bincount(d, weights=r, minlength=len(decades)) / (np.bincount(d, minlength=len(decades)) + SHRINK)
    return taste_genre, decades, liked



