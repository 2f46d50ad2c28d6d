"""Shared objects (the recogniser, the catalogue, the poster cache) and the app's files and secrets.

Paths are read from the environment on every call, not at import: this module outlives a page run, and the tests
point each run at its own files (fer/files.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from fer.files import catalogue_path, model_path, runs_dir, sidecar_path
from fer.recommend.catalogue import IMDB_BASE, load_catalogue
from fer.recommend.posters import Posters
from fer.server.shared import shared
from fer.vision.detect import DEFAULT_DETECTOR, DETECTORS
from fer.vision.personal import taught_pairs
from fer.vision.recognizer import EmotionRecognizer


def catalogue_file() -> Path:
    """The movie catalogue this page reads (FER_CATALOGUE overrides it)."""
    return catalogue_path()


def model_file() -> Path:
    """The default emotion model (FER_MODEL overrides it)."""
    return model_path()


def imdb_source() -> str:
    """Where "Refresh from IMDb" downloads from (FER_IMDB_SOURCE overrides it: the tests' refresh source)."""
    return os.environ.get("FER_IMDB_SOURCE", IMDB_BASE)


def mtime(path: Path) -> float:
    """A file's modification time (0 for none): the key that invalidates what was loaded from it."""
    return path.stat().st_mtime if path.exists() else 0.0


def catalogue() -> tuple[pd.DataFrame, dict]:
    """The catalogue as it is on disk now (ValueError when there is none or it is unreadable)."""
    path = catalogue_file()
    return get_catalogue(str(path), mtime(path))


# NOTE: fer.server.shared, not st.cache_resource: any browser can send Streamlit's "clear cache" (fer/server/shared.py).

def get_recognizer(path: str, mtimes: tuple[float, float], detector: str) -> EmotionRecognizer:
    """One recogniser per version of the model and its ONNX export: promoting a new default reloads it."""
    with st.spinner("Loading the emotion model…"):  # shown only when loading takes over half a second
        return shared("recognizer", (path, mtimes, detector), lambda: EmotionRecognizer.load(path, detector))


def detector_name() -> str:
    """The face detector the owner chose in the secrets (`[detector] name = "haar"`: the paper's), else YuNet."""
    name = str(secrets_section("detector").get("name") or DEFAULT_DETECTOR)
    if name not in DETECTORS:
        st.warning(f"The face detector {name[:40]!r} in the secrets is unknown (use one of "
                   f"{', '.join(DETECTORS)}): using {DEFAULT_DETECTOR}.")
        return DEFAULT_DETECTOR
    return name


def get_catalogue(path: str, mtime: float) -> tuple[pd.DataFrame, dict]:
    """Keyed on the file's mtime, so a refresh (which replaces the file) invalidates it.

    NOTE: one frame shared by every session, read-only (the list is built from copies of its rows), so the
    recommender's index of it is built once, not per rerun."""
    return shared("catalogue", (path, mtime), lambda: load_catalogue(path))


def get_posters(api_key: str, api: str) -> Posters:
    """One poster cache per server (shared by every session; Posters is thread-safe)."""
    return shared("posters", (api_key, api), lambda: Posters(api_key, runs_dir() / "posters", api))


def secrets_section(name: str) -> dict:
    """One table of the app's secrets ({} when absent, or when there is no secrets file at all)."""
    try:
        return dict(st.secrets.get(name) or {})
    except Exception:  # noqa: BLE001 (no secrets file)
        return {}


def posters() -> Posters | None:
    """Posters only when the owner put an OMDb key in the secrets; otherwise nothing is fetched."""
    conf = secrets_section("posters")
    key = conf.get("omdb_api_key")
    return get_posters(str(key), str(conf.get("api", "https://www.omdbapi.com/"))) if key else None


def session_recognizer(shared: EmotionRecognizer) -> EmotionRecognizer:
    """The shared recogniser adapted to this person: their resting face and what their "not sure" answers taught
    (kept per session: the shared one is never changed, other viewers are not affected). A model without a
    neutral reference cannot use a resting face (one from another deploy's profile, say): the profile keeps it, and
    the resting-face panel says so (ui.panels.resting_panel)."""
    resting = st.session_state.get("resting") if shared.can_calibrate else None
    person = (resting, st.session_state.get("taught"))
    cached = st.session_state.get("session_recognizer")
    if cached is None or cached[0] is not shared or cached[1] != person:
        rec = shared.with_person(person[0], taught_pairs(person[1])) if any(person) else shared
        cached = st.session_state["session_recognizer"] = (shared, person, rec)
    return cached[2]


def page_recognizer() -> EmotionRecognizer:
    """The default model (reloaded when it is promoted), adapted to this session's person."""
    model = model_file()
    return session_recognizer(get_recognizer(str(model), (mtime(model), mtime(sidecar_path(model))), detector_name()))
