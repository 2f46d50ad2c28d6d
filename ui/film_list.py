"""The list: the mood, its genre, the filters, and the 50 films with their one-click marks."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from fer.emotions import EMOTIONS
from fer.profiles.store import Profile, ProfileError, apply_marks
from fer.recommend.person import FILTER_KEYS, RUNTIME, as_arguments, best_rating, filter_start, years
from fer.recommend.ranker import recommend, steady
from fer.vision.mood import Reading
from ui.answers import not_sure
from ui.loaders import catalogue, catalogue_file, mtime, posters
from ui.mapping import current_mapping
from ui.profile import profile_kind, session_profile
from ui.state import save, wkey
from ui.text import literal

LISTED = 50  # films in the list (the paper's top 50); twice as many are ranked, the rest fill gaps marks leave


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
    sure = f"{reading.confidence:.0%} sure" + ("" if reading.source == "the only face" else f" · {reading.source}")
    c1.metric("Mood", reading.emotion.capitalize(), sure, delta_color="off", delta_arrow="off")
    c2.metric("Genre", genre)
    try:
        movies, _ = catalogue()
    except ValueError as e:
        st.error(literal(e))
        return
    filters = list_filters(movies)
    profile = session_profile()
    record_marks(profile)
    try:
        top = steady_list(lambda: recommend(reading.probs, current_mapping(), movies, profile, 2 * LISTED,
                                            **filters), reading, filters, profile)
    except ProfileError as e:
        st.warning(literal(e))
        top = recommend(reading.probs, current_mapping(), movies, None, LISTED, **filters)
    if not top.empty:
        st.caption(genres_line(top))
    film_list(top, profile)


def genres_line(top: pd.DataFrame) -> str:
    """Every genre the list holds, the chosen ones first, learnt ones said to be learnt (the "Genre" above names
    the mood's chosen genre only)."""
    held = set(top["list_genre"])
    genres = [(g, source) for g, source in top.attrs.get("genres", {}).items() if g in held]
    chosen = [g for g, source in genres if source != "learnt"]
    learnt = [g for g, source in genres if source == "learnt"]
    return "In this list: " + ", ".join(chosen) + (f"; also {', '.join(learnt)}, learnt from your 👍" if learnt else "")


def steady_list(ranked: Callable[[], pd.DataFrame], reading: Reading, filters: dict, profile: Profile) -> pd.DataFrame:
    """While the reading, filters, mapping and catalogue stay the same, marks change the list in place
    (fer.recommend.ranker.steady): a film never leaves the list between a person's clicks unless they hid it, and the
    films that fill its gaps come from the ranking made for this context (ranked again by "Re-rank with my
    marks"), so a click costs no ranking."""
    probs = tuple(round(reading.probs[e], 1) for e in EMOTIONS) if filters["mix"] else reading.emotion
    context = (probs, repr(sorted(filters.items())), repr(current_mapping()), mtime(catalogue_file()),
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


def list_filters(movies: pd.DataFrame) -> dict:
    """Mood mix, learnt genres, hide seen, years, minimum rating, runtime; starting from what this person chose
    last time. A range left at its full extent is no filter (films with an unknown year or runtime stay)."""
    start = filter_start(st.session_state.get("saved", {}).get("filters"), movies)
    with st.expander("Filters and mood mix"):
        st.toggle("Mood mix: blend the genres of my leading emotions", start["mix"], key=wkey("mix"),
                  on_change=_save_filters, help="Off: the winning emotion's genre (the paper's list). On: each "
                  "emotion of at least 10 % brings its genre, in proportion to its probability.")
        st.toggle("Add genres learnt from my 👍", start["learnt_genres"], key=wkey("learnt_genres"),
                  on_change=_save_filters, help="On: genres your thumbs taught for a mood join its list as a "
                  "labelled share (the genre chosen for the mood always leads). Off: only the chosen genres.")
        st.toggle("Hide films I've seen", start["hide_seen"], key=wkey("hide_seen"), on_change=_save_filters)
        st.slider("Years", *years(movies), start["years"], key=wkey("years"), on_change=_save_filters)
        st.slider("Minimum IMDb rating", 0.0, best_rating(movies), start["min_rating"], 0.5, format="%.1f",
                  key=wkey("min_rating"), on_change=_save_filters)
        st.slider("Runtime (minutes)", *RUNTIME, start["runtime"], 10, key=wkey("runtime"), on_change=_save_filters)
    return as_arguments({name: st.session_state[wkey(name)] for name in FILTER_KEYS}, movies)


def _save_filters() -> None:
    save("filters", {k: st.session_state[wkey(k)] for k in FILTER_KEYS if wkey(k) in st.session_state})


MARKS = {"seen": ":material/visibility: Seen", "up": ":material/thumb_up:", "down": ":material/thumb_down:"}


def film_list(top: pd.DataFrame, profile: Profile) -> None:
    """The 50 films: title (never cut), year, rating, runtime, why it is here, where to watch, and one-click
    marks (seen, thumbs up, thumbs down) that change the list at once and stay in the person's profile."""
    if error := st.session_state.pop("profile_error", None):
        st.warning(literal(error))
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
    st.caption(literal(profile_kind()))


def film_row(film, poster: bytes | None, profile: Profile, key: str) -> None:
    marks = (["seen"] if film.seen else []) + {1: ["up"], -1: ["down"]}.get(film.thumb, [])
    picture, text = st.columns([1, 5]) if poster else (None, st.container())
    if picture is not None:
        picture.image(poster, width="stretch")
    year = "" if pd.isna(film.year) else f" ({film.year})"
    minutes = "" if pd.isna(film.runtime) else f" · {film.runtime} min"
    text.markdown(f"**{film.rank}. [{literal(film.title)}]({film.url})**{year} · {film.rating:.1f}★{minutes} "
                  f"· [where to watch ↗]({film.watch_url})  \n:small[:gray[{literal(film.reason)}]]")
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
