"""A profile as one JSON document: what "Download my data" gives, what a visitor's browser keeps, and what
"Import my data" takes back.

    {"format": "mood-to-movie/profile", "version": 1, "exported": "...",
     "marks": [{"tconst", "seen", "rating", "updated"}], "settings": {"mapping", "filters", "resting", "taught"},
     "answers": {"sad or angry": {"sad": 2}}, "mood_marks": [{"emotion", "tconst", "rating", "updated"}]}

`parse` is the one gate for a document that comes from outside (a file, a browser's storage): it checks
size, shape and every field's type and range (ids, times, finite numbers within their bounds, lengths) and
returns a clean copy, or raises `Refused` (one sentence, and nothing else ever escapes it). Nothing is
changed before the whole document has passed. `salvage` takes what can be read of a refused one, when the
person asks for it.
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
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a mark without a time: anything newer wins a merge
# The list's filters (ui/film_list.py draws them): years and runtime are [from, to] whole numbers.
YEARS, RUNTIME, RATING = (1870, 2100), (0, 1440), (0.0, 10.0)
MAX_COUNT = 1_000_000  # times one "not sure" answer was given


class Refused(ValueError):
    """A document `parse` does not take: its message is one sentence for the person; nothing was changed."""


class _Bad(ValueError):
    """One field's fault, in words (the end of a sentence that parse begins)."""


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
    """A validated profile document from JSON text; `Refused` (one sentence) for anything else."""
    doc = _load(text)
    if not isinstance(doc.get("marks"), list):
        raise Refused("That file is not a profile: it has no list of marks.")
    if doc.get("format", FORMAT) != FORMAT:
        raise Refused(f"That file is not a profile (its format is {_show(doc.get('format'))}).")
    version = doc.get("version", VERSION)
    if type(version) is not int or version < 1:
        raise Refused(f"That file is not a profile (its version is {_show(version)}).")
    if version > VERSION:
        raise Refused("That profile was made by a newer version of this app; update the app to read it.")
    try:
        return _document(doc, strict=True)
    except _Bad as e:
        raise Refused(f"That profile was not imported: {e}") from None
    except Exception:  # noqa: BLE001 - the gate: whatever a field does, the person gets one sentence
        raise Refused("That profile was not imported: one of its entries is not in the expected form.") from None


def salvage(text: str | bytes) -> dict | None:
    """What can be read of a document `parse` refused (a newer version's, a slightly damaged one), for a person
    who chose to import it: every mark, mood mark, setting, filter and answer that passes on its own, as a
    document `parse` takes; None when nothing can be read (not JSON, not an object, no marks)."""
    try:
        doc = _load(text)
        return _document(doc, strict=False) if isinstance(doc.get("marks"), list) else None
    except Exception:  # noqa: BLE001 - nothing readable is an answer too
        return None


