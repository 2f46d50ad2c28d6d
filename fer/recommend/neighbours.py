"""What real people's ratings teach the ranker: how many people liked each film, and each film's nearest films
by co-ratings (people who rated one mostly rated the other too). Learnt from MovieLens ratings linked to IMDb
ids, shipped as one compact file (`data/neighbours.npz`) under MovieLens' terms: research and non-commercial
use, GroupLens acknowledged (data/README.md).

    python -m fer.neighbours build [--ratings ../shared/datasets/movielens-dev] [--out data/neighbours.npz] [--k 50]

`learn` builds the shipped file; benchmarks/recommend_baselines.py builds, from the same pieces (rating_matrix,
cosine_neighbours, fit_ease), the model of each held-out person from other people's earlier ratings only.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from fer.files import ROOT, atomic_write

DEFAULT_NEIGHBOURS = ROOT / "data" / "neighbours.npz"
DEFAULT_RATINGS = ROOT.parent / "shared" / "datasets" / "movielens-dev"
LIKE = 4.0  # a MovieLens rating (0.5-5 stars) at or above this is a like
K = 50  # neighbours kept per film
SHRINK = 10.0  # cosine's denominator + SHRINK: a pair few people rated together counts for less
LAMBDA = 100.0  # EASE^R's L2 weight in files built with `--lift-k N`. The shipped file holds no EASE weights (LIFT_K
# 0; its meta has no lam), so no λ shaped it and none is read back. The benchmark's EASE^R (its baseline and the lift
# of the files it builds) uses recommend_baselines.EASE_LAMBDA, 400, chosen on tuning people: baseline hit@50 0.808
# against 0.787 at 100 (`python -m benchmarks.recommend_offline --tune --people 40`, benchmarks/README.md). As the
# ranker's lift (neighbours 2 + weights 1) neither won both figures (hit / NDCG@50 0.833 / 0.234 at 400, 0.829 /
# 0.237 at 100), so 100 stays.
MIN_RATERS = 5  # EASE learns about films at least this many people rated
LIFT_K = 0  # EASE weights kept per film in the shipped file: none, as they added nothing measurable on tuning people
# (benchmarks/README.md, "Does the list predict what people like?"); `--lift-k 100` ships them (1.5 MB)
LICENCE = ("Derived from MovieLens ml-latest-small (GroupLens Research, University of Minnesota): research and "
           "non-commercial use only, redistributed under the same terms; see data/README.md. F. M. Harper and "
           "J. A. Konstan, 2015, The MovieLens Datasets: History and Context, ACM TiiS 5(4):19.")


ATTRIBUTION = ("Ranking learnt from MovieLens ratings (GroupLens Research, University of Minnesota; "
               "https://grouplens.org), non-commercial use.")


class NeighboursError(ValueError):
    """The neighbours file is missing or not one; the message is one sentence."""


@dataclass(frozen=True)
class Neighbours:
    tconst: np.ndarray  # (films,) IMDb ids
    likes: np.ndarray  # (films,) how many people rated the film >= LIKE
    raters: np.ndarray  # (films,) how many people rated it at all
    nbr: np.ndarray  # (films, K) index into tconst of the nearest films, best first; -1 pads
    sim: np.ndarray  # (films, K) their similarity in [0, 1)
    meta: dict
    lift_nbr: np.ndarray | None = None  # (films, L) the films each film lifts most by EASE^R weights; -1 pads
    lift_sim: np.ndarray | None = None  # (films, L) those weights (> 0)

    def __post_init__(self):
        for name in ("lift_nbr", "lift_sim"):  # no EASE weights: none for any film
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros((len(self.tconst), 0), np.int32 if "nbr" in name
                                                        else np.float32))

    @classmethod
    def empty(cls) -> Neighbours:
        """No learnt knowledge: the ranker falls back to IMDb's figures alone."""
        return cls(np.array([], "U12"), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros((0, K), np.int32),
                   np.zeros((0, K), np.float32), {"people": 0, "ratings": 0})


