"""What the reading learns about one person from their "not sure" answers: a bias on the 7 emotions.

Each answer is a labelled reading of this person's face: the 7 probabilities the app read (before any
correction) and the emotion the person said it was. The bias b is the most probable one under a Gaussian prior
given those answers (maximum a posteriori): later readings become softmax(log p + b). A person the model reads
right gets almost no bias (each answer pulls by how wrong its reading was); no class moves more than 3-fold,
however many answers agree. Numbers only: no image is needed or kept. It is applied with the resting-face correction by
`EmotionRecognizer.with_person`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fer.emotions import EMOTIONS

MAX_TAUGHT = 50  # answers a profile keeps for the bias, the most recent
PERSONAL_SETTINGS = ("resting", "taught")  # the profile settings that adapt the reading to its person
# Standard deviation of each class's bias under the prior (log units): the answers must agree before a class
# moves far. Chosen before measuring, not tuned (the model card's "Real faces" reports what it gives).
PRIOR_SD = 0.5
MAX_BIAS = float(np.log(3.0))


def answer_bias(taught: Sequence[tuple[np.ndarray, str]], prior_sd: float = PRIOR_SD) -> np.ndarray | None:
    """The bias (7 log-probability shifts, zero mean) that `taught` (reading, answered emotion) pairs support;
    None when there are none. Newton's method on a strictly convex objective: a few steps converge."""
    if not taught:
        return None
    logp = np.log(np.clip(np.array([p for p, _ in taught], np.float64), 1e-6, None))
    y = np.eye(len(EMOTIONS))[[EMOTIONS.index(e) for _, e in taught]]
    b = np.zeros(len(EMOTIONS))
    for _ in range(20):
        z = logp + b
        q = np.exp(z - z.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        grad = (q - y).sum(0) + b / prior_sd ** 2
        hess = np.diag(q.sum(0)) - q.T @ q + np.eye(len(EMOTIONS)) / prior_sd ** 2
        step = np.linalg.solve(hess, grad)
        b -= step
        if np.abs(step).max() < 1e-6:
            break
    return np.clip(b - b.mean(), -MAX_BIAS, MAX_BIAS)


def remember(stored: Sequence[dict] | None, probs: np.ndarray, emotion: str) -> list[dict]:
    """A profile's "taught" setting with one more answer (the reading as the model gave it, before this person's
    correction), only the most recent MAX_TAUGHT kept."""
    answer = {"emotion": emotion, "probs": [round(float(v), 6) for v in probs]}
    return [*(stored or []), answer][-MAX_TAUGHT:]


def taught_pairs(stored: Sequence[dict] | None) -> list[tuple[np.ndarray, str]]:
    """(reading, emotion) pairs from a profile's "taught" setting (written by `remember`, or an import that
    fer.profiles.document validated)."""
    return [(np.asarray(t["probs"], np.float64), t["emotion"]) for t in (stored or [])]
