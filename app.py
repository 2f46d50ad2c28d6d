"""Mood-to-movie: the main page. Webcam, photo or snapshot -> emotion -> genre -> top-50 IMDb movies.

    streamlit run app.py

UI only: everything else lives in fer/. Environment overrides (used by the tests): see fer/files.py, and
FER_IMDB_SOURCE (refresh source).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pandas as pd
import streamlit as st
from streamlit import runtime

from fer.emotions import EMOTIONS
from fer.files import catalogue_path, model_path, runs_dir, sidecar_path
from fer.genres import GENRES, PRESETS, build_mapping
from fer.profiles import open_profile
from fer.profiles.document import is_empty, parse, stored_text
from fer.profiles.store import Profile, ProfileError, apply_marks
from fer.recommend.catalogue import ATTRIBUTION, IMDB_BASE, load_catalogue, refresh_flight, start_refresh
from fer.recommend.neighbours import ATTRIBUTION as LEARNT_FROM
from fer.recommend.posters import Posters
from fer.recommend.ranker import recommend, steady
from fer.server import access
from fer.server.jobs import Busy
from fer.server.shared import shared
from fer.server.uploads import cap_sessions
from fer.training.contributions import ContributionRefused, contribute, contributed_dir, withdraw
from fer.vision.detect import DEFAULT_DETECTOR, DETECTORS
from fer.vision.draw import draw_faces
from fer.vision.explain import MAX_WHY, legend, occlusion_map, overlay
from fer.vision.images import MAX_UPLOAD_MB, load_image
from fer.vision.live import WEBRTC_RENDERED_RUN_COUNT, LiveMood
from fer.vision.mood import Reading, answered, as_vector, read_mood
from fer.vision.personal import PERSONAL_SETTINGS, remember, taught_pairs
from fer.vision.recognizer import EmotionRecognizer

if TYPE_CHECKING:
    import altair as alt

CATALOGUE = catalogue_path()
IMDB_SOURCE = os.environ.get("FER_IMDB_SOURCE", IMDB_BASE)
MODEL = model_path()
INPUT_MODES = ("Webcam", "Photo", "Snapshot")
LISTED = 50  # films in the list (the paper's top 50); twice as many are ranked, the rest fill gaps marks leave
NO_FACE_HINT = ("No face found. Try a brighter, front-facing photo in which the face is larger "
                "(at least about 60 pixels wide), without sunglasses or strong shadows.")


# ---------------------------------------------------------------- cached loaders

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
    (kept per session: the shared one is never changed, other viewers are not affected)."""
    person = (st.session_state.get("resting"), st.session_state.get("taught"))
    cached = st.session_state.get("session_recognizer")
    if cached is None or cached[0] is not shared or cached[1] != person:
        rec = shared.with_person(person[0], taught_pairs(person[1])) if any(person) else shared
        cached = st.session_state["session_recognizer"] = (shared, person, rec)
    return cached[2]


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


# ---------------------------------------------------------------- sidebar parts

def session_profile() -> Profile:
    """This person's profile, opened once per session (and again when they log in or out); their saved
    resting face comes back with it."""
    email = access.account_id(st.user)
    if st.session_state.get("profile_email", "-") != email:
        try:
            profile, kind = open_profile(email, access.hosted(), profile_database())
        except (ProfileError, OSError) as e:
            profile, kind = Profile(None), f"Your profile could not be opened ({e}); for now your marks are " \
                "kept in this browser session only."
        st.session_state.update(profile=profile, profile_kind=kind, profile_email=email,
                                saved=profile_settings(profile))
        st.session_state.pop("browser_read", None)  # a visitor who logged out takes their browser's copy again
        if profile.notice:
            st.session_state["profile_error"] = profile.notice
        restore_person()
    return st.session_state["profile"]


def restore_person() -> None:
    """This session's resting face and taught answers from the profile's saved settings (none: none)."""
    for key in PERSONAL_SETTINGS:
        if st.session_state["saved"][key]:
            st.session_state[key] = st.session_state["saved"][key]
        else:
            st.session_state.pop(key, None)


# ---------------------------------------------------------------- the visitor's browser profile

BROWSER_KEY = "mood-to-movie/profile"  # the browser's localStorage entry (one per site)
# NOTE: runs in the visitor's page, not on the server. Streamlit's own component API (st.components.v2, no
# package): writes the document it is given when it differs from the stored one, removes it on `erase`,
# answers with what the browser holds while `read` is asked (a state value: one rerun when it changes), and
# with `listen` passes on what another tab of this browser stores (storage events reach only other tabs).
BROWSER_JS = """
export default function ({ data, setStateValue }) {
  let stored = "";
  try {
    if (data.erase) localStorage.removeItem(data.key);
    else if (typeof data.save === "string" && localStorage.getItem(data.key) !== data.save)
      localStorage.setItem(data.key, data.save);
    stored = localStorage.getItem(data.key) ?? "";
  } catch (e) {
    setStateValue("failed", String(e && e.name || e));
  }
  if (data.read) setStateValue("stored", stored);
  if (data.listen) {
    window.__moodToMovieStored = setStateValue;
    if (!window.__moodToMovieListening) {
      window.__moodToMovieListening = true;
      window.addEventListener("storage", (e) => {
        if (e.key === data.key) window.__moodToMovieStored("stored", e.newValue ?? "");
      });
    }
  }
}
"""
browser_store = st.components.v2.component("mood_to_movie.browser_profile", js=BROWSER_JS)