def _load(text: str | bytes) -> dict:
    if len(text) > MAX_BYTES:
        raise Refused(f"That file is {len(text) / 1e6:.1f} MB; a profile is at most {MAX_BYTES / 1e6:.0f} MB.")
    try:
        doc = json.loads(text)  # NaN and Infinity load as numbers: the fields' own checks refuse them
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Refused("That file is not a profile: it is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise Refused("That file is not a profile: it has no list of marks.")
    return doc


def _document(doc: dict, strict: bool) -> dict:
    """The clean copy. strict: the first bad entry refuses the whole document; else bad entries are left out."""
    def each(items, check):
        for item in items:
            try:
                yield check(*item) if isinstance(item, tuple) else check(item)
            except Exception:
                if strict:
                    raise

    marks, moods = doc["marks"], doc.get("mood_marks") or []
    settings, answers = doc.get("settings") or {}, doc.get("answers") or {}
    if not isinstance(moods, list) or not isinstance(settings, dict) or not isinstance(answers, dict):
        raise _Bad("its mood marks must be a list, its settings and answers objects.")
    if strict and max(len(marks), len(moods)) > MAX_MARKS:
        raise _Bad(f"it marks {max(len(marks), len(moods)):,} films (at most {MAX_MARKS:,}).")
    exported = doc.get("exported", "")
    return {"format": FORMAT, "version": VERSION, "exported": _text(exported, 40) if strict or
            isinstance(exported, str) and len(exported) <= 40 else "",
            "marks": list(dict(each(marks[:MAX_MARKS], _mark)).values()),
            "settings": dict(each(((k, v) for k, v in settings.items() if k in _SETTINGS),
                                  lambda k, v: (k, _SETTINGS[k](v, strict)))),
            "answers": dict(each(answers.items(), _answer)),
            "mood_marks": list(dict(each(moods[:MAX_MARKS], _mood_mark)).values())}


def _mark(r) -> tuple[str, dict]:
    if not isinstance(r, dict):
        raise _Bad("an entry of its marks is not an object.")
    rating, seen = r.get("rating", 0), r.get("seen", False)
    if type(rating) is not int or rating not in (-1, 0, 1):
        raise _Bad(f"a rating must be -1, 0 or 1 (got {_show(rating)}).")
    if not isinstance(seen, bool):
        raise _Bad("'seen' must be true or false.")
    tconst = _tconst(_field(r, "tconst"))
    return tconst, {"tconst": tconst, "seen": seen, "rating": rating, "updated": _when(r.get("updated"))}


def _mood_mark(r) -> tuple[tuple[str, str], dict]:
    if not isinstance(r, dict):
        raise _Bad("an entry of its mood marks is not an object.")
    emotion, rating = _field(r, "emotion"), _field(r, "rating")
    if not isinstance(emotion, str) or emotion not in EMOTIONS or type(rating) is not int or rating not in (-1, 1):
        raise _Bad("a mood mark needs one of the 7 emotions and a rating of -1 or 1.")
    tconst = _tconst(_field(r, "tconst"))
    return (emotion, tconst), {"emotion": emotion, "tconst": tconst, "rating": rating,
                               "updated": _when(r.get("updated"))}


def _mapping(mapping, strict: bool = True) -> dict:
    if not isinstance(mapping, dict):
        raise _Bad("its emotion → genre mapping must be an object.")
    preset, genres = _field(mapping, "preset"), _field(mapping, "genres")
    if not isinstance(preset, str) or preset not in PRESETS or not isinstance(genres, dict) or \
            any(e not in EMOTIONS or not isinstance(g, str) or g not in GENRES for e, g in genres.items()):
        raise _Bad("its emotion → genre mapping names an unknown preset, emotion or genre.")
    return {"preset": preset, "genres": dict(genres)}


def _filters(filters, strict: bool = True) -> dict:
    if not isinstance(filters, dict):
        raise _Bad("its filters hold an unknown name or value.")
    out = {}
    for k, v in filters.items():
        try:
            out[k] = _FILTERS[k](v)
        except Exception:
            if strict:
                raise _Bad(f"its {_NAMES[k]} filter is out of range or of the wrong kind." if k in _FILTERS else
                           "its filters hold an unknown name.") from None
    return out


def _switch(v) -> bool:
    if not isinstance(v, bool):
        raise _Bad("a switch must be true or false.")
    return v


def _range(bounds: tuple[int, int]):
    def check(v) -> list[int]:
        if not isinstance(v, list) or len(v) != 2 or not all(type(n) is int for n in v) or \
                not bounds[0] <= v[0] <= v[1] <= bounds[1]:
            raise _Bad(f"a range must be two whole numbers from {bounds[0]} to {bounds[1]}, the first not larger.")
        return list(v)
    return check


def _rating(v) -> float:
    if type(v) not in (int, float) or not math.isfinite(v) or not RATING[0] <= v <= RATING[1]:
        raise _Bad(f"a minimum rating is a number from {RATING[0]:g} to {RATING[1]:g}.")
    return v


_FILTERS = {"mix": _switch, "learnt_genres": _switch, "hide_seen": _switch, "min_rating": _rating,
            "years": _range(YEARS), "runtime": _range(RUNTIME)}
_NAMES = {"mix": "mood mix", "learnt_genres": "learnt genres", "hide_seen": "hide seen", "min_rating": "minimum rating",
          "years": "years", "runtime": "runtime"}


def _resting(values, strict: bool = True) -> list[float]:
    if not _probabilities(values):
        raise _Bad("its resting face must be 7 probabilities.")
    return [float(v) for v in values]


def _taught(taught, strict: bool = True) -> list[dict]:
    if not isinstance(taught, list) or len(taught) > MAX_TAUGHT or \
            not all(isinstance(t, dict) and t.get("emotion") in EMOTIONS and _probabilities(t.get("probs"))
                    for t in taught):
        raise _Bad(f"its taught answers must be at most {MAX_TAUGHT} readings of 7 probabilities, "
                   "each with an emotion.")
    return [{"emotion": t["emotion"], "probs": [float(v) for v in t["probs"]]} for t in taught]


_SETTINGS = {"mapping": _mapping, "filters": _filters, "resting": _resting, "taught": _taught}


def _probabilities(values) -> bool:
    return isinstance(values, list) and len(values) == len(EMOTIONS) and \
        all(type(v) in (int, float) and math.isfinite(v) and 0 <= v <= 1 for v in values)


def _answer(pair, counts) -> tuple[str, dict[str, int]]:
    a, _, b = pair.partition(" or ")
    if a not in EMOTIONS or b not in EMOTIONS or not isinstance(counts, dict) or \
            any(c not in EMOTIONS or type(n) is not int or not 0 < n < MAX_COUNT for c, n in counts.items()):
        raise _Bad("its \"not sure\" answers name an unknown emotion or count.")
    return pair, dict(counts)


def _field(entry: dict, name: str):
    if name not in entry:
        raise _Bad(f"an entry lacks its {name!r} field.")
    return entry[name]


def _tconst(value) -> str:
    if not isinstance(value, str) or not TCONST.fullmatch(value):
        raise _Bad(f"{_show(value)} is not an IMDb film id.")
    return value


def _when(value) -> str:
    """An ISO time in the profile's own form (UTC, seconds), so times compare as text; missing: the epoch (anything
    newer wins a merge); a time in the future is taken as now (it would otherwise outrank every later click), one
    before the epoch as the epoch."""
    if value is None:
        return EPOCH.isoformat()
    try:
        when = datetime.fromisoformat(_text(value, 40))
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):  # "0001-01-01T00:00:00+23:59" is before the first representable time
        raise _Bad(f"{_show(value)} is not a date and time.") from None
    return max(EPOCH, min(when, datetime.now(UTC))).isoformat(timespec="seconds")


def _text(value, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise _Bad("a text field is too long or not text.")
    return value


def _show(value) -> str:
    """A short, safe mention of a visitor's value in a sentence (never a whole structure)."""
    if isinstance(value, str):
        return repr(value[:20])
    if type(value) in (int, float, bool) or value is None:
        return repr(value)[:20]
    return f"a{'n' if type(value).__name__[0] in 'aeiou' else ''} {type(value).__name__}"
