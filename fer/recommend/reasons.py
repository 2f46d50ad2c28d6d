"""The line under each film saying why it is there: the genre and the mood that brought it (labelled when the
person's thumbs brought it, not their mapping), IMDb's figures, the seed film that lifted it most ("because you
liked Heat", only where that film added at least LIFT to its score and at least SHARE of all the person's films'
lift), and the person's taste for its genre."""

from __future__ import annotations

import numpy as np

from fer.recommend.preferences import MIX_MIN, Why

LIFT = 0.05  # "because you liked X" only where X added this much to the film's score (the priors span 0-1) ...
SHARE = 0.5  # ... and at least this share of what all the person's films added to it


def because(file_row: np.ndarray, sources: list[tuple[np.ndarray, np.ndarray, float]], seeds: dict[int, float],
            rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the seed (catalogue row) that lifted it most, -1 for none, and how much: what the seed added to its
    score (its weight x its similarity in each source: nbr, sim, the scale the ranker gave that source's nearness),
    0 where that is less than SHARE of what all seeds added."""
    good = [r for r, w in seeds.items() if w > 0 and file_row[r] >= 0]
    if not good or not rows or not sources:
        return np.full(len(rows), -1), np.zeros(len(rows))
    wanted = np.zeros(len(file_row) + 1, bool)  # the extra last slot stands for -1 (no neighbour)
    wanted[rows] = True
    good = np.array(good)
    at_file, weight, size = file_row[good], np.array([seeds[r] for r in good.tolist()]), len(file_row) + 1
    pairs, added = [], []
    for nbr, sim, scale in sources:
        seed_i, col = np.nonzero(wanted[nbr[at_file]])  # (seed, neighbour) entries that are listed films
        pairs.append(good[seed_i] * size + nbr[at_file[seed_i], col])
        added.append(sim[at_file[seed_i], col] * weight[seed_i] * scale)
    if not sum(len(p) for p in pairs):  # no seed reaches any of these films
        return np.full(len(rows), -1), np.zeros(len(rows))
    key, at = np.unique(np.concatenate(pairs), return_inverse=True)
    total = np.bincount(at, weights=np.concatenate(added))  # each (seed, film) pair's whole contribution
    film, seed = key % size, key // size
    films, of_film = np.unique(film, return_inverse=True)
    share = total / np.bincount(of_film, weights=total)[of_film]  # of all seeds' lift of the film
    order = np.lexsort((-total, film))  # per film, its strongest seed first
    first = order[np.r_[True, film[order][1:] != film[order][:-1]]]
    # NOTE: a film everybody watched is near every seed, and no one of them is why it is here: a seed is named only
    # where it gave at least SHARE of the film's whole lift.
    lifted = np.where(share[first] >= SHARE, total[first], 0.0)
    best = dict(zip(film[first].tolist(), zip(seed[first].tolist(), lifted.tolist())))
    found = [best.get(r, (-1, 0.0)) for r in rows]
    return np.array([s for s, _ in found], dtype=np.int64), np.array([w for _, w in found], dtype=float)


def reason(row, genre: str, why: Why, liked: dict[str, int], mapping: dict[str, str], probs: dict[str, float],
           mix: bool, near: tuple[str, str] | None = None) -> str:
    """One line: why this genre, IMDb's figures, the lifting seed film (`near`: ("liked" or "saw", title)), taste."""
    if why.learnt and why.exploring:
        why_text = f"also: {genre}, trying other genres when {why.emotion} (you turned down " \
            f"{mapping[why.emotion].lower()} films)"
    elif why.learnt:
        why_text = f"also: {genre}, from your 👍 ({why.taught} {genre.lower()} film{'s' if why.taught != 1 else ''} " \
            f"liked when {why.emotion})"
    elif mix:
        moods = [e for e in sorted(probs, key=probs.get, reverse=True) if mapping[e] == genre and probs[e] >= MIX_MIN]
        why_text = f"{genre} for {' + '.join(moods)} ({sum(probs[e] for e in moods):.0%} of your mood)"
    else:
        why_text = f"{genre} for {'an' if why.emotion[0] in 'aeiou' else 'a'} {why.emotion} mood"
    votes = f"{row.votes / 1e6:.1f} M" if row.votes >= 1e6 else f"{row.votes / 1e3:.0f} k"
    parts = [why_text, f"{row.rating:.1f}★ from {votes} votes"]
    if near:
        parts.append(f"because you {near[0]} {near[1]}")
    fav = max((g for g in str(row.genres).split(",") if liked.get(g, 0) > 0), key=lambda g: liked[g], default=None)
    if fav:
        parts.append(f"you liked {liked[fav]} {fav.lower()} film{'s' if liked[fav] > 1 else ''}")
    return " · ".join(parts)