def keeps_in_browser() -> bool:
    """An anonymous visitor of a public deploy: their profile lives in their own browser, none on the server."""
    return access.hosted() and not access.account_id(st.user)


def browser_copy() -> str | None:
    """The profile text this browser holds ("" for none) once its storage answered; None until then."""
    if st.session_state.get("browser_erased"):
        return ""
    return (st.session_state.get("browser_profile") or {}).get("stored")


def take_browser_copy(profile: Profile) -> bool:
    """Brings the browser's copy into a visitor's session profile when its storage answers, and again whenever
    another tab of this browser changed it (that tab started from this copy, so its copy replaces this one).
    False on a public deploy's first run while the storage has not answered (the profile's parts wait one run
    for it, so no widget is drawn at a default the copy then changes); a late answer still restores, with new
    widgets."""
    if not access.hosted():
        return True
    stored = browser_copy()
    if stored is None:
        first = not st.session_state.get("browser_waited")
        st.session_state["browser_waited"] = True
        return not first
    if st.session_state.get("browser_taken") == stored:
        return True
    changed_elsewhere = st.session_state.get("browser_read", False)
    st.session_state.update(browser_read=True, browser_taken=stored)
    if keeps_in_browser() and (stored or changed_elsewhere):
        try:
            profile.restore(parse(stored) if stored else None, replace=changed_elsewhere)
        except (ValueError, ProfileError) as e:
            st.session_state["profile_error"] = f"The profile kept in this browser could not be read: {e} It " \
                "stays there untouched until you mark something."
            return True
        reload_profile(profile)
    return True


def browser_sync(key: str) -> None:
    """Mounts the browser's storage (public deploys only). A visitor's session profile is written there whenever
    it changed (removed when empty); a logged-in account's profile never is (a shared computer keeps nothing)."""
    if not access.hosted():
        return
    read = bool(st.session_state.get("browser_read"))
    data = {"key": BROWSER_KEY, "read": not read and key == "browser_profile",
            "listen": key == "browser_profile" and keeps_in_browser(),
            "erase": bool(st.session_state.get("browser_erased"))}
    # NOTE: the document goes out only when the profile changed since this mount last sent it: the webcam's
    # list reruns every second, and a profile can be 1 MB.
    sent, version = st.session_state.setdefault("browser_sent", {}), None
    if read and keeps_in_browser():
        profile = st.session_state["profile"]
        version = (id(profile), profile.revision)
        if sent.get(key) != version:
            data.update(browser_document(profile))
    browser_store(key=key, data=data, on_stored_change=lambda: None, on_failed_change=lambda: None)
    sent[key] = version


def browser_document(profile: Profile) -> dict:
    """{"save": text} or {"erase": True} for the profile as it is now."""
    try:
        doc = profile.export()
        return {"erase": True} if is_empty(doc) else {"save": stored_text(doc)}
    except ProfileError:
        return {}
    except ValueError as e:  # outgrown the browser's copy
        st.session_state["profile_error"] = str(e)
        return {}


def profile_kind() -> str:
    """The sentence that says where this person's profile is kept."""
    if keeps_in_browser() and (st.session_state.get("browser_profile") or {}).get("failed"):
        return "This browser does not keep data for this site (its storage is blocked or full): your marks " \
            "last for this tab only, and nothing is written on the server."
    return st.session_state["profile_kind"]


def import_profile(profile: Profile, text: str | bytes, from_browser: bool = False) -> None:
    """"Import my data", or the browser's copy added to an account (then removed from the browser): validated
    first, then one transaction; a refused document changes nothing."""
    try:
        doc = parse(text)
        profile.restore(doc)
    except (ValueError, ProfileError) as e:
        st.error(str(e))
        return
    st.session_state["browser_erased"] = st.session_state.get("browser_erased") or from_browser
    reload_profile(profile)
    st.session_state["profile_error"] = f"Imported {len(doc['marks'])} film mark(s) and your settings."
    st.rerun()


def profile_settings(profile: Profile) -> dict:
    """What the widgets start from. Read once per session: a widget's default must not change under it."""
    try:
        return {k: profile.get(k) for k in ("mapping", "filters", *PERSONAL_SETTINGS)}
    except ProfileError:
        return dict.fromkeys(("mapping", "filters", *PERSONAL_SETTINGS))


def save(key: str, value) -> None:
    """Keep a setting in the profile; a busy database costs the person one sentence, not their page."""
    try:
        if value is None:
            st.session_state["profile"].unset(key)
        else:
            st.session_state["profile"].set(key, value)
    except ProfileError as e:
        st.session_state["profile_error"] = str(e)


