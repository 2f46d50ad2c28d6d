"""The list a person sees: the mood's genre(s), their filters and marks, a re-rank by what they liked, and
variety, each film with one line saying why it is there. Pure functions of the catalogue and a profile.

Score of a film = its IMDb weighted rating (scaled 0-1 over the catalogue)
                + AFFINITY x how much the person liked its genres and its decade (from their thumbs).
The mood's genres (one, or in a mood mix one per leading emotion) take turns in proportion to their weight,
and maximal marginal relevance picks each turn's film: the best score minus a penalty for resembling the
films already picked (same franchise, same year, shared genres), so the list is varied.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from urllib.parse import quote_plus

import numpy as np
import pandas as pd

from fer.genres import GENRES

AFFINITY = 0.15  # weight of the person's taste against IMDb's rating (both on a 0-1 scale)
SHRINK = 2  # pseudo-marks: one thumb moves a genre's affinity less than ten agreeing thumbs
MIX_MIN = 0.1  # in a mood mix, emotions below this probability bring no genre
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
_INDEX_LOCK = threading.Lock()  # NOTE: the catalogue frame is shared by every session (st.cache_resource)


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


def recommend(probs: dict[str, float], mapping: dict[str, str], movies: pd.DataFrame, profile=None, n: int = 50,
              mix: bool = False, years: tuple[int, int] | None = None, min_rating: float | None = None,
              runtime: tuple[int, int] | None = None, hide_seen: bool = True, diverse: bool = True) -> pd.DataFrame:
    """The top-n for a reading (`probs`: emotion -> probability) as a DataFrame with a `reason` per film.

    mix=False: the winning emotion's genre (the paper's list); mix=True: the genres of the leading
    emotions, weighted by their probabilities. `profile` (fer.profile.Profile): seen films are left out
    (hide_seen), thumbed-down films always, and thumbs re-rank. Filters: years and runtime (minutes) as
    inclusive (low, high), min_rating on IMDb's 0-10 scale. diverse=False: plain score order, no MMR.
    """
    emotion = max(probs, key=probs.get)
    weights = mood_genres(probs, mapping, mix)
    ix = index(movies)
    marks = profile.ratings() if profile is not None else {}
    seen = profile.seen() if profile is not None else set()
    hidden = {t for t, r in marks.items() if r < 0} | (seen if hide_seen else set())
    cols = {g: GENRES.index(g) for g in weights}
    keep = (ix.genres[:, list(cols.values())] > 0).any(1) & filter_mask(ix, years, min_rating, runtime)
    keep[[ix.row[t] for t in hidden if t in ix.row]] = False
    taste_genre, taste_decade, liked = _taste(ix, marks)
    affinity = (ix.genres @ taste_genre) / np.maximum(ix.genres.sum(1), 1) + taste_decade[ix.decade // 10]
    score = ix.base + AFFINITY * affinity
    # Each genre brings POOL times its share of the list as candidates (its turns, plus room for variety).
    pool = np.unique(np.concatenate([_best(np.flatnonzero(keep & (ix.genres[:, c] > 0)), score,
                                           POOL * max(int(np.ceil(n * weights[g])), 10)) for g, c in cols.items()]))
    picked, picked_for = _pick(_best(pool, score, len(pool)), score, ix, n, weights, diverse)
    out = movies.iloc[picked].reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    out["url"] = "https://www.imdb.com/title/" + out["tconst"] + "/"
    out = out[COLUMNS]
    out["watch_url"] = [WATCH_URL.format(quote_plus(t)) for t in out["title"]]
    out["seen"] = [t in seen for t in out["tconst"]]
    out["thumb"] = [marks.get(t, 0) for t in out["tconst"]]
    out["reason"] = [_reason(row, genre, emotion, liked, mapping, probs, mix)
                     for row, genre in zip(out.itertuples(), picked_for)]
    return out


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


def mood_genres(probs: dict[str, float], mapping: dict[str, str], mix: bool) -> dict[str, float]:
    """Genre -> weight: the winner's genre alone, or in a mix each leading emotion's genre by its probability."""
    if not mix:
        return {mapping[max(probs, key=probs.get)]: 1.0}
    weights: dict[str, float] = {}
    for e, p in probs.items():
        if p >= MIX_MIN:
            weights[mapping[e]] = weights.get(mapping[e], 0.0) + p
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


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


def _pick(idx: np.ndarray, score: np.ndarray, ix: _Index, n: int, weights: dict[str, float],
          diverse: bool) -> tuple[list[int], list[str]]:
    """n films from the candidates, each with the mood genre it was picked for.

    Genres take turns by their weights (the one furthest below its share of the list so far goes next), so
    a mood mix of 60 % sad and 30 % happy gives about 60 % and 30 % of the list to their genres. Within a turn,
    maximal marginal relevance: the best score minus its resemblance to what is already picked (same franchise,
    same year, shared genres), unless diverse=False.
    """
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
        j = int(np.argmax(np.where(free & member[g], s - DIVERSITY * penalty * diverse, -np.inf)))
        chosen.append(int(idx[j]))
        chosen_for.append(g)
        taken[g] += 1
        free[j] = False
        penalty = np.maximum(penalty, sim[j])
    return chosen, chosen_for


def _reason(row, genre: str, emotion: str, liked: dict[str, int], mapping: dict[str, str],
            probs: dict[str, float], mix: bool) -> str:
    film_genres = str(row.genres).split(",")
    if mix:
        moods = [e for e in sorted(probs, key=probs.get, reverse=True) if mapping[e] == genre and probs[e] >= MIX_MIN]
        why = f"{genre} for {' + '.join(moods)} ({sum(probs[e] for e in moods):.0%} of your mood)"
    else:
        why = f"{genre} for {'an' if emotion[0] in 'aeiou' else 'a'} {emotion} mood"
    votes = f"{row.votes / 1e6:.1f} M" if row.votes >= 1e6 else f"{row.votes / 1e3:.0f} k"
    parts = [why, f"{row.rating:.1f}★ from {votes} votes"]
    fav = max((g for g in film_genres if liked.get(g, 0) > 0), key=lambda g: liked[g], default=None)
    if fav:
        parts.append(f"you liked {liked[fav]} {fav.lower()} film{'s' if liked[fav] > 1 else ''}")
    return " · ".join(parts)
