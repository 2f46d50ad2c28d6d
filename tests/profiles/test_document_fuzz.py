"""Random and hostile values in every field of the portable document: `parse` either gives a clean document (every
number finite and in range, every time a UTC time between the epoch and now, the same document when parsed again,
one a profile takes) or refuses with one sentence; nothing but its one refusal ever escapes. Seeded: the same
documents every run."""

import copy
import json
import math
import random
from datetime import UTC, datetime

from fer.profiles.document import RATING, RUNTIME, YEARS, Refused, dumps, parse, salvage
from fer.profiles.store import Profile

BASE = {"format": "mood-to-movie/profile", "version": 1, "exported": "2024-05-01T10:00:00+00:00",
        "marks": [{"tconst": "tt0111161", "seen": True, "rating": 1, "updated": "2024-05-01T10:00:00+00:00"},
                  {"tconst": "tt0068646", "seen": False, "rating": -1, "updated": "2020-01-01T00:00:00Z"}],
        "settings": {"mapping": {"preset": "paper", "genres": {"sad": "Comedy"}},
                     "filters": {"mix": True, "hide_seen": False, "min_rating": 7.5, "years": [1990, 2010],
                                 "runtime": [60, 180]},
                     "resting": [0.1, 0.0, 0.1, 0.1, 0.3, 0.0, 0.4],
                     "taught": [{"emotion": "angry", "probs": [0.35, 0.0, 0.05, 0.0, 0.5, 0.0, 0.1]}]},
        "answers": {"sad or angry": {"sad": 2}},
        "mood_marks": [{"emotion": "sad", "tconst": "tt0068646", "rating": 1, "updated": "2021-02-03T04:05:06"}]}
DEEP: list = []
for _ in range(400):
    DEEP = [DEEP]
HOSTILE = [None, True, False, 0, 1, -1, 2, -5, 0.5, 10, 10.5, 1e308, -1e308, 5e-324, 10**30, -10**30,
           float("nan"), float("inf"), float("-inf"), "", "x" * 41, "x" * 5000, "\u0000", "é👍", "<b>x</b>",
           "tt1", "tt" + "1" * 11, "tt-1", "../../etc/passwd", "0001-01-01T00:00:00+23:59",
           "9999-12-31T23:59:59-23:59", "2999-01-01T00:00:00Z", "1969-07-20T20:17:00", "2024-13-01", "2024-05-01",
           "sad", "Comedy", "paper", "sad or angry", [], [1], [1990, 2010], [2010, 1990], [1869, 1900], [0, 1441],
           [1.5, 2], [True, False], [0.5] * 7, [1e308] * 7, [float("nan")] * 7, {}, {"sad": 1}, {"x": None}, DEEP]


def _paths(node, at=()):
    yield at
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield from _paths(child, (*at, key))


def _mutated(rng: random.Random) -> dict:
    doc = copy.deepcopy(BASE)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(_paths(doc)))
        if not path:
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = rng.random()
        if action < 0.1 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action < 0.2 and isinstance(parent, dict):
            parent[rng.choice(["__proto__", "zz", "min_rating", "years", "rating", "updated"])] = rng.choice(HOSTILE)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(HOSTILE))
    return doc


def _numbers(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _numbers(v)
    elif isinstance(node, list):
        for v in node:
            yield from _numbers(v)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield node


PROFILE = Profile(None)


def _check_clean(doc: dict) -> None:
    """What the app relies on after parse: the list's sliders, the merge by time, the store."""
    assert all(math.isfinite(n) for n in _numbers(doc))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for m in doc["marks"] + doc["mood_marks"]:
        assert "1970-01-01T00:00:00+00:00" <= m["updated"] <= now and len(m["updated"]) == 25
    filters = doc["settings"].get("filters", {})
    assert set(filters) <= {"mix", "hide_seen", "min_rating", "years", "runtime"}
    if "min_rating" in filters:
        assert RATING[0] <= filters["min_rating"] <= RATING[1]
    for key, (low, high) in (("years", YEARS), ("runtime", RUNTIME)):
        if key in filters:
            assert low <= filters[key][0] <= filters[key][1] <= high
    assert parse(dumps(doc)) == doc
    PROFILE.restore(doc, replace=True)
    assert len(PROFILE.export()["marks"]) == len(doc["marks"])


def test_every_field_random_and_hostile_gives_a_clean_document_or_one_refusal():
    rng = random.Random(49)
    refused = taken = 0
    for _ in range(1500):
        text = json.dumps(_mutated(rng))  # NaN and Infinity written as JavaScript would not, Python does
        try:
            doc = parse(text)
        except Refused as e:
            assert "\n" not in str(e) and len(str(e)) < 200, str(e)
            refused += 1
        else:
            _check_clean(doc)
            taken += 1
        kept = salvage(text)
        if kept is not None:
            _check_clean(kept)
    assert refused > 500 and taken > 50  # both ways were exercised


def test_hostile_text_is_one_refusal():
    rng = random.Random(7)
    good = dumps(BASE)
    for _ in range(300):
        cut = rng.randrange(len(good))
        for text in (good[:cut], good[:cut] + rng.choice('{}[]",:0e-') + good[cut + 1:], good.encode()[:cut]):
            try:
                _check_clean(parse(text))
            except Refused:
                pass
            kept = salvage(text)
            if kept is not None:
                _check_clean(kept)