def wkey(name: str) -> str:
    """A profile-driven widget's key in this profile generation. A restored, imported or deleted profile starts
    new widgets: under its old key a browser keeps showing (and sends back) a widget's old value."""
    generation = st.session_state.get("generation", 0)
    return f"{name}_{generation}" if generation else name


def reload_profile(profile: Profile) -> None:
    """The page starts again from what the profile holds now (after a restore, an import or a delete): new
    widgets at its saved settings, its resting face, no mark controls from before."""
    st.session_state["saved"] = profile_settings(profile)
    restore_person()
    for key in ("marks_shown", "shown"):
        st.session_state.pop(key, None)
    st.session_state["generation"] = st.session_state.get("generation", 0) + 1


def current_mapping() -> dict[str, str]:
    """Emotion -> genre from the mapping editor: the chosen preset, with the user's per-emotion changes."""
    preset = st.session_state.get(wkey("preset"), _saved_mapping()["preset"])
    return build_mapping(preset, {e: st.session_state.get(wkey(f"genre_{preset}_{e}"), _mapping_default(preset, e))
                                  for e in EMOTIONS})


def _saved_mapping() -> dict:
    saved = st.session_state.get("saved", {}).get("mapping") or {}
    return {"preset": saved.get("preset") if saved.get("preset") in PRESETS else "paper",
            "genres": saved.get("genres") or {}}


def _mapping_default(preset: str, emotion: str) -> str:
    saved = _saved_mapping()
    genre = saved["genres"].get(emotion) if saved["preset"] == preset else None
    return genre if genre in GENRES else PRESETS[preset][emotion]


def _save_mapping() -> None:
    save("mapping", {"preset": st.session_state[wkey("preset")], "genres": current_mapping()})


def mapping_editor() -> None:
    """Preset, then one genre per emotion. Each preset has its own widgets, whose defaults are the preset
    (or what this person chose before, from their profile).

    NOTE: defaults go to the widgets, never into st.session_state. A value written there in a run that a
    click interrupts before the widget is drawn is used by the server on the next run, but the browser
    draws the widget at its own default (the first genre, Action) and sends that back: the recommendations
    switched genre by themselves in about half of the browser starts in which Photo was clicked at once.
    """
    with st.expander("Emotion → genre"):
        presets = list(PRESETS)
        preset = st.selectbox("Preset", presets, index=presets.index(_saved_mapping()["preset"]), key=wkey("preset"),
                              on_change=_save_mapping)
        for e in EMOTIONS:
            st.selectbox(e.capitalize(), GENRES, index=GENRES.index(_mapping_default(preset, e)),
                         key=wkey(f"genre_{preset}_{e}"), on_change=_save_mapping)


def recommendations(reading: Reading | None, key: str = "") -> None:
    """Detected emotion, its genre, and the genre's top-50 list. An uncertain reading is asked about first;
    `key` names the picture it belongs to (a new picture asks again)."""
    if reading is None:
        st.info("No mood yet: show a face to the camera or upload a photo.")
        return
    if reading.uncertain:
        reading = not_sure(reading, key)
        if reading is None:
            return
    genre = current_mapping()[reading.emotion]
    c1, c2 = st.columns(2)
    c1.metric("Mood", reading.emotion.capitalize(), f"{reading.confidence:.0%} {reading.source}", delta_color="off",
              delta_arrow="off")
    c2.metric("Genre", genre)
    try:
        movies, _ = get_catalogue(str(CATALOGUE), _mtime(CATALOGUE))
    except ValueError as e:
        st.error(str(e))
        return
    filters = list_filters(movies)
    profile = session_profile()
    record_marks(profile)
    try:
        top = steady_list(lambda: recommend(reading.probs, current_mapping(), movies, profile, 2 * LISTED,
                                            **filters), reading, filters, profile)
    except ProfileError as e:
        st.warning(str(e))
        top = recommend(reading.probs, current_mapping(), movies, None, LISTED, **filters)
    film_list(top, profile)


def steady_list(ranked: Callable[[], pd.DataFrame], reading: Reading, filters: dict, profile: Profile) -> pd.DataFrame:
    """While the reading, filters, mapping and catalogue stay the same, marks change the list in place
    (fer.recommend.ranker.steady): a film never leaves the list between a person's clicks unless they hid it, and the
    films that fill its gaps come from the ranking made for this context (ranked again by "Re-rank with my
    marks"), so a click costs no ranking."""
    probs = tuple(round(reading.probs[e], 1) for e in EMOTIONS) if filters["mix"] else reading.emotion
    context = (probs, repr(sorted(filters.items())), repr(current_mapping()), _mtime(CATALOGUE),
               st.session_state.get("generation", 0), st.session_state.get("reranked", 0))
    st.button("Re-rank with my marks", key="rerank", help="Marks keep the list in place while you click; this "
              "orders it again by everything you marked.",
              on_click=lambda: st.session_state.update(reranked=st.session_state.get("reranked", 0) + 1))
    shown = st.session_state.get("shown")
    same = shown is not None and shown[0] == context
    fresh = shown[2] if same else ranked()
    top = steady(shown[1] if same else None, fresh, profile, filters["hide_seen"], LISTED)
    if len(top) < LISTED and same and len(fresh) == 2 * LISTED:  # its spares are used up: rank again
        fresh = ranked()
        top = steady(shown[1], fresh, profile, filters["hide_seen"], LISTED)
    st.session_state["shown"] = (context, top, fresh)
    return top