EMPTY = Neighbours.empty()  # one object, so the arrays laid over a catalogue are cached for it too


def read_movielens(folder: str | Path = DEFAULT_RATINGS) -> pd.DataFrame:
    """MovieLens' ratings.csv joined to IMDb ids through links.csv: columns user, tconst, rating, time."""
    folder = Path(folder)
    try:
        ratings = pd.read_csv(folder / "ratings.csv", dtype={"userId": np.int64, "movieId": np.int64,
                                                            "rating": float, "timestamp": np.int64})
        links = pd.read_csv(folder / "links.csv", dtype={"movieId": np.int64, "imdbId": str}, usecols=[0, 1])
    except (OSError, ValueError, KeyError) as e:
        raise NeighboursError(f"{folder}: not MovieLens ratings.csv + links.csv ({e}).") from None
    links["tconst"] = "tt" + links["imdbId"].str.zfill(7)
    out = ratings.merge(links[["movieId", "tconst"]], on="movieId")
    return out.rename(columns={"userId": "user", "timestamp": "time"})[["user", "tconst", "rating", "time"]]


def learn(ratings: pd.DataFrame, films: set[str] | None = None, k: int = K, lift_k: int = LIFT_K,
          lam: float = LAMBDA, min_raters: int = MIN_RATERS) -> Neighbours:
    """Like counts and the k nearest films of each film from (user, tconst, rating) rows; `films` limits the
    films learnt about (the catalogue's: the list can show no other). With lift_k, per film also the lift_k films
    it lifts most by EASE^R weights (positive ones only) over the films at least `min_raters` people rated (fewer
    raters teach too little, and the inverse costs the cube of the films kept). What the shipped file holds.

    Similarity: cosine between two films' sets of raters, shrunk by SHRINK (item-kNN on implicit feedback).
    """
    counts, x = rating_matrix(ratings, films)  # once, for both halves
    nb = cosine_neighbours(counts, x, k)
    if not lift_k:
        return nb
    keep, b = fit_ease(counts, x, lam, min_raters)
    lifted = with_lift(nb, ease_neighbours(counts, keep, b, lift_k))
    lifted.meta.update(method="ease", lam=lam, min_raters=min_raters)  # with_lift's own dict: counts' is untouched
    return lifted


def cosine_neighbours(counts: Neighbours, x: np.ndarray, k: int = K) -> Neighbours:
    """Counts with each film's k nearest films by cosine over x's columns (rating_matrix)."""
    raters = counts.raters.astype(np.float32)
    co = x.T @ x  # (films, films) people who rated both
    sim = co / (np.sqrt(np.outer(raters, raters)) + SHRINK)
    np.fill_diagonal(sim, 0.0)
    nbr, s = _top(sim, k)
    return Neighbours(counts.tconst, counts.likes, counts.raters, nbr, s, counts.meta)


def rating_matrix(ratings: pd.DataFrame, films: set[str] | None = None) -> tuple[Neighbours, np.ndarray]:
    """Per film (sorted ids) its raters and likes, as neighbours without neighbours, and the (people, films) 0/1
    matrix of who rated what (its one build: `cosine_neighbours` and `fit_ease` take what it returns)."""
    if films is not None:
        ratings = ratings[ratings["tconst"].isin(films)]
    codes, tconst = pd.factorize(ratings["tconst"], sort=True)
    users = pd.factorize(ratings["user"])[0]
    n, m = len(tconst), int(users.max(initial=-1)) + 1
    x = np.zeros((m, n), np.float32)
    x[users, codes] = 1.0
    likes = np.bincount(codes, weights=ratings["rating"].to_numpy() >= LIKE, minlength=n)
    return Neighbours(np.asarray(tconst, dtype="U12"), likes.astype(np.int32), x.sum(0).astype(np.int32),
                      np.zeros((n, 0), np.int32), np.zeros((n, 0), np.float32),
                      {"people": int(m), "ratings": int(len(ratings))}), x


