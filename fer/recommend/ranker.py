"""The list a person sees: the mood's genre(s), their filters and marks, a ranker that blends what IMDb and real
people's ratings say with what this person marked, and variety, each film with one line saying why it is there.
Pure functions of the catalogue, the learnt neighbours file (fer/recommend/neighbours.py) and a profile.

Score of a film = RANKER.rating x its IMDb weighted rating + RANKER.votes x its IMDb votes + RANKER.likes x how
                  many MovieLens people liked it (each scaled 0-1 over the catalogue)
                + RANKER.knn x how near it is, by people's co-ratings, to the films this person saw and liked
                  (ramped in over their first marks)
                + RANKER.affinity x how much the person liked its genres and its decade (from their thumbs).
The weights were chosen on tuning people only (python -m benchmarks.recommend_offline --tune); the figures on
the other people are in benchmarks/README.md. The mood's genres (fer/recommend/preferences.py: the mapping, or what this
person taught it per mood; in a mood mix one per leading emotion) take turns in proportion to their weight,
and maximal marginal relevance picks each turn's film: the best score minus a penalty for resembling the films
already picked (same franchise, same year, shared genres), so the list is varied.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote_plus

import numpy as np
import pandas as pd

from fer.genres import GENRES, genre_name
from fer.recommend.catalogue import load_catalogue
from fer.recommend.neighbours import Neighbours, shipped
from fer.recommend.preferences import mood_shares

AFFINITY = 0.15  # weight of the person's taste against IMDb's rating (both on a 0-1 scale)
SHRINK = 2  # pseudo-marks: one thumb moves a genre's affinity less than ten agreeing thumbs
MIX_MIN = 0.1  # in a mood mix, emotions below this probability bring no genre
KNN_RAMP = 5  # the neighbours weigh seeds / (seeds + KNN_RAMP) of RANKER.knn: they earn their say with marks
TASTE_GAIN = 1.0  # a mix genre's weight x exp(TASTE_GAIN x the person's taste for it, in [-1, 1])
DIVERSITY = 0.35  # MMR: how much resembling an already picked film costs
POOL = 4  # candidates per film to pick, from each genre's best-scored films
WATCH_URL = "https://www.justwatch.com/us/search?q={}"  # a search on a streaming guide: no key, no scraping
COLUMNS = ["rank", "title", "year", "rating", "votes", "runtime", "genres", "weighted_rating", "url", "tconst"]


@dataclass(frozen=True)
class _Index:
    """A catalogue's columns as arrays, built once per catalogue frame: the list re-renders on every reading."""
    genres: np.ndarray  # (films, GENRES) 0/1
    year: np.ndarray  # float, NaN when unknown
    decade: np.ndarray  # int, 0 when unknown
    rating: np.ndarray
    runtime: np.ndarray  # float, NaN when unknown
    base: np.ndarray  # weighted rating scaled to 0-1
    row: dict[str, int]  # tconst -> row
    franchise: np.ndarray  # int code per franchise key (see franchise())


_INDEX: dict[int, tuple[weakref.ref, _Index]] = {}
_INDEX_LOCK = threading.Lock()  # NOTE: the catalogue frame is shared by every session (fer/server/shared.py)


