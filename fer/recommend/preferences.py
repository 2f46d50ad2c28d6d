"""Which genres a person accepts in which mood, learnt from the thumbs they give while that mood's list is shown.

One Beta-Bernoulli model per (emotion, genre): "does this person accept a film of this genre in this mood?".
The emotion -> genre mapping is the prior (its genre starts accepted, every other genre not, each worth PRIOR
marks); a thumb up on a film shown for a mood counts one acceptance for each of the film's genres in that mood,
a thumb down one refusal. The mood's list draws from every genre whose posterior mean is above ACCEPT, in
proportion to it: two people with the same face get different lists once they have taught it, and the reason
line says why ("also: Comedy, from your 👍: 3 comedy films liked when sad"). With no marks the list is the
mapping's genre alone; once every genre it draws from has been turned down in a mood, it explores the genres not
turned down, favouring those liked there.

An explicit choice beats what was learnt: the mapping's genre (the person's own, or their preset's) leads its
mood's list and keeps at least 1 - LEARNT_SHARE of it; learnt genres join only in the rest, labelled as such,
and `learnt=False` (`mood_genres`) leaves them out.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fer.genres import GENRES
from fer.recommend.arrays import Index

PRIOR = 2.0  # how many marks the mapping's word is worth
PRIOR_MEAN_MAPPED = 0.9  # prior mean of the mapped genre (accepted) ...
PRIOR_MEAN_OTHER = 0.1  # ... and of every other genre (not)
ACCEPT = 0.5  # posterior mean above which a genre joins the mood's list
LEARNT_SHARE = 1 / 3  # learnt genres share at most this much of a mood's list; the mapping's genre has the rest
MIX_MIN = 0.1  # in a mood mix, emotions below this probability bring no genre
TASTE_GAIN = 1.0  # a mapped genre's weight x exp(TASTE_GAIN x the person's taste for it, in [-1, 1])


def acceptance(mapped: str, genres: np.ndarray, feedback: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior mean acceptance per genre (GENRES order), and the likes and refusals behind it.

    genres: (films, GENRES) 0/1 of the films marked in this mood; feedback: their thumbs, +1 or -1.
    """
    prior_mean = np.full(len(GENRES), PRIOR_MEAN_OTHER)
    prior_mean[GENRES.index(mapped)] = PRIOR_MEAN_MAPPED
    likes = genres[feedback > 0].sum(0) if len(feedback) else np.zeros(len(GENRES))
    refusals = genres[feedback < 0].sum(0) if len(feedback) else np.zeros(len(GENRES))
    return (PRIOR * prior_mean + likes) / (PRIOR + likes + refusals), likes, refusals


def mood_shares(mapped: str, genres: np.ndarray, feedback: np.ndarray) -> tuple[dict[str, float], dict[str, int],
                                                                                 bool]:
    """Genre -> share of this mood's list, genre -> likes given in this mood (for the reason line), and whether
    the list is exploring.

    The accepted genres share the list in proportion to their acceptance. A person who refused them all (the
    mapping's genre included) is shown every genre their thumbs have not pushed below the prior, again in
    proportion to acceptance (a genre liked once there gets four times an untried one's share), until one is
    accepted: the list explores instead of repeating what was turned down.
    """
    mean, likes, refusals = acceptance(mapped, genres, feedback)
    chosen = np.flatnonzero(mean > ACCEPT)
    exploring = not len(chosen)
    if exploring:
        chosen = np.flatnonzero(mean >= PRIOR_MEAN_OTHER - 1e-9)  # not pushed below the prior by refusals
        if not len(chosen):
            return {mapped: 1.0}, {}, False
    total = mean[chosen].sum()
    shares = {GENRES[j]: float(mean[j] / total) for j in chosen}
    return shares, {GENRES[j]: int(likes[j]) for j in chosen if likes[j] > 0}, exploring


class Why(NamedTuple):
    """Why a genre is in the list: the emotion that brings it most; whether it was learnt (not the mapping's), with
    the likes the person gave it in that mood; whether that mood's list is exploring (its genre turned down)."""
    emotion: str
    taught: int = 0
    exploring: bool = False
    learnt: bool = False


def mood_genres(probs: dict[str, float], mapping: dict[str, str], mix: bool, ix: Index | None = None,
                moods: dict[str, dict[str, int]] | None = None, taste: np.ndarray | None = None,
                learnt: bool = True) -> tuple[dict[str, float], dict[str, Why]]:
    """Genre -> weight in the list (heaviest first: the mapping's genres lead), and genre -> why it is there.

    Each emotion brings its mapped genre and, with `learnt`, the genres this person taught it through `moods`
    (emotion -> {film: thumb}), together at most LEARNT_SHARE of that emotion's weight; the winner alone, or in a
    mix every emotion of at least MIX_MIN by its probability. The person's genre taste (`taste`, from all their
    thumbs) tilts the mapped genres' weights by exp(TASTE_GAIN x taste), so thumbs move a mood mix, never past
    what the person chose.
    """
    emotions = {e: p for e, p in probs.items() if p >= MIX_MIN} if mix else {max(probs, key=probs.get): 1.0}
    mapped: dict[str, float] = {}
    extra: dict[str, float] = {}
    source: dict[str, Why] = {}
    best: dict[str, float] = {}
    for e, p in sorted(emotions.items(), key=lambda kv: -kv[1]):
        taught = {t: r for t, r in (moods or {}).get(e, {}).items() if ix is not None and t in ix.row} if learnt \
            else {}
        shares, likes, exploring = {mapping[e]: 1.0}, {}, False
        if taught:
            shares, likes, exploring = mood_shares(mapping[e], ix.genres[[ix.row[t] for t in taught]],
                                                   np.array(list(taught.values()), dtype=float))
        others = {g: s for g, s in shares.items() if g != mapping[e]}
        scale = min(1.0, LEARNT_SHARE / max(sum(others.values()), 1e-9))
        mapped[mapping[e]] = mapped.get(mapping[e], 0.0) + p * (1 - scale * sum(others.values()))
        if mapping[e] not in source or source[mapping[e]].learnt or p > best[mapping[e]]:
            best[mapping[e]] = p
            source[mapping[e]] = Why(e)
        for g, share in others.items():
            extra[g] = extra.get(g, 0.0) + p * share * scale
            if p * share * scale > best.get(g, 0.0) and not (g in source and not source[g].learnt):
                best[g] = p * share * scale
                source[g] = Why(e, likes.get(g, 0), exploring and not likes.get(g, 0), learnt=True)
    if taste is not None:
        total = sum(mapped.values())
        tilted = {g: w * float(np.exp(TASTE_GAIN * taste[GENRES.index(g)])) for g, w in mapped.items()}
        mapped = {g: w * total / sum(tilted.values()) for g, w in tilted.items()}
    weights = dict(mapped)
    for g, w in extra.items():
        weights[g] = weights.get(g, 0.0) + w
    source = {g: source[g] for g in weights}  # a mapped genre stays the mapping's, whatever else brings it too
    total = sum(weights.values())
    order = sorted(weights, key=lambda g: (g not in mapped, -weights[g]))
    return {g: weights[g] / total for g in order}, source
