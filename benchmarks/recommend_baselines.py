"""The baselines a recommender engineer tries first, learnt for one person of the offline evaluation
(benchmarks/recommend_offline.py) from other people's earlier ratings only: popularity-in-genre (like counts),
item-kNN (cosine neighbours, fer/recommend/neighbours.py), EASE^R (Steck, WWW 2019: the closed-form linear model
most published methods fail to beat) and RP3beta (Paudel et al., 2017: a random walk, popularity divided out).

EASE_LAMBDA and RP3_BETA were chosen on tuning people only (`python -m benchmarks.recommend_offline --tune`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fer.recommend.arrays import Index
from fer.recommend.neighbours import Neighbours, cosine_neighbours, ease_neighbours, fit_ease, rating_matrix, with_lift

EASE_LAMBDA = 400.0  # chosen on tuning people (hit@50 0.808 against 0.787 at 100: benchmarks/README.md)
LAMBDAS = (100.0, 400.0)  # what --tune tries
RP3_BETA = 0.3  # chosen on tuning people (hit@50 0.777 against 0.763 at 0.6)
BETAS = (0.3, 0.6)
LIFT_K = 100  # EASE weights per film in the ranker's file here, for --tune's `lift` (the shipped file has none)


@dataclass
class Models:
    """What one person is scored with: the ranker's file (cosine neighbours + EASE lift, as `build --lift-k` makes
    it) and the baselines' full item-to-item weights over the films fit_ease keeps (at least MIN_RATERS people
    rated each)."""
    file: Neighbours
    rows: np.ndarray  # catalogue row of each film the weights cover (-1: not in the catalogue)
    ease: dict[float, np.ndarray]  # lambda -> (films, films) EASE^R weights
    rp3: dict[float, np.ndarray]  # beta -> (films, films) RP3beta weights


def learn_models(ratings: pd.DataFrame, ix: Index, lambdas=(EASE_LAMBDA,), betas=(RP3_BETA,),
                 lift_lambda: float = EASE_LAMBDA) -> Models:
    """The ranker's file and the baselines from (user, tconst, rating) rows; `lift_lambda` must be in `lambdas`
    (the ranker's EASE weights are the baseline's, cut to the LIFT_K largest per film)."""
    counts, x = rating_matrix(ratings)
    nb = cosine_neighbours(counts, x)
    fits = {lam: fit_ease(counts, x, lam) for lam in lambdas}  # as `fer.neighbours build` fits it, same matrix
    keep = fits[lift_lambda][0]
    ease = {lam: b for lam, (_, b) in fits.items()}
    x = x[:, keep]
    deg_user, deg_film = np.maximum(x.sum(1), 1), np.maximum(x.sum(0), 1)
    walk = (x / deg_film).T @ (x / deg_user[:, None])  # film -> person -> film transition probabilities
    rp3 = {beta: walk / deg_film[None, :] ** beta for beta in betas}
    file = with_lift(nb, ease_neighbours(counts, keep, ease[lift_lambda], LIFT_K))
    rows = np.array([ix.row.get(t, -1) for t in nb.tconst[keep]], dtype=np.int64)
    return Models(file, rows, ease, rp3)


def scores(models: Models, seen_rows: list[int], films: int) -> dict[str, np.ndarray]:
    """Per baseline name: its score of every catalogue row for a person who saw `seen_rows` (0/1 history)."""
    at = {r: i for i, r in enumerate(models.rows) if r >= 0}
    history = np.zeros(len(models.rows))
    history[[at[r] for r in seen_rows if r in at]] = 1.0
    known = models.rows >= 0
    out = {}
    for name, weights in [*((f"EASE λ={lam:g}", w) for lam, w in models.ease.items()),
                          *((f"RP3beta β={beta:g}", w) for beta, w in models.rp3.items())]:
        s = np.zeros(films)
        s[models.rows[known]] = (history @ weights)[known]
        out[name] = s
    return out
