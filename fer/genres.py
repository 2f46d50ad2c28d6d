"""Movie genres (IMDb's vocabulary) and the emotion -> genre mappings: the presets and a person's own.

Every mapping the app, the CLI and the recommender use is built by `build_mapping`, which checks it.
"""

from __future__ import annotations

from fer.emotions import EMOTIONS

GENRES = ("Action", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary", "Drama", "Family",
          "Fantasy", "Film-Noir", "History", "Horror", "Music", "Musical", "Mystery", "News", "Romance", "Sci-Fi",
          "Sport", "Thriller", "War", "Western")
PRESETS: dict[str, dict[str, str]] = {
    # The paper's Table 1.
    "paper": {"angry": "Family", "disgust": "Musical", "fear": "Sport", "happy": "Thriller", "neutral": "Western",
              "sad": "Drama", "surprise": "Film-Noir"},
    # Films that sit with the feeling: people often pick media congruent with their mood.
    "match my mood": {"angry": "Action", "disgust": "Horror", "fear": "Thriller", "happy": "Comedy",
                      "neutral": "Documentary", "sad": "Drama", "surprise": "Mystery"},
    # Films that counter the feeling: warm, light or awe-filled genres for the negative moods.
    "lift my mood": {"angry": "Comedy", "disgust": "Animation", "fear": "Family", "happy": "Adventure",
                     "neutral": "Fantasy", "sad": "Comedy", "surprise": "Sci-Fi"},
}


def genre_name(name: str) -> str:
    """IMDb's spelling of a genre, ignoring case, spaces and hyphens ("film noir" -> "Film-Noir"); else ValueError."""
    genre = _GENRE_BY_KEY.get(_genre_key(name))
    if genre is None:
        raise ValueError(f"unknown genre {name!r} (IMDb genres: {', '.join(GENRES)}).")
    return genre


def _genre_key(name: str) -> str:
    return "".join(c for c in str(name).lower() if c.isalnum())


_GENRE_BY_KEY = {_genre_key(g): g for g in GENRES}


def build_mapping(preset: str = "paper", overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Emotion -> genre for a preset, with a user's per-emotion overrides on top; unknown names refused."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)}).")
    mapping = {**PRESETS[preset], **(overrides or {})}
    for emotion, genre in mapping.items():
        if emotion not in EMOTIONS:
            raise ValueError(f"unknown emotion {emotion!r} (choose from {', '.join(EMOTIONS)}).")
        try:
            mapping[emotion] = genre_name(genre)
        except ValueError as e:
            raise ValueError(f"{emotion}: {e}") from None
    return mapping
