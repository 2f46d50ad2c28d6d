"""A catalogue frame, and a learnt file laid over it, as arrays: built once per frame and shared by every session
(the list re-renders on every reading), with the filters and the franchise key the ranker needs."""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fer.genres import GENRES
from fer.recommend.neighbours import Neighbours


@dataclass(frozen=True)
class Index:
    """A catalogue's columns as arrays."""
    genres: np.ndarray  # (films, GENRES) 0/1
    year: np.ndarray  # float, NaN when unknown
    decade: np.ndarray  # int, 0 when unknown
    rating: np.ndarray
    runtime: np.ndarray  # float, NaN when unknown
    base: np.ndarray  # weighted rating scaled to 0-1
    row: dict[str, int]  # tconst -> row
    franchise: np.ndarray  # int code per franchise key (see franchise())
    years: tuple[int, int]  # the first and last known year ((0, 0): none known): the year filter's extent
    top_rating: float  # the best film's IMDb rating (0: none): where the rating filter ends


_INDEX: dict[int, tuple[weakref.ref, Index]] = {}
# NOTE: the catalogue frame is shared by every session (fer/server/shared.py). Reentrant: a garbage collection in a
# thread that holds it may run a weakref callback below, which takes it again.
_LOCK = threading.RLock()


def index(movies: pd.DataFrame) -> Index:
    """The arrays of this catalogue frame (cached while the frame lives; a new frame gets its own)."""
    key = id(movies)
    with _LOCK:
        hit = _INDEX.get(key)
        if hit is not None and hit[0]() is movies:
            return hit[1]
    year = movies["year"].to_numpy(dtype=float, na_value=np.nan)
    wr = movies["weighted_rating"].to_numpy(dtype=float)
    rating = movies["rating"].to_numpy(dtype=float)
    known = year[np.isfinite(year)]
    built = Index(
        genres=np.array([[g in set(str(gs).split(",")) for g in GENRES] for gs in movies["genres"]], dtype=float),
        year=year, decade=np.nan_to_num(year // 10 * 10, nan=0).astype(int),
        rating=rating,
        runtime=movies["runtime"].to_numpy(dtype=float, na_value=np.nan),
        base=unit(wr), row={t: i for i, t in enumerate(movies["tconst"])},
        franchise=np.unique([franchise(t) for t in movies["title"]], return_inverse=True)[1].ravel(),
        years=(int(known.min()), int(known.max())) if len(known) else (0, 0),
        top_rating=float(np.nanmax(rating)) if np.isfinite(rating).any() else 0.0)
    with _LOCK:
        _INDEX[key] = (weakref.ref(movies, lambda _, k=key: _INDEX.pop(k, None)), built)
    return built


@dataclass(frozen=True)
class Learnt:
    """A neighbours file laid over one catalogue frame's rows."""
    votes: np.ndarray  # log IMDb votes scaled 0-1
    likes: np.ndarray  # log(1 + MovieLens likes) scaled 0-1; 0 for films the file does not know
    file_row: np.ndarray  # catalogue row -> neighbours row, -1 when unknown
    nbr: np.ndarray  # (neighbours rows, K) -> catalogue row, -1 when not in the catalogue: cosine neighbours
    sim: np.ndarray  # (neighbours rows, K) their similarity
    lift_nbr: np.ndarray  # (neighbours rows, L) -> catalogue row: the films it lifts most by EASE^R weights
    lift_sim: np.ndarray  # (neighbours rows, L) those weights


_LEARNT: dict[tuple[int, int], tuple[weakref.ref, weakref.ref, Learnt]] = {}


def learnt(movies: pd.DataFrame, nb: Neighbours) -> Learnt:
    """`nb` over this catalogue frame (cached while both live)."""
    key = (id(movies), id(nb))
    with _LOCK:
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
    lift_nbr = np.where(nb.lift_nbr >= 0, nb_row[nb.lift_nbr], -1) if len(nb_row) else nb.lift_nbr
    built = Learnt(votes=unit(votes), likes=unit(likes), file_row=file_row, nbr=nbr, sim=nb.sim, lift_nbr=lift_nbr,
                   lift_sim=nb.lift_sim)

    def drop(_, k=key):
        with _LOCK:
            _LEARNT.pop(k, None)
    with _LOCK:
        _LEARNT[key] = (weakref.ref(movies, drop), weakref.ref(nb, drop), built)
    return built


def unit(x: np.ndarray) -> np.ndarray:
    """x scaled to 0-1 over its range."""
    return (x - x.min()) / max(x.max() - x.min(), 1e-9) if len(x) else x


def filter_mask(ix: Index, years: tuple[float, float] | None = None, min_rating: float | None = None,
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


def franchise(title: str) -> str:
    """A rough franchise key: the title before ':' without a trailing sequel number ("The Godfather Part II")."""
    head = str(title).split(":")[0].lower().strip()
    return re.sub(r"(\s+(part\s+)?([0-9]+|[ivx]+))+$", "", head)