FILTER_KEYS = ("mix", "hide_seen", "years", "min_rating", "runtime")


def list_filters(movies: pd.DataFrame) -> dict:
    """Mood mix, hide seen, years, minimum rating, runtime; starting from what this person chose last time.
    A range left at its full extent is no filter (films with an unknown year or runtime stay)."""
    saved = st.session_state.get("saved", {}).get("filters") or {}
    first, last = int(movies["year"].min()), int(movies["year"].max())
    full = {"mix": False, "hide_seen": True, "years": (first, last), "min_rating": 0.0, "runtime": (40, 240)}
    start = {k: tuple(saved[k]) if isinstance(full[k], tuple) else saved[k] for k in full
             if k in saved and type(saved[k]) in (list, type(full[k]))}
    start = {**full, **start}
    with st.expander("Filters and mood mix"):
        st.toggle("Mood mix: blend the genres of my leading emotions", start["mix"], key=wkey("mix"),
                  on_change=_save_filters, help="Off: the winning emotion's genre (the paper's list). On: each "
                  "emotion of at least 10 % brings its genre, in proportion to its probability.")
        st.toggle("Hide films I've seen", start["hide_seen"], key=wkey("hide_seen"), on_change=_save_filters)
        st.slider("Years", first, last, _clamp(start["years"], first, last), key=wkey("years"), on_change=_save_filters)
        st.slider("Minimum IMDb rating", 0.0, 10.0, float(start["min_rating"]), 0.5, key=wkey("min_rating"),
                  on_change=_save_filters)
        st.slider("Runtime (minutes)", 40, 240, _clamp(start["runtime"], 40, 240), 10, key=wkey("runtime"),
                  on_change=_save_filters)
    years, runtime = st.session_state[wkey("years")], st.session_state[wkey("runtime")]
    return {"mix": st.session_state[wkey("mix")], "hide_seen": st.session_state[wkey("hide_seen")],
            "years": None if tuple(years) == (first, last) else tuple(years),
            "min_rating": st.session_state[wkey("min_rating")] or None,
            "runtime": None if tuple(runtime) == (40, 240) else tuple(runtime)}


def _clamp(pair, low: int, high: int) -> tuple[int, int]:
    a, b = (max(low, min(high, int(v))) for v in pair)
    return (a, b) if a <= b else (low, high)


def _save_filters() -> None:
    save("filters", {k: st.session_state[wkey(k)] for k in FILTER_KEYS if wkey(k) in st.session_state})


MARKS = {"seen": ":material/visibility: Seen", "up": ":material/thumb_up:", "down": ":material/thumb_down:"}


def film_list(top: pd.DataFrame, profile: Profile) -> None:
    """The 50 films: title (never cut), year, rating, runtime, why it is here, where to watch, and one-click
    marks (seen, thumbs up, thumbs down) that change the list at once and stay in the person's profile."""
    if error := st.session_state.pop("profile_error", None):
        st.warning(error)
    if top.empty:
        st.info("No film matches these filters: widen them in \"Filters and mood mix\".")
        return
    images = posters()
    shown = images.get(top["tconst"].tolist()) if images else {}
    generation = st.session_state.get("generation", 0)
    with st.container(height=720):
        for film in top.itertuples():
            # NOTE: one keyed container per film, so the browser never carries one film's marks over to the
            # film that takes its place when a marked film leaves the list.
            with st.container(key=f"film_{generation}_{film.tconst}"):
                film_row(film, shown.get(film.tconst), profile, f"mark_{generation}_{film.tconst}")
    st.caption(profile_kind())


def film_row(film, poster: bytes | None, profile: Profile, key: str) -> None:
    marks = (["seen"] if film.seen else []) + {1: ["up"], -1: ["down"]}.get(film.thumb, [])
    picture, text = st.columns([1, 5]) if poster else (None, st.container())
    if picture is not None:
        picture.image(poster, width="stretch")
    year = "" if pd.isna(film.year) else f" ({film.year})"
    minutes = "" if pd.isna(film.runtime) else f" · {film.runtime} min"
    text.markdown(f"**{film.rank}. [{_md(film.title)}]({film.url})**{year} · {film.rating:.1f}★{minutes} "
                  f"· [where to watch ↗]({film.watch_url})  \n:small[:gray[{_md(film.reason)}]]")
    # NOTE: no on_change callback: Streamlit stops a callback midway when the next click's rerun arrives
    # (a StopException), and that click's change is never offered again: 6 visitors clicking at once lost
    # 6-16 of 48 thumbs. `record_marks` writes every change the next run finds, however runs were cut short.
    st.session_state.setdefault("marks_shown", {})[key] = (film.tconst, marks, film.mood)
    if key in st.session_state and sorted(st.session_state[key] or []) != sorted(marks):
        st.session_state[key] = marks  # changed elsewhere (another tab or device): show what the profile holds
    text.segmented_control("Marks", list(MARKS), format_func=MARKS.get, selection_mode="multi", key=key,
                           default=None if key in st.session_state else marks, label_visibility="collapsed")


