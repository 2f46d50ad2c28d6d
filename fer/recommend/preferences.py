"""Which genres a person accepts in which mood, learnt from the thumbs they give while that mood's list is shown.

One Beta-Bernoulli model per (emotion, genre): "does this person accept a film of this genre in this mood?".
The emotion -> genre mapping is the prior (its genre starts accepted, every other genre not, each worth PRIOR
marks); a thumb up on a film shown for a mood counts one acceptance for each of the film's genres in that mood,
a thumb down one refusal. The mood's list draws from every genre whose posterior mean is above ACCEPT, in
proportion to it: two people with the same face get different lists once they have taught it, and the reason
line says why ("Comedy: you liked 3 comedy films when sad"). With no marks the list is the mapping's genre alone;
once every genre it draws from has been turned down in a mood, it explores the genres not turned down,
favouring those liked there.
"""

from __future__ import annotations

import numpy as np

from fer.genres import GENRES

PRIOR = 2.0  # how many marks the mapping's word is worth
PRIOR_MEAN_MAPPED = 0.9  # prior mean of the mapped genre (accepted) ...
PRIOR_MEAN_OTHER = 0.1  # ... and of every other genre (not)
ACCEPT = 0.5  # posterior mean above which a genre joins the mood's list


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
