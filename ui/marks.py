""""My marks": every film the person marked, with the mood its thumb was given in, searchable and each mark undone
in one click; and marking a film that is not in the list, found in the catalogue."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fer.profiles.store import Profile, ProfileError
from ui.loaders import catalogue
from ui.text import literal

SHOWN = 30  # marks listed at once (the search narrows them)
FOUND = 8  # catalogue matches offered at once
THUMBS = {1: "👍", -1: "👎"}


def marks_panel(profile: Profile) -> None:
    """The person's marks, newest first; "Undo" takes one back (the list is ranked again with what is left)."""
    with st.expander("My marks"):
        try:
            marks = profile.marks()
        except ProfileError as e:
            st.warning(literal(e))
            return
        try:
            movies = catalogue()[0]
        except ValueError:
            movies = pd.DataFrame(columns=["tconst", "title", "year"])
        if not marks:
            st.caption("No marks yet: mark films in the list (Seen, 👍, 👎), or find one below.")
        else:
            films = movies.set_index("tconst")
            query = st.text_input("Search my marks", key="marks_search", placeholder="a title")
            found = [m for m in marks if query.strip().lower() in _title(films, m["tconst"]).lower()]
            st.caption(f"{len(marks)} film(s) marked" + (f", {len(found)} match" if query.strip() else "") + ".")
            for m in found[:SHOWN]:
                _mark_row(profile, films, m)
            if len(found) > SHOWN:
                st.caption(f"… and {len(found) - SHOWN} more: search to find them.")
        _find_and_mark(profile, movies)


def _title(films: pd.DataFrame, tconst: str) -> str:
    if tconst not in films.index:
        return tconst
    film = films.loc[tconst]
    return f"{film['title']}" + ("" if pd.isna(film["year"]) else f" ({film['year']})")


def _mark_row(profile: Profile, films: pd.DataFrame, mark: dict) -> None:
    tconst, thumb = mark["tconst"], mark["rating"]
    words = (["seen"] if mark["seen"] else []) + \
        ([THUMBS[thumb] + (f" when {mark['mood']}" if mark["mood"] else "")] if thumb else [])
    text, seen, rated = st.columns([5, 2, 2], vertical_alignment="center")
    text.markdown(f"{literal(_title(films, tconst))}  \n:small[:gray[{literal(' · '.join(words))}]]")
    if mark["seen"]:
        seen.button("Undo seen", key=f"undo_seen_{tconst}", on_click=_change, args=(profile, tconst, "unseen"))
    if thumb:
        rated.button(f"Undo {THUMBS[thumb]}", key=f"undo_thumb_{tconst}", on_click=_change,
                     args=(profile, tconst, "unrate"))


def _find_and_mark(profile: Profile, movies: pd.DataFrame) -> None:
    """A film that is not in the list: found by title in the catalogue, marked here (outside any mood's list)."""
    query = st.text_input("Mark a film that is not in the list", key="catalogue_search",
                          placeholder="search the catalogue by title").strip()
    if not query:
        return
    found = movies[movies["title"].str.contains(query, case=False, regex=False)].head(FOUND)
    if found.empty:
        st.caption(f"No film in the catalogue has “{literal(query)}” in its title.")
        return
    for film in found.itertuples():
        text, seen, up, down = st.columns([4, 2, 1, 1], vertical_alignment="center")
        year = "" if pd.isna(film.year) else f" ({film.year})"
        text.markdown(literal(f"{film.title}{year}"))
        seen.button("Seen", key=f"add_seen_{film.tconst}", on_click=_change, args=(profile, film.tconst, "seen"))
        up.button("👍", key=f"add_up_{film.tconst}", on_click=_change, args=(profile, film.tconst, "up"))
        down.button("👎", key=f"add_down_{film.tconst}", on_click=_change, args=(profile, film.tconst, "down"))


def _change(profile: Profile, tconst: str, change: str) -> None:
    """One click's change; the list is ranked again, so a film whose 👎 or seen was undone comes back."""
    try:
        if change in ("seen", "unseen"):
            profile.mark_seen(tconst) if change == "seen" else profile.unmark_seen(tconst)
        else:
            profile.rate(tconst, {"up": 1, "down": -1, "unrate": 0}[change])
    except ProfileError as e:
        st.session_state["profile_error"] = str(e)
        return
    st.session_state.pop("shown", None)