def record_marks(profile: Profile) -> None:
    """Write what the person clicked since the marks were drawn: each mark control whose value differs from
    the marks it was drawn with (seen on/off, a thumb; up and down exclude each other), with the mood whose
    list showed the film (fer.profiles.store.apply_marks writes only the change). Runs first in every run, so a
    click whose run was cut short by the next click is written by the next run."""
    shown = st.session_state.get("marks_shown", {})
    for key, (tconst, drawn, mood) in list(shown.items()):
        if key not in st.session_state:
            shown.pop(key)  # the control is gone (its film left the list, or the data was deleted)
            continue
        now = list(st.session_state[key] or [])
        if sorted(now) == sorted(drawn):
            continue
        try:
            held = apply_marks(profile, tconst, drawn, now, mood)
        except ProfileError as e:
            st.session_state["profile_error"] = str(e)
            return
        shown[key] = (tconst, held, mood)
        if sorted(held) != sorted(now):
            st.session_state[key] = held  # the other thumb goes off (the control is not drawn yet this run)


def _md(text: str) -> str:
    """A title as literal markdown text (titles hold *, _, [ and friends)."""
    return "".join("\\" + c if c in "\\`*_{}[]()<>#+-.!|$~" else c for c in str(text))


def not_sure(reading: Reading, key: str) -> Reading | None:
    """"Not sure: sad or angry?" with one tap per candidate and "something else"; the answer becomes the mood.

    Answers are counted per emotion pair in the person's profile (numbers only). With the person's explicit
    opt-in, the 48x48 grey face crop is kept with the answer to help improve the model (fer/training/contributions.py).
    """
    answers = st.session_state.setdefault("answers", {})
    if key in answers:
        return answered(reading, answers[key])
    a, b = reading.candidates
    question = st.empty()
    with question.container():
        st.warning(f"Not sure: **{a}** or **{b}**?")
        c1, c2 = st.columns(2)
        choice = a if c1.button(a.capitalize(), key=f"ans_{key}_a") else b if c2.button(b.capitalize(),
                                                                                      key=f"ans_{key}_b") else None
        other = st.selectbox("Something else", ["—", *[e for e in EMOTIONS if e not in (a, b)]], key=f"ans_{key}_o")
    choice = choice or (other if other != "—" else None)
    if choice is None:
        return None
    question.empty()  # answered: the list takes its place in this same run
    answers[key] = choice
    teach(reading, choice)
    try:
        session_profile().count_answer(f"{a} or {b}", choice)
    except ProfileError as e:
        st.session_state["profile_error"] = str(e)
    crop = st.session_state.get("last_crop")
    if crop is not None and st.session_state.get("contribute"):
        given = st.session_state.setdefault("contributed", [])
        try:
            given.append(str(contribute(contributed_dir(runs_dir()), choice, crop, len(given))))
        except ContributionRefused as e:
            st.session_state["profile_error"] = str(e)
        except OSError as e:  # a full or read-only disk: the answer still counts, the crop is not kept
            st.session_state["profile_error"] = f"Your face crop could not be kept ({e.strerror or e}); " \
                "your answer still counts."
    return answered(reading, choice)


def teach(reading: Reading, choice: str) -> None:
    """An answered reading joins what adapts this person's readings (fer/vision/personal.py): its 7 numbers as the model
    read them, before this person's correction, so a later resting face or answer refits from the model's own."""
    rec = st.session_state["session_recognizer"][2]  # the recogniser that made this reading
    probs = rec.uncorrect(as_vector(reading.probs)[None])[0]
    st.session_state["taught"] = remember(st.session_state.get("taught"), probs, choice)
    save("taught", st.session_state["taught"])


def data_panel(profile: Profile) -> None:
    """Whose profile this is, log in/out where login is set up, and the person's rights: download, delete."""
    with st.expander("My data"):
        st.caption(profile_kind() + " It holds your marks, filters, mapping, resting-face "
                   "numbers and \"not sure\" answers: never an image.")
        if access.account_id(st.user):
            st.button("Log out", on_click=st.logout)
        elif _login_configured():
            st.button("Log in to keep my profile", on_click=st.login)
        try:
            data = json.dumps({"profile": st.session_state["profile_kind"], **profile.export()}, indent=1)
        except ProfileError as e:
            st.warning(str(e))
            return
        st.download_button("Download my data (JSON)", data, "my-mood-to-movie-data.json", "application/json")
        picked = st.file_uploader("Import my data (JSON)", type=["json"], key=wkey("import"), max_upload_size=1,
                                  help="A file from \"Download my data\": its marks, settings and answers are added.")
        if picked is not None and st.session_state.get("imported") != picked.file_id:
            st.session_state["imported"] = picked.file_id
            import_profile(profile, picked.getvalue())
        if access.account_id(st.user) and browser_copy() and st.button(
                "Add the profile kept in this browser to my account", help="Then removes it from this browser."):
            import_profile(profile, browser_copy(), from_browser=True)
        if not st.session_state.get("confirm_delete"):
            st.button("Delete my data", on_click=lambda: st.session_state.update(confirm_delete=True))
            return
        st.warning("Delete every mark, setting, answer and your resting face from this profile?")
        c1, c2 = st.columns(2)
        c1.button("Yes, delete", type="primary", on_click=_delete_my_data, args=(profile,))
        c2.button("Keep it", on_click=lambda: st.session_state.update(confirm_delete=False))


