"""Emotion -> genre: the mapping editor and the mapping it makes (a preset, with this person's changes)."""

from __future__ import annotations

import streamlit as st

from fer.emotions import EMOTIONS
from fer.genres import GENRES, PRESETS, build_mapping
from fer.recommend.person import saved_mapping, saved_preset
from ui.state import save, wkey


def current_mapping() -> dict[str, str]:
    """Emotion -> genre from the mapping editor: the chosen preset, with the user's per-emotion changes."""
    preset = st.session_state.get(wkey("preset"), saved_preset(_saved()))
    start = saved_mapping(_saved(), preset)
    return build_mapping(preset, {e: st.session_state.get(wkey(f"genre_{preset}_{e}"), start[e]) for e in EMOTIONS})


def _saved() -> dict | None:
    """The mapping this person saved, as read when their profile was opened (widgets start from it)."""
    return st.session_state.get("saved", {}).get("mapping")


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
        preset = st.selectbox("Preset", presets, index=presets.index(saved_preset(_saved())), key=wkey("preset"),
                              on_change=_save_mapping)
        current = current_mapping()
        if changed := [e for e in EMOTIONS if current[e] != PRESETS[preset][e]]:
            st.caption(f"The {preset} preset with your changes: "
                       + ", ".join(f"{e} → {current[e]}" for e in changed) + ".")
        start = saved_mapping(_saved(), preset)
        for e in EMOTIONS:
            st.selectbox(e.capitalize(), GENRES, index=GENRES.index(start[e]), key=wkey(f"genre_{preset}_{e}"),
                         on_change=_save_mapping)
