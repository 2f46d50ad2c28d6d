"""A profile as one JSON document: what "Download my data" gives, what a visitor's browser keeps, and what
"Import my data" takes back.

    {"format": "mood-to-movie/profile", "version": 1, "exported": "...",
     "marks": [{"tconst", "seen", "rating", "updated"}], "settings": {"mapping", "filters", "resting", "taught"},
     "answers": {"sad or angry": {"sad": 2}}, "mood_marks": [{"emotion", "tconst", "rating", "updated"}]}

`parse` is the one gate for a document that comes from outside (a file, a browser's storage): it checks
size, shape, every id, number and name, and returns a clean copy or raises ValueError with one sentence.
Nothing is changed before the whole document has passed.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

from fer.emotions import EMOTIONS
from fer.genres import GENRES, PRESETS
from fer.vision.personal import MAX_TAUGHT

FORMAT = "mood-to-movie/profile"
VERSION = 1
MAX_BYTES = 1 << 20  # ~10,000 marked films; a browser's storage holds 5 MB per site
MAX_MARKS = 10_000
TCONST = re.compile(r"tt\d{1,10}")
FILTERS = {"mix": bool, "hide_seen": bool, "min_rating": (int, float), "years": list, "runtime": list}


def dumps(doc: dict) -> str:
    """The compact text form (a browser's storage and the import both read it)."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def stored_text(doc: dict) -> str:
    """The text a browser keeps: without the export's time stamp, so the same profile always gives the same text
    (tabs that take each other's copy then write nothing back, where a changed text would go round between them
    for ever); ValueError (one sentence) when it would not be read back (over MAX_BYTES)."""
    text = dumps({k: v for k, v in doc.items() if k != "exported"})
    if len(text) > MAX_BYTES:
        raise ValueError("Your profile has outgrown what this browser keeps; your newest marks last for this tab "
                         "only. Download your data to keep them.")
    return text


def is_empty(doc: dict) -> bool:
    """True when the document holds nothing of the person (a deleted or never-used profile)."""
    return not (doc.get("marks") or doc.get("settings") or doc.get("answers") or doc.get("mood_marks"))


def parse(text: str | bytes) -> dict:
    """A validated profile document from JSON text; ValueError (one sentence) for anything else."""
    if len(text) > MAX_BYTES:
        raise ValueError(f"That file is {len(text) / 1e6:.1f} MB; a profile is at most {MAX_BYTES / 1e6:.0f} MB.")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ValueError("That file is not a profile: it is not valid JSON.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("marks"), list):
        raise ValueError("That file is not a profile: it has no list of marks.")
    if doc.get("format", FORMAT) != FORMAT:
        raise ValueError(f"That file is not a profile (its format is {str(doc.get('format'))[:40]!r}).")
    version = doc.get("version", VERSION)
    if not isinstance(version, int) or version > VERSION:
        raise ValueError("That profile was made by a newer version of this app; update the app to read it.")
    try:
        return {"format": FORMAT, "version": VERSION, "exported": _text(doc.get("exported", ""), 40),
                "marks": _marks(doc["marks"]), "settings": _settings(doc.get("settings") or {}),
                "answers": _answers(doc.get("answers") or {}), "mood_marks": _mood_marks(doc.get("mood_marks") or [])}
    except KeyError as e:
        raise ValueError(f"That profile was not imported: an entry lacks its {e} field.") from None
    except (TypeError, AttributeError, ValueError) as e:
        raise ValueError(f"That profile was not imported: {e}") from None


def _marks(rows: list) -> list[dict]:
    if len(rows) > MAX_MARKS:
        raise ValueError(f"it marks {len(rows):,} films (at most {MAX_MARKS:,}).")
    out = {}
    for r in rows:
        rating = r.get("rating", 0)
        if type(rating) is not int or rating not in (-1, 0, 1):
            raise ValueError(f"a rating must be -1, 0 or 1 (got {str(rating)[:20]}).")
        if not isinstance(r.get("seen", False), bool):
            raise ValueError("'seen' must be true or false.")
        out[_tconst(r["tconst"])] = {"tconst": r["tconst"], "seen": r.get("seen", False), "rating": rating,
                                     "updated": _when(r.get("updated"))}
    return list(out.values())


def _mood_marks(rows: list) -> list[dict]:
    if not isinstance(rows, list) or len(rows) > MAX_MARKS:
        raise ValueError(f"its mood marks must be a list of at most {MAX_MARKS:,}.")
    out = {}
    for r in rows:
        if r["emotion"] not in EMOTIONS or r["rating"] not in (-1, 1) or type(r["rating"]) is not int:
            raise ValueError("a mood mark needs one of the 7 emotions and a rating of -1 or 1.")
        out[(r["emotion"], _tconst(r["tconst"]))] = {"emotion": r["emotion"], "tconst": r["tconst"],
                                                     "rating": r["rating"], "updated": _when(r.get("updated"))}
    return list(out.values())


def _settings(settings: dict) -> dict:
    if not isinstance(settings, dict):
        raise ValueError("its settings must be an object.")
    out = {}
    if (mapping := settings.get("mapping")) is not None:
        genres = mapping["genres"]
        if mapping["preset"] not in PRESETS or not isinstance(genres, dict) or \
                any(e not in EMOTIONS or g not in GENRES for e, g in genres.items()):
            raise ValueError("its emotion → genre mapping names an unknown preset, emotion or genre.")
        out["mapping"] = {"preset": mapping["preset"], "genres": dict(genres)}
    if (filters := settings.get("filters")) is not None:
        if not isinstance(filters, dict) or any(k not in FILTERS or not isinstance(v, FILTERS[k]) or
                                                isinstance(v, bool) and FILTERS[k] is not bool
                                                for k, v in filters.items()):
            raise ValueError("its filters hold an unknown name or value.")
        for k in ("years", "runtime"):
            if k in filters and (len(filters[k]) != 2 or not all(type(v) is int for v in filters[k])):
                raise ValueError(f"its {k} filter must be two whole numbers.")
        out["filters"] = dict(filters)
    if (resting := settings.get("resting")) is not None:
        if not _probabilities(resting):
            raise ValueError("its resting face must be 7 probabilities.")
        out["resting"] = [float(v) for v in resting]
    if (taught := settings.get("taught")) is not None:
        if not isinstance(taught, list) or len(taught) > MAX_TAUGHT or \
                not all(isinstance(t, dict) and t.get("emotion") in EMOTIONS and _probabilities(t.get("probs"))
                        for t in taught):
            raise ValueError(f"its taught answers must be at most {MAX_TAUGHT} readings of 7 probabilities, "
                             "each with an emotion.")
        out["taught"] = [{"emotion": t["emotion"], "probs": [float(v) for v in t["probs"]]} for t in taught]
    return out


def _probabilities(values) -> bool:
    return isinstance(values, list) and len(values) == len(EMOTIONS) and \
        all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 1
            for v in values)


def _answers(answers: dict) -> dict[str, dict[str, int]]:
    if not isinstance(answers, dict):
        raise ValueError("its answers must be an object.")
    out = {}
    for pair, counts in answers.items():
        a, _, b = str(pair).partition(" or ")
        if a not in EMOTIONS or b not in EMOTIONS or not isinstance(counts, dict) or \
                any(c not in EMOTIONS or type(n) is not int or not 0 < n < 1_000_000 for c, n in counts.items()):
            raise ValueError("its \"not sure\" answers name an unknown emotion or count.")
        out[pair] = dict(counts)
    return out


def _tconst(value) -> str:
    if not isinstance(value, str) or not TCONST.fullmatch(value):
        raise ValueError(f"{str(value)[:20]!r} is not an IMDb film id.")
    return value


def _when(value) -> str:
    """An ISO time in the profile's own form (UTC, seconds), so times compare as text; missing: the epoch (anything
    newer wins a merge); a time in the future is taken as now (it would otherwise outrank every later click)."""
    if value is None:
        return "1970-01-01T00:00:00+00:00"
    when = datetime.fromisoformat(_text(value, 40))  # ValueError for anything else
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return min(when, datetime.now(UTC)).isoformat(timespec="seconds")


def _text(value, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError("a text field is too long or not text.")
    return value