def _delete_my_data(profile: Profile) -> None:
    st.session_state["confirm_delete"] = False
    try:
        profile.delete_all()
    except ProfileError as e:
        st.session_state["profile_error"] = str(e)
        return
    reload_profile(profile)
    st.session_state["profile_error"] = "Your data was deleted."


def profile_database() -> str | None:
    """`[profiles] database_url` in the secrets: logged-in people's profiles in that PostgreSQL database, shared
    by every replica of the app (fer/profiles/postgres.py); none: one SQLite file per account on this server."""
    return secrets_section("profiles").get("database_url")


def _login_configured() -> bool:
    return bool(secrets_section("auth"))


def contribution_panel() -> None:
    """The opt-in to give face crops with one's answers, and taking them back."""
    with st.expander("Help improve the model"):
        st.checkbox("When I answer a \"Not sure\", keep the 48×48 grey crop of my face with my answer, for "
                    "training once the app's owner has looked at it (off by default; nothing else is kept)",
                    key="contribute")
        given = st.session_state.get("contributed", [])
        if given and st.button(f"Delete the {len(given)} face crop(s) I gave"):
            try:
                withdraw([Path(p) for p in given], contributed_dir(runs_dir()))
            except OSError as e:
                st.error(f"Your face crops could not all be deleted ({e.strerror or e}); please try again.")
                return
            st.session_state["contributed"] = []
            st.success("Deleted.")


def resting_panel(mode: str, live: LiveMood | None) -> None:
    """Calibrate the reading to this person's resting face (numbers only, kept in this session)."""
    with st.expander("My resting face"):
        resting = st.session_state.get("resting")
        st.caption("Calibrated: readings are corrected for your resting face (7 numbers, kept in your profile)."
                   if resting else "A calm face that naturally looks stern can read as sad or angry. Calibrate: "
                   "relax and look at the camera (webcam), or use a relaxed photo or snapshot of yourself.")
        if mode == "Webcam" and live is not None and st.button("Calibrate: look relaxed for 2 seconds"):
            live.start_resting(2.0)
            st.session_state["calibrating"] = True
        if st.session_state.get("calibrating"):
            calibration_progress()
        if resting and st.button("Reset calibration"):
            set_resting(None)
            st.rerun()
        if taught := st.session_state.get("taught"):
            st.caption(f"Your {len(taught)} answer(s) to \"not sure\" also adapt the readings to your face "
                       "(numbers only, kept in your profile).")
            if st.button("Forget what my answers taught"):
                st.session_state.pop("taught")
                save("taught", None)
                st.rerun()


def set_resting(resting: list[float] | None) -> None:
    """This person's resting-face reading (7 numbers) for this session and their profile; None resets it."""
    if resting is None:
        st.session_state.pop("resting", None)
    else:
        st.session_state["resting"] = resting
    save("resting", resting)


@st.fragment(run_every=0.5)
def calibration_progress() -> None:
    live: LiveMood | None = st.session_state.get("live")
    recording, readings = live.resting() if live else (False, [])
    if recording:
        st.progress(min(len(readings) / 15, 1.0), text="Stay relaxed…")
        return
    st.session_state["calibrating"] = False
    if readings:
        set_resting(np.mean(readings, axis=0).tolist())
        st.rerun()
    st.error("No face was seen during those 2 seconds; try again facing the camera.")


def catalogue_panel(owner: access.Owner | None) -> None:
    """The catalogue's caption and, for the owner, "Refresh from IMDb": one background refresh per server,
    however often and from however many sessions it is clicked; its progress is shown to everyone."""
    job = refresh_flight(CATALOGUE)
    if owner is not None and st.button("Refresh from IMDb", disabled=job.state.running,
                                       help="Downloads IMDb's public datasets (~250 MB) and rebuilds the list."):
        try:
            start_refresh(owner, IMDB_SOURCE, CATALOGUE)
        except Busy as e:
            st.info(str(e))
    state = job.state
    if state.running:
        refresh_progress()
    elif owner is not None and state.finished and time.time() - state.finished < 120:
        if state.error:
            st.error(f"Refresh failed: {state.error} The current list stays.")
        else:
            st.success(f"Catalogue rebuilt: {state.result['rows']:,} movies.")
    try:
        _, meta = get_catalogue(str(CATALOGUE), _mtime(CATALOGUE))
        st.caption(f"Catalogue: {meta['rows']:,} movies, IMDb snapshot {meta.get('snapshot') or '?'}, "
                   f"built {meta['built'][:10]}.")
    except ValueError:
        st.caption("No movie catalogue yet.")
    st.caption(f"{ATTRIBUTION} {LEARNT_FROM}")