def _top(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the columns of its k largest positive weights, largest first (-1 pads), and those weights."""
    n = weights.shape[0]
    k = min(k, max(weights.shape[1] - 1, 0))
    if not k:
        return np.zeros((n, 0), np.int32), np.zeros((n, 0), np.float32)
    top = np.argpartition(-weights, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(weights, top, 1), axis=1, kind="stable")
    nbr = np.take_along_axis(top, order, 1).astype(np.int32)
    s = np.take_along_axis(weights, nbr, 1).astype(np.float32)
    nbr[s <= 0] = -1
    s[s <= 0] = 0
    return nbr, s


def ease_weights(x: np.ndarray, lam: float = LAMBDA) -> np.ndarray:
    """EASE^R's item-to-item weights (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019) from a
    (people, films) 0/1 matrix: B = I - P / diag(P), P = (X^T X + lam I)^-1, so B's diagonal is 0.
    B[i, j] is how much having seen film i predicts film j, every other seen film accounted for (no film or one:
    an empty or zero B, numpy's inverse takes both)."""
    gram = (x.T @ x).astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


def with_lift(nb: Neighbours, ease: Neighbours) -> Neighbours:
    """nb with ease's neighbours as its EASE^R lift (both learnt from the same ratings)."""
    return Neighbours(nb.tconst, nb.likes, nb.raters, nb.nbr, nb.sim, {**nb.meta, **ease.meta}, ease.nbr, ease.sim)


def fit_ease(counts: Neighbours, x: np.ndarray, lam: float = LAMBDA,
             min_raters: int = MIN_RATERS) -> tuple[np.ndarray, np.ndarray]:
    """From rating_matrix's (counts, x): the films EASE^R learns about (indices into counts.tconst; those at least
    min_raters people rated) and their full weights (ease_weights: none or one film kept gives zeros)."""
    keep = np.flatnonzero(counts.raters >= min_raters)
    return keep, ease_weights(x[:, keep], lam)


def ease_neighbours(counts: Neighbours, keep: np.ndarray, b: np.ndarray, k: int = K) -> Neighbours:
    """The k largest positive weights of each kept film's row of b, as a neighbours file over counts' films."""
    nbr = np.full((len(counts.tconst), k), -1, np.int32)
    sim = np.zeros((len(counts.tconst), k), np.float32)
    top, w = _top(b, k)
    nbr[keep, :top.shape[1]] = np.where(top >= 0, keep[top], -1)
    sim[keep, :top.shape[1]] = w
    return Neighbours(counts.tconst, counts.likes, counts.raters, nbr, sim, dict(counts.meta))


def save(nb: Neighbours, path: str | Path) -> None:
    """One .npz (no pickles), replaced atomically; similarities as float16 to keep the file small."""
    buf = io.BytesIO()
    small = np.int16 if len(nb.tconst) < 2 ** 15 else np.int32  # film indices, padded with -1
    np.savez_compressed(buf, tconst=nb.tconst, likes=nb.likes, raters=nb.raters, nbr=nb.nbr.astype(small),
                        sim=nb.sim.astype(np.float16), lift_nbr=nb.lift_nbr.astype(small),
                        lift_sim=nb.lift_sim.astype(np.float16), meta=np.array(json.dumps(nb.meta)))
    with atomic_write(Path(path)) as f:
        f.write(buf.getvalue())


def load(path: str | Path = DEFAULT_NEIGHBOURS) -> Neighbours:
    """The file's neighbours; NeighboursError (one sentence) if it is missing or not a neighbours file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            lift = "lift_nbr" in z.files  # files made before the EASE lift have none
            nb = Neighbours(z["tconst"].astype("U12"), z["likes"].astype(np.int32), z["raters"].astype(np.int32),
                            z["nbr"].astype(np.int32), z["sim"].astype(np.float32), json.loads(str(z["meta"])),
                            z["lift_nbr"].astype(np.int32) if lift else None,
                            z["lift_sim"].astype(np.float32) if lift else None)
    except FileNotFoundError:
        raise NeighboursError(f"{path}: no neighbours file; run `python -m fer.neighbours build`.") from None
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
        raise NeighboursError(f"{path}: not a neighbours file ({type(e).__name__}).") from None
    films = len(nb.tconst)
    if not (nb.likes.shape == nb.raters.shape == (films,) and nb.nbr.shape == nb.sim.shape
            and nb.nbr.shape[0] == films and nb.lift_nbr.shape == nb.lift_sim.shape and nb.lift_nbr.shape[0] == films
            and max(nb.nbr.max(initial=-1), nb.lift_nbr.max(initial=-1)) < films
            and min(nb.nbr.min(initial=-1), nb.lift_nbr.min(initial=-1)) >= -1):
        raise NeighboursError(f"{path}: not a neighbours file (its arrays do not fit together).")
    return nb


_SHIPPED: dict[str, tuple[float, Neighbours]] = {}  # path -> (mtime, file): only the newest version stays
_SHIPPED_LOCK = threading.Lock()  # NOTE: every session and the CLI share one loaded file


def shipped(path: str | Path = DEFAULT_NEIGHBOURS) -> Neighbours:
    """The shipped file, loaded once per version on disk; without a readable one, empty (IMDb's figures alone)."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return EMPTY
    with _SHIPPED_LOCK:
        held = _SHIPPED.get(str(path))
        if held is None or held[0] != mtime:
            try:
                held = mtime, load(path)
            except NeighboursError:
                held = mtime, EMPTY
            _SHIPPED[str(path)] = held
        return held[1]


def main(argv: list[str] | None = None) -> int:
    from fer.recommend.catalogue import load_catalogue  # the catalogue's films: the only ones a list can show

    p = argparse.ArgumentParser(description="Build the ranker's neighbours file from MovieLens ratings.")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="learn like counts, item neighbours and EASE weights from ratings.csv + links.csv")
    b.add_argument("--ratings", default=str(DEFAULT_RATINGS), help="folder with MovieLens ratings.csv, links.csv")
    b.add_argument("--out", default=str(DEFAULT_NEIGHBOURS))
    b.add_argument("--k", type=int, default=K, help="cosine neighbours kept per film")
    b.add_argument("--lift-k", type=int, default=LIFT_K, help="EASE weights kept per film")
    b.add_argument("--lam", type=float, default=LAMBDA, help="EASE's L2 weight")
    b.add_argument("--catalogue", default=None, help="catalogue whose films are learnt (default: the shipped one)")
    a = p.parse_args(argv)
    try:
        movies, _ = load_catalogue(a.catalogue) if a.catalogue else load_catalogue()
        ratings = read_movielens(a.ratings)
        nb = learn(ratings, set(movies["tconst"]), a.k, a.lift_k, a.lam)
        source = Path(a.ratings)
        note = source / "SOURCE.txt"
        nb.meta.update(built=datetime.now(UTC).isoformat(timespec="seconds"), k=a.k, lift_k=a.lift_k, like=LIKE,
                       shrink=SHRINK,
                       source=note.read_text(errors="replace").splitlines()[0] if note.is_file() else source.name,
                       licence=LICENCE)
        save(nb, a.out)
    except (NeighboursError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: could not write {a.out} ({e.strerror or e}).", file=sys.stderr)
        return 1
    print(f"wrote {a.out}: {len(nb.tconst):,} films, {nb.meta['people']} people, {nb.meta['ratings']:,} ratings, "
          f"k={a.k}" + (f", EASE lift_k={a.lift_k} (lambda {a.lam:g}, films rated by >= {MIN_RATERS})" if a.lift_k
                        else ""))
    return 0
