"""The person a command ranks for: their profile read without changing it (`--profile local`, their own profile
file, or the JSON document "Download my data" gives), and the mapping and filters they saved in it, so
`python -m fer.movies recommend` and `python -m fer.predict` list what the page lists for the same reading."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd

from fer.emotions import EMOTIONS
from fer.genres import GENRES, PRESETS, build_mapping
from fer.profiles.document import dumps, parse
from fer.profiles.store import Profile, ProfileError, default_path
from fer.recommend.arrays import index
from fer.recommend.ranker import recommend

SQLITE = b"SQLite format 3\x00"
RUNTIME = (40, 240)  # the page's runtime slider: its full extent is no filter
# A person's filters: the keys of `filter_start`, of the page's filter controls and of the "filters" setting saved.
FILTER_KEYS = ("mix", "learnt_genres", "hide_seen", "years", "min_rating", "runtime")


def read_profile(spec: str) -> Profile:
    """An in-memory copy of a profile: `local` (this user's own, empty when they have none yet), a profile file
    or a profile JSON document. Nothing on disk is written, moved or created; ProfileError (one sentence) for a
    missing or unreadable path."""
    path = default_path() if spec == "local" else Path(spec)
    if spec == "local" and not path.exists():
        return Profile(None)
    try:
        data = path.read_bytes() if path.is_file() else None
    except OSError as e:
        raise ProfileError(f"{path}: the profile could not be read ({e.strerror or e}).") from None
    if data is None:
        raise ProfileError(f"{path}: no such profile file (give `local` or a file from \"Download my data\").")
    try:
        doc = parse(_export(path) if data.startswith(SQLITE) else data)
    except (ValueError, OSError) as e:
        raise ProfileError(f"{path}: {e}") from None
    profile = Profile(None)
    profile.restore(doc, replace=True)
    return profile


def _export(path: Path) -> str:
    """A profile file's document, read from a copy (opening the file itself may migrate or move it aside)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "profile.db"
        shutil.copyfile(path, copy)
        if Path(f"{path}-wal").is_file():  # the newest writes of a profile in use are in its journal
            shutil.copyfile(f"{path}-wal", f"{copy}-wal")
        profile = Profile(copy)
        try:
            if profile.notice:
                raise ValueError("it is not a profile file (damaged or of another program).")
            return dumps(profile.export())
        finally:
            profile.close()


def saved_preset(saved: dict | None) -> str:
    """The preset of a saved "mapping" setting; "paper" when none, or one this app does not know, is saved."""
    preset = saved.get("preset") if isinstance(saved, dict) else None
    return preset if preset in PRESETS else "paper"


def saved_mapping(saved: dict | None, preset: str | None = None) -> dict[str, str]:
    """Emotion -> genre from a saved "mapping" setting, the one rule of the page and the commands: the saved preset
    (or `preset`), with the genres the person chose when they chose them for that preset (an unknown emotion or
    genre is passed over: the preset's genre stands)."""
    saved = saved if isinstance(saved, dict) else {}
    chosen = preset or saved_preset(saved)
    genres = saved.get("genres") if saved.get("preset") == chosen and isinstance(saved.get("genres"), dict) else {}
    return build_mapping(chosen, {e: g for e, g in genres.items() if e in EMOTIONS and g in GENRES})


def setting(profile: Profile | None, name: str):
    """One of a profile's saved settings (None without a profile, or when unset)."""
    return profile.get(name) if profile is not None else None


def best_rating(movies: pd.DataFrame) -> float:
    """The best film's rating in the rating slider's half-point steps: a minimum above it would empty the list.
    Read from the catalogue's cached arrays: the filters are drawn on every rerun (every second beside a webcam)."""
    return float(index(movies).top_rating * 2 // 1 / 2)


def years(movies: pd.DataFrame) -> tuple[int, int]:
    """The catalogue's first and last year: the year slider's extent (cached with the catalogue's arrays)."""
    return index(movies).years


def filter_start(saved: dict | None, movies: pd.DataFrame) -> dict:
    """The filters a person starts from, as the page's controls show them: what they saved, clamped to each
    control's extent (the catalogue's years, 40-240 minutes, a minimum rating up to the best film's); the full
    extent, or the default, where nothing usable was saved. Its keys are FILTER_KEYS."""
    saved = saved if isinstance(saved, dict) else {}
    rating = saved.get("min_rating")
    rating = float(rating) if isinstance(rating, int | float) and not isinstance(rating, bool) else 0.0
    return {"mix": _flag(saved, "mix", False), "learnt_genres": _flag(saved, "learnt_genres", True),
            "hide_seen": _flag(saved, "hide_seen", True), "years": _range(saved.get("years"), *years(movies)),
            "min_rating": min(max(rating, 0.0), best_rating(movies)) if rating == rating else 0.0,
            "runtime": _range(saved.get("runtime"), *RUNTIME)}


def as_arguments(values: dict, movies: pd.DataFrame) -> dict:
    """Filter values as `recommend` arguments: a range at its full extent, or a 0 minimum rating, is no filter
    (films with an unknown year or runtime stay)."""
    chosen, runtime = tuple(values["years"]), tuple(values["runtime"])
    return {"mix": bool(values["mix"]), "learnt_genres": bool(values["learnt_genres"]),
            "hide_seen": bool(values["hide_seen"]), "years": None if chosen == years(movies) else chosen,
            "min_rating": values["min_rating"] or None, "runtime": None if runtime == RUNTIME else runtime}


def saved_filters(profile: Profile | None, movies: pd.DataFrame) -> dict:
    """The person's saved filters as `recommend` arguments, exactly as the page starts from them."""
    return as_arguments(filter_start(setting(profile, "filters"), movies), movies)


def _flag(saved: dict, name: str, default: bool) -> bool:
    return saved[name] if isinstance(saved.get(name), bool) else default


def _range(pair, low: int, high: int) -> tuple[int, int]:
    """A saved (low, high) clamped to the control's extent; the full extent when unset or unusable."""
    if not (isinstance(pair, list | tuple) and len(pair) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) and v == v for v in pair)):
        return low, high
    a, b = (max(low, min(high, int(v))) for v in pair)
    return (a, b) if a <= b else (low, high)


def list_for(probs: dict[str, float], movies: pd.DataFrame, profile_spec: str | None = None, n: int = 50,
             preset: str | None = None, **options) -> pd.DataFrame:
    """The list the page shows for this reading and profile (`--profile` of a command: `local` or a path, read
    without changing it), with its saved mapping (or `preset`'s). ProfileError (one sentence) for a missing or
    unreadable profile."""
    profile = read_profile(profile_spec) if profile_spec else None
    try:
        return ranked_for(probs, saved_mapping(setting(profile, "mapping"), preset), movies, profile, n, **options)
    finally:
        if profile is not None:
            profile.close()


def ranked_for(probs: dict[str, float], mapping: dict[str, str], movies: pd.DataFrame, profile: Profile | None,
               n: int = 50, **options) -> pd.DataFrame:
    """`recommend` with the profile's saved filters, `options` (recommend's filters, mix, hide_seen) over them where
    not None: the commands' list for a profile already read."""
    filters = saved_filters(profile, movies)
    filters.update({k: v for k, v in options.items() if v is not None})
    return recommend(probs, mapping, movies, profile, n, **filters)