@st.fragment(run_every=1.0)
def refresh_progress() -> None:
    """Polls the running refresh; when it ends, reruns the page so the list and caption use the new file."""
    state = refresh_flight(CATALOGUE).state
    if not state.running:
        st.rerun()
    st.progress(min(state.done / state.total, 1.0) if state.total else 0.0,
                text=f"Refreshing the catalogue: {state.stage or 'starting'}…")


# ---------------------------------------------------------------- inputs

def probability_chart(probs: dict[str, float]) -> alt.Chart:
    """One bar per emotion, every label shown (a fixed band per row; Vega drops labels that would overlap)."""
    import altair as alt  # NOTE: here, not at the top: ~0.2 s off a fresh server's first page run

    df = pd.DataFrame({"emotion": list(EMOTIONS), "probability": [probs[e] for e in EMOTIONS]})
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%", title=None)),
        y=alt.Y("emotion:N", sort=list(EMOTIONS), axis=alt.Axis(title=None, labelOverlap=False)),
        tooltip=["emotion", alt.Tooltip("probability:Q", format=".1%")]).properties(height=alt.Step(22))


def face_charts(faces: list) -> None:
    cols = st.columns(min(len(faces), 3))
    for i, f in enumerate(faces):
        with cols[i % len(cols)]:
            top3 = sorted(f.probs, key=f.probs.get, reverse=True)[:3]
            st.caption(f"Face {i + 1}: " + " · ".join(f"**{e}** {f.probs[e]:.0%}" for e in top3))
            st.altair_chart(probability_chart(f.probs), width="stretch")


def group_toggle() -> bool:
    return st.toggle("Recommend for the whole group", key="group_mood",
                     help="Off: the largest face decides. On: the mean of all faces.")


def still_image(data: bytes, rec: EmotionRecognizer) -> Reading | None:
    """Photo / snapshot: annotate, chart every face, and read the mood (largest face or the group)."""
    try:
        image = load_image(data)
    except ValueError as e:
        st.error(str(e))
        return None
    faces, note = rec.read_photo(image)
    if note:
        st.info(note)
    why = bool(faces) and st.toggle("Show why", key="show_why", help="Colours the parts of the largest faces "
                                    f"(up to {MAX_WHY}) that moved the reading most (covering them changes it most).")
    if why:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        explained = faces[:MAX_WHY]  # NOTE: ~0.4 s of server time per face, shared by every visitor
        shown = overlay(draw_faces(image, faces), explained, [occlusion_map(rec, gray, f) for f in explained], rec)
    else:
        shown = draw_faces(image, faces)
    st.image(shown, channels="BGR", width="stretch")
    if why:
        st.image(legend(), channels="BGR", caption="Heatmap: blue, covering this part changes the reading least · "
                 "red, most")
    if not faces:
        st.warning(NO_FACE_HINT)
        return None
    face_charts(faces)
    # NOTE: the crop stays in memory, and is kept only if the person opts in and answers a "Not sure".
    st.session_state["last_crop"] = rec.crop(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), faces[0]) \
        if st.session_state.get("contribute") else None
    if st.button("Use this picture as my resting face", help="Look relaxed in it: later readings are corrected "
                                                            "for how your calm face reads."):
        try:
            set_resting(rec.calibrated([image]).resting.tolist())
            st.rerun()
        except ValueError as e:
            st.error(str(e))
    return read_mood([f.probs for f in faces], len(faces) > 1 and group_toggle(), rec.not_sure_below)


def rtc_configuration() -> dict:
    """ICE servers: [] on localhost (host candidates suffice); TURN from st.secrets when deployed."""
    try:
        if "ice_servers" in st.secrets:
            return {"iceServers": [dict(s) for s in st.secrets["ice_servers"]]}
        if "twilio" in st.secrets:
            from streamlit_webrtc import get_twilio_ice_servers

            tw = st.secrets["twilio"]
            return {"iceServers": get_twilio_ice_servers(tw["account_sid"], tw["auth_token"])}
    except FileNotFoundError:
        pass  # no secrets.toml: fine on localhost
    except Exception as e:  # noqa: BLE001 (a TURN provider outage must not take the page down)
        st.warning(f"Could not get TURN servers ({type(e).__name__}); the webcam may not connect.")
    return {"iceServers": []}


def webcam(rec: EmotionRecognizer) -> LiveMood | None:
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    # NOTE: one LiveMood per browser session; its frame callback runs on a worker thread and only
    # touches `live` (thread-safe), never st.*.
    live = st.session_state.get("live")
    if live is None:
        live = st.session_state["live"] = LiveMood(rec)
    elif live.recognizer is not rec:
        live.use(rec)  # a new default model, or this viewer's resting face or answers

    keep_stream_alive()
    live.group = group_toggle()
    ctx = webrtc_streamer(key="webcam", mode=WebRtcMode.SENDRECV, video_frame_callback=live.frame_callback(),
                          media_stream_constraints={"video": True, "audio": False},
                          rtc_configuration=rtc_configuration(), async_processing=True)
    st.caption("Press START and allow the camera. If the video does not start within a few seconds, the "
               "network is blocking WebRTC: use the **Snapshot** mode instead.")
    return live if ctx.state.playing else None


