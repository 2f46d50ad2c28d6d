"""Which films fill the list's places: the mood's genres take turns by their shares, and within a turn maximal
marginal relevance picks the best score minus a penalty for resembling what is already picked."""

from __future__ import annotations

import numpy as np

from fer.genres import GENRES
from fer.recommend.arrays import Index

DIVERSITY = 0.35  # MMR: how much resembling an already picked film costs
POOL = 4  # candidates per film to pick, from each genre's best-scored films
POOL_FOR = 50  # candidates are drawn as for a list of this many films whatever its length (up to POOL x POOL_FOR),
# so a longer list (the page ranks 100: 50 shown, 50 to fill the gaps marks leave) starts with the CLI's 50


def best(rows: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """The k best-scored rows, best first (ties keep catalogue order, i.e. IMDb's weighted rating)."""
    return rows[np.argsort(-score[rows], kind="stable")][:k]


def pick(keep: np.ndarray, score: np.ndarray, ix: Index, n: int, weights: dict[str, float],
         diversity: float = DIVERSITY) -> tuple[list[int], list[str]]:
    """n rows among `keep`, best first by `score`, each with the genre it was picked for; the first n of a longer
    list are the shorter list.

    Each genre brings POOL times its share of the list as candidates (its turns, plus room for variety).
    Genres take turns by their weights (the one furthest below its share of the list so far goes next; the
    heaviest first), so a mood mix of 60 % sad and 30 % happy gives about 60 % and 30 % of the list to their
    genres. Within a turn, maximal marginal relevance: the best score minus `diversity` x its resemblance to what
    is already picked (same franchise, same year, shared genres); diversity=0 is plain score order.
    """
    cols = {g: GENRES.index(g) for g in weights}
    size = POOL_FOR if n <= POOL * POOL_FOR else n
    idx = np.unique(np.concatenate([best(np.flatnonzero(keep & (ix.genres[:, c] > 0)), score,
                                         POOL * max(int(np.ceil(size * weights[g])), 10)) for g, c in cols.items()]))
    idx = best(idx, score, len(idx))
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
    left = {g: int(member[g].sum()) for g in genres}  # candidates not yet picked, per genre
    chosen, chosen_for, penalty = [], [], np.zeros(len(idx))
    free = np.ones(len(idx), bool)
    for k in range(min(n, len(idx))):
        g = max((g for g in genres if left[g]), key=lambda g: weights[g] * (k + 1) - taken[g])
        j = int(np.argmax(np.where(free & member[g], s - diversity * penalty, -np.inf)))
        chosen.append(int(idx[j]))
        chosen_for.append(g)
        taken[g] += 1
        free[j] = False
        for h in genres:
            left[h] -= bool(member[h][j])
        penalty = np.maximum(penalty, sim[j])
    return chosen, chosen_for