def index(movies: pd.DataFrame) -> _Index:
    """The arrays of this catalogue frame (cached while the frame lives; a new frame gets its own)."""
    key = id(movies)
    with _INDEX_LOCK:
        hit = _INDEX.get(key)
        if hit is not None and hit[0]() is movies:
            return hit[1]
    year = movies["year"].to_numpy(dtype=float, na_value=np.nan)
    wr = movies["weighted_rating"].to_numpy(dtype=float)
    built = _Index(
        genres=np.array([[g in set(str(gs).split(",")) for g in GENRES] for gs in movies["genres"]], dtype=float),
        year=year, decade=np.nan_to_num(year // 10 * 10, nan=0).astype(int),
        rating=movies["rating"].to_numpy(dtype=float),
        runtime=movies["runtime"].to_numpy(dtype=float, na_value=np.nan),
        base=(wr - wr.min()) / max(wr.max() - wr.min(), 1e-9) if len(wr) else wr,
        row={t: i for i, t in enumerate(movies["tconst"])},
        franchise=np.unique([franchise(t) for t in movies["title"]], return_inverse=True)[1].ravel())
    with _INDEX_LOCK:
        _INDEX[key] = (weakref.ref(movies, lambda _, k=key: _INDEX.pop(k, None)), built)
    return built


@dataclass(frozen=True)
class Ranker:
    """The blend's weights (each signal is scaled 0-1 first). The defaults were chosen on tuning people only
    (`python -m benchmarks.recommend_offline --tune`, benchmarks/README.md): like counts and votes beat IMDb's
    rating as a prior, the neighbours add most of the personal gain, variety costs nothing measurable."""
    rating: float = 0.2  # IMDb weighted rating
    votes: float = 0.2  # log IMDb votes: how widely seen
    likes: float = 0.6  # log MovieLens likes: how widely liked by people who rate films
    knn: float = 2.0  # nearness, by co-ratings, to the person's seen and liked films
    up: float = 3.0  # a thumbed-up film's weight as a neighbour seed (a seen film weighs 1)
    down: float = -1.0  # a thumbed-down film's
    affinity: float = AFFINITY  # the person's genre and decade taste
    diversity: float = DIVERSITY  # MMR


RANKER = Ranker()


@dataclass(frozen=True)
class _Learnt:
    """A neighbours file laid over one catalogue frame's rows."""
    votes: np.ndarray  # log IMDb votes scaled 0-1
    likes: np.ndarray  # log(1 + MovieLens likes) scaled 0-1; 0 for films the file does not know
    file_row: np.ndarray  # catalogue row -> neighbours row, -1 when unknown
    nbr: np.ndarray  # (neighbours rows, K) -> catalogue row, -1 when not in the catalogue
    sim: np.ndarray  # (neighbours rows, K)


_LEARNT: dict[tuple[int, int], tuple[weakref.ref, weakref.ref, _Learnt]] = {}


def learnt(movies: pd.DataFrame, nb: Neighbours) -> _Learnt:
    """`nb` over this catalogue frame (cached while both live)."""
    key = (id(movies), id(nb))
    with _INDEX_LOCK:
        hit = _LEARNT.get(key)
        if hit is not None and hit[0]() is movies and hit[1]() is nb:
            return hit[2]
    ix = index(movies)
    votes = np.log1p(movies["votes"].to_numpy(dtype=float))
    file_row = np.full(len(movies), -1)
    nb_row = np.array([ix.row.get(t, -1) for t in nb.tconst], dtype=np.int64)
    file_row[nb_row[nb_row >= 0]] = np.flatnonzero(nb_row >= 0)
    likes = np.zeros(len(movies))
    likes[nb_row[nb_row >= 0]] = np.log1p(nb.likes[nb_row >= 0])
    nbr = np.where(nb.nbr >= 0, nb_row[nb.nbr], -1) if len(nb_row) else nb.nbr
    built = _Learnt(votes=_unit(votes), likes=_unit(likes), file_row=file_row, nbr=nbr, sim=nb.sim)

    def drop(_, k=key):
        with _INDEX_LOCK:
            _LEARNT.pop(k, None)
    with _INDEX_LOCK:
        _LEARNT[key] = (weakref.ref(movies, drop), weakref.ref(nb, drop), built)
    return built


def _unit(x: np.ndarray) -> np.ndarray:
    return (x - x.min()) / max(x.max() - x.min(), 1e-9) if len(x) else x


def recommend(probs: dict[str, float], mapping: dict[str, str], movies: pd.DataFrame, profile=None, n: int = 50,
              mix: bool = False, years: tuple[int, int] | None = None, min_rating: float | None = None,
              runtime: tuple[int, int] | None = None, hide_seen: bool = True, diverse: bool = True,
              neighbours: Neighbours | None = None, ranker: Ranker = RANKER) -> pd.DataFrame:
    """The top-n for a reading (`probs`: emotion -> probability) as a DataFrame with a `reason` per film and the
    `mood` (emotion) whose list brought it.

    mix=False: the winning emotion's genre(s); mix=True: the genres of the leading emotions, weighted by their
    probabilities. `profile` (fer.profiles.store.Profile): seen films are left out (hide_seen), thumbed-down films
    always; seen and thumbed films seed the neighbours, thumbs tilt genres, and thumbs given in a mood teach
    that mood's genres. Filters: years and runtime (minutes) as inclusive (low, high), min_rating on IMDb's 0-10
    scale. diverse=False: plain score order, no MMR. `neighbours`: the learnt file (default: the shipped one).
    """
    ix = index(movies)
    lt = learnt(movies, shipped() if neighbours is None else neighbours)
    marks = profile.ratings() if profile is not None else {}
    seen = profile.seen() if profile is not None else set()
    moods = profile.mood_ratings() if profile is not None else {}
    taste_genre, taste_decade, liked = _taste(ix, marks)
    weights, source = mood_genres(probs, mapping, mix, ix, moods, taste_genre)
    hidden = {t for t, r in marks.items() if r < 0} | (seen if hide_seen else set())
    keep = (ix.genres[:, [GENRES.index(g) for g in weights]] > 0).any(1) & filter_mask(ix, years, min_rating,
                                                                                         runtime)
    keep[[ix.row[t] for t in hidden if t in ix.row]] = False
    score = ranker.rating * ix.base + ranker.votes * lt.votes + ranker.likes * lt.likes
    affinity = (ix.genres @ taste_genre) / np.maximum(ix.genres.sum(1), 1) + taste_decade[ix.decade // 10]
    score = score + ranker.affinity * affinity
    seeds: dict[int, float] = {}
    if ranker.knn:
        seeds = {ix.row[t]: 1.0 for t in seen if t in ix.row}
        for t, r in marks.items():
            if t in ix.row:
                seeds[ix.row[t]] = ranker.down if r < 0 else seeds.get(ix.row[t], 0.0) + ranker.up
        near = nearness(lt, seeds)
        top = near[keep].max(initial=0.0)
        if top > 0:
            # NOTE: a profile of one or two marks would otherwise turn the whole list into their neighbours.
            evidence = sum(w > 0 for w in seeds.values())
            score = score + ranker.knn * evidence / (evidence + KNN_RAMP) * near / top
    picked, picked_for = pick(keep, score, ix, n, weights, ranker.diversity if diverse else 0.0)
    out = movies.iloc[picked].reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    out["url"] = "https://www.imdb.com/title/" + out["tconst"] + "/"
    out = out[COLUMNS]
    out["watch_url"] = [WATCH_URL.format(quote_plus(t)) for t in out["title"]]
    out["seen"] = [t in seen for t in out["tconst"]]
    out["thumb"] = [marks.get(t, 0) for t in out["tconst"]]
    out["mood"] = [source[g].emotion for g in picked_for]
    nearest = because(lt, seeds, picked)
    titles = movies["title"].to_numpy()
    out["reason"] = [_reason(row, genre, source[genre], liked, mapping, probs, mix,
                             None if s < 0 else ("liked" if seeds[s] > 1 else "saw", titles[s]))
                     for row, genre, s in zip(out.itertuples(), picked_for, nearest)]
    return out


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
    marks = profile.ratings() if profile is not None else {}
    seen = profile.seen() if profile is not None else set()
    hidden = {t for t, r in marks.items() if r < 0} | (seen if hide_seen else set())
    kept = previous[~previous["tconst"].isin(hidden)]
    fill = fresh[~fresh["tconst"].isin(set(kept["tconst"]) | hidden)]  # `fresh` may predate the latest marks
    out = pd.concat([kept, fill], ignore_index=True).iloc[:n].copy()
    out["rank"] = range(1, len(out) + 1)
    out["seen"] = [t in seen for t in out["tconst"]]
    out["thumb"] = [marks.get(t, 0) for t in out["tconst"]]
    return out


def nearness(lt: _Learnt, seeds: dict[int, float]) -> np.ndarray:
    """Per catalogue row: the seeds' weighted similarity to it (item-kNN), from each seed's nearest films."""
    out = np.zeros(len(lt.file_row))
    if not seeds:
        return out
    rows = np.fromiter(seeds, dtype=np.int64, count=len(seeds))
    w = np.fromiter(seeds.values(), dtype=float, count=len(seeds))
    f = lt.file_row[rows]
    known = f >= 0
    nbr, sim = lt.nbr[f[known]], lt.sim[f[known]] * w[known, None]
    valid = nbr >= 0
    return np.bincount(nbr[valid], weights=sim[valid], minlength=len(out))


def because(lt: _Learnt, seeds: dict[int, float], rows: list[int]) -> np.ndarray:
    """Per row: the seed (catalogue row) whose neighbour it most is, weighted as in nearness; -1 for none."""
    good = [r for r, w in seeds.items() if w > 0 and lt.file_row[r] >= 0]
    if not good or not rows:
        return np.full(len(rows), -1)
    seed = np.repeat(good, lt.nbr.shape[1])
    nbr = lt.nbr[lt.file_row[good]].ravel()
    strength = (lt.sim[lt.file_row[good]] * np.array([seeds[r] for r in good])[:, None]).ravel()
    wanted = np.zeros(len(lt.file_row) + 1, bool)  # the extra last slot stands for -1 (no neighbour)
    wanted[rows] = True
    hit = np.flatnonzero(wanted[nbr])
    hit = hit[np.argsort(-strength[hit], kind="stable")]
    films, first = np.unique(nbr[hit], return_index=True)  # each film's strongest seed
    best = dict(zip(films.tolist(), seed[hit[first]].tolist()))
    return np.array([best.get(r, -1) for r in rows])


def filter_mask(ix: _Index, years: tuple[int, int] | None = None, min_rating: float | None = None,
                runtime: tuple[int, int] | None = None) -> np.ndarray:
    """Films inside the filters; a film with an unknown year or runtime is outside a range filter on it."""
    keep = np.ones(len(ix.rating), bool)
    if years is not None:
        keep &= (ix.year >= years[0]) & (ix.year <= years[1])
    if min_rating is not None:
        keep &= ix.rating >= min_rating
    if runtime is not None:
        keep &= (ix.runtime >= runtime[0]) & (ix.runtime <= runtime[1])
    return keep


class Why(NamedTuple):
    """Why a genre is in the list: the emotion that brings it most, the likes the person gave it in that mood,
    and whether that mood's list is exploring (the person turned its genres down)."""
    emotion: str
    taught: int = 0
    exploring: bool = False


def mood_genres(probs: dict[str, float], mapping: dict[str, str], mix: bool, ix: _Index | None = None,
                moods: dict[str, dict[str, int]] | None = None,
                taste: np.ndarray | None = None) -> tuple[dict[str, float], dict[str, Why]]:
    """Genre -> weight in the list, and genre -> why it is there.

    Each emotion brings its genres (fer/recommend/preferences.py: the mapping's, or those this person taught it through
    `moods`, emotion -> {film: thumb}); the winner alone, or in a mix every emotion of at least MIX_MIN by its
    probability. The person's genre taste (`taste`, from all their thumbs) then tilts the weights by
    exp(TASTE_GAIN x taste), so thumbs move a mood mix.
    """
    emotions = {e: p for e, p in probs.items() if p >= MIX_MIN} if mix else {max(probs, key=probs.get): 1.0}
    weights: dict[str, float] = {}
    source: dict[str, Why] = {}
    best: dict[str, float] = {}
    for e, p in sorted(emotions.items(), key=lambda kv: -kv[1]):
        taught = {t: r for t, r in (moods or {}).get(e, {}).items() if ix is not None and t in ix.row}
        shares, likes, exploring = {mapping[e]: 1.0}, {}, False
        if taught:
            shares, likes, exploring = mood_shares(mapping[e], ix.genres[[ix.row[t] for t in taught]],
                                                   np.array(list(taught.values()), dtype=float))
        for g, share in shares.items():
            weights[g] = weights.get(g, 0.0) + p * share
            if p * share > best.get(g, 0.0):
                best[g] = p * share
                source[g] = Why(e, likes.get(g, 0) if g != mapping[e] else 0, exploring and not likes.get(g, 0))
    if taste is not None:
        weights = {g: w * float(np.exp(TASTE_GAIN * taste[GENRES.index(g)])) for g, w in weights.items()}
    total = sum(weights.values())
    return {g: w / total for g, w in weights.items()}, source


def _taste(ix: _Index, marks: dict[str, int]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
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


def franchise(title: str) -> str:
    """A rough franchise key: the title before ':' without a trailing sequel number ("The Godfather Part II")."""
    head = str(title).split(":")[0].lower().strip()
    return re.sub(r"(\s+(part\s+)?([0-9]+|[ivx]+))+$", "", head)


def _best(rows: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """The k best-scored rows, best first (ties keep catalogue order, i.e. IMDb's weighted rating)."""
    return rows[np.argsort(-score[rows], kind="stable")][:k]


def pick(keep: np.ndarray, score: np.ndarray, ix: _Index, n: int, weights: dict[str, float],
         diversity: float = DIVERSITY) -> tuple[list[int], list[str]]:
    """n rows among `keep`, best first by `score`, each with the mood genre it was picked for.

    Each genre brings POOL times its share of the list as candidates (its turns, plus room for variety).
    Genres take turns by their weights (the one furthest below its share of the list so far goes next), so
    a mood mix of 60 % sad and 30 % happy gives about 60 % and 30 % of the list to their genres. Within a turn,
    maximal marginal relevance: the best score minus `diversity` x its resemblance to what is already picked
    (same franchise, same year, shared genres); diversity=0 is plain score order.
    """
    cols = {g: GENRES.index(g) for g in weights}
    idx = np.unique(np.concatenate([_best(np.flatnonzero(keep & (ix.genres[:, c] > 0)), score,
                                          POOL * max(int(np.ceil(n * weights[g])), 10)) for g, c in cols.items()]))
    idx = _best(idx, score, len(idx))
    if not len(idx):
        return [], []
    cg = ix.genres[idx]
    inter = cg @ cg.T
    union = cg.sum(1)[:, None] + cg.sum(1)[None, :] - inter
    year, keys = ix.year[idx], ix.franchise[idx]
    sim = 0.4 * inter / np.maximum(union, 1) + 0.3 * (year[:, None] == year[None, :]) \
        + 1.0 * (keys[:, None] == keys[None, :])
    np.fill_diagonal(sim, 0)
    s = score[idx]
    genres = sorted(weights, key=weights.get, reverse=True)
    member = {g: cg[:, GENRES.index(g)] > 0 for g in genres}
    taken = dict.fromkeys(genres, 0)
    chosen, chosen_for, penalty = [], [], np.zeros(len(idx))
    free = np.ones(len(idx), bool)
    for k in range(min(n, len(idx))):
        open_genres = [g for g in genres if (free & member[g]).any()]
        g = max(open_genres, key=lambda g: weights[g] * (k + 1) - taken[g])
        j = int(np.argmax(np.where(free & member[g], s - diversity * penalty, -np.inf)))
        chosen.append(int(idx[j]))
        chosen_for.append(g)
        taken[g] += 1
        free[j] = False
        penalty = np.maximum(penalty, sim[j])
    return chosen, chosen_for


def _reason(row, genre: str, why: Why, liked: dict[str, int], mapping: dict[str, str], probs: dict[str, float],
            mix: bool, near: tuple[str, str] | None = None) -> str:
    film_genres = str(row.genres).split(",")
    if why.taught:
        why_text = f"{genre}: you liked {why.taught} {genre.lower()} film{'s' if why.taught > 1 else ''} when " \
            f"{why.emotion}"
    elif why.exploring:
        why_text = f"{genre}: trying other genres when {why.emotion} (you turned down " \
            f"{mapping[why.emotion].lower()} films)"
    elif mix:
        moods = [e for e in sorted(probs, key=probs.get, reverse=True) if mapping[e] == genre and probs[e] >= MIX_MIN]
        why_text = f"{genre} for {' + '.join(moods)} ({sum(probs[e] for e in moods):.0%} of your mood)"
    else:
        why_text = f"{genre} for {'an' if why.emotion[0] in 'aeiou' else 'a'} {why.emotion} mood"
    votes = f"{row.votes / 1e6:.1f} M" if row.votes >= 1e6 else f"{row.votes / 1e3:.0f} k"
    parts = [why_text, f"{row.rating:.1f}★ from {votes} votes"]
    if near:
        parts.append(f"because you {near[0]} {near[1]}")
    fav = max((g for g in film_genres if liked.get(g, 0) > 0), key=lambda g: liked[g], default=None)
    if fav:
        parts.append(f"you liked {liked[fav]} {fav.lower()} film{'s' if liked[fav] > 1 else ''}")
    return " · ".join(parts)


def top_movies(genre: str, n: int = 50, movies: pd.DataFrame | None = None, year_min: int | None = None,
               year_max: int | None = None, min_rating: float | None = None) -> pd.DataFrame:
    """The n best movies of a genre by IMDb weighted rating (the paper's list), with rank and IMDb link."""
    genre = genre_name(genre)
    if movies is None:
        movies, _ = load_catalogue()
    ix = index(movies)
    years = None if year_min is None and year_max is None else \
        (-np.inf if year_min is None else year_min, np.inf if year_max is None else year_max)
    rows = np.flatnonzero((ix.genres[:, GENRES.index(genre)] > 0) & filter_mask(ix, years, min_rating))
    top = movies.iloc[rows[np.argsort(-ix.base[rows], kind="stable")][:n]].reset_index(drop=True)
    top.insert(0, "rank", range(1, len(top) + 1))
    top["url"] = "https://www.imdb.com/title/" + top["tconst"] + "/"
    return top[COLUMNS]