def keep_stream_alive() -> None:
    """Workaround for streamlit-webrtc 0.79 dropping ~7 % of fresh streams ~5 s after connecting.

    Its orphan check resets the stream when Streamlit's script_run_count is more than one ahead of the
    count seen at the last render. That count is bumped on the event-loop thread when a run's
    `script_finished` message is *sent*, so during connection set-up (several back-to-back reruns) a
    run can read a stale count and the next one sees a jump of two: a false "not rendered" and a reset.
    When our own flag says the previous full run of this page did render the component (input mode
    Webcam), nothing can be orphaned, so we skip the check by clearing its bookkeeping. Switching to
    Photo/Snapshot, or to another page, clears the flag, and the check works as designed.
    """
    context = st.session_state.get("webcam")
    if st.session_state.get("webcam_rendered") and context is not None:
        setattr(context, WEBRTC_RENDERED_RUN_COUNT, None)
    st.session_state["webcam_rendered"] = True


@st.fragment(run_every=1.0)
def live_recommendations() -> None:
    """Re-runs on its own every second while the webcam plays, without rerunning the page."""
    live: LiveMood | None = st.session_state.get("live")
    snap = live.snapshot() if live else None
    locked = st.toggle("Lock this mood", key="lock_mood", help="Freeze the list while you read it.")
    if not locked or "locked_mood" not in st.session_state:
        st.session_state["locked_mood"] = snap.reading if snap else None
    reading = st.session_state["locked_mood"]
    if snap and snap.frames:
        st.caption(f"{snap.faces} face(s) in view · {snap.ms_per_frame:.1f} ms/frame")
    recommendations(reading and replace(reading, source="locked" if locked else "live"), key="live")
    browser_sync("browser_profile_list")


@st.fragment
def photo_recommendations(reading: Reading | None, key: str) -> None:
    """The list for a photo or snapshot: a mark, a filter or an answer reruns only this, not the photo's reading."""
    recommendations(reading, key)
    browser_sync("browser_profile_list")


# ---------------------------------------------------------------- pages

def mood_page() -> None:
    st.set_page_config(page_title="Mood to movie", page_icon="🎬", layout="wide")
    st.title("🎬 Mood to movie")
    st.caption("Show your face: a CNN reads your expression and suggests top IMDb movies for the mood. "
               "🔒 Frames and photos are processed in memory only: never stored, never logged.")
    # A top-50 list needs more room than Streamlit's default sidebar (users can still drag it), and compact rows.
    st.markdown("<style>section[data-testid='stSidebar'] {width: 460px !important;} "
                "[class*='st-key-film_'] {gap: 0.2rem;} [class*='st-key-film_'] p {margin-bottom: 0.1rem;}</style>",
                unsafe_allow_html=True)
    profile = session_profile()  # first: it brings back this person's resting face
    ready = take_browser_copy(profile)
    try:
        rec = session_recognizer(get_recognizer(str(MODEL), (_mtime(MODEL), _mtime(sidecar_path(MODEL))),
                                                detector_name()))
    except (ValueError, RuntimeError) as e:
        st.error(f"The emotion model could not be loaded: {e}")
        st.stop()

    mode = st.radio("Input", INPUT_MODES, key="input_mode", horizontal=True)
    if mode != "Webcam":
        st.session_state["webcam_rendered"] = False
    reading, key, live = None, "", None
    if mode == "Webcam":
        live = webcam(rec)
    else:
        picture = st.file_uploader("Upload a photo", type=["jpg", "jpeg", "png", "webp", "bmp"],
                                   max_upload_size=MAX_UPLOAD_MB) if mode == "Photo" \
            else st.camera_input("Take a snapshot")
        if picture is not None:
            data = picture.getvalue()
            reading, key = still_image(data, rec), hashlib.sha256(data).hexdigest()[:16]

    with st.sidebar:
        st.header("Your movies")
        if not ready:
            st.caption("Opening the profile kept in this browser…")
        elif mode == "Webcam" and live is not None:
            live_recommendations()
        else:
            photo_recommendations(reading, key)
        if ready:
            resting_panel(mode, live)
            contribution_panel()
            mapping_editor()
            data_panel(profile)
        catalogue_panel(access.session_owner(st.session_state, access.load_config(st.secrets),
                                             access.account_id(st.user)))
        browser_sync("browser_profile")


def main() -> None:
    """Bounds the uploads every session holds, names the pages in the sidebar (a file-named "app" entry
    otherwise) and runs the chosen one."""
    if runtime.exists():
        cap_sessions(runtime.get_instance().uploaded_file_mgr)
    page = st.navigation([st.Page(mood_page, title="Mood to movie", icon="🎬", default=True),
                          st.Page("pages/1_Train_and_evaluate.py", title="Train and evaluate", icon="🧪")])
    if page.title != "Mood to movie":
        st.session_state["webcam_rendered"] = False  # the webcam is not on screen (see keep_stream_alive)
    page.run()


main()
