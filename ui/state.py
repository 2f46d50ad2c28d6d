"""This session's state: every key the pages keep in st.session_state, named in one place, and the
settings its profile-driven widgets start from.

Keys are plain strings (Streamlit's API); KEYS says what each holds, and tests/app/test_app.py checks that the
pages use no key it does not name."""

from __future__ import annotations

import streamlit as st

from fer.profiles.store import Profile, ProfileError
from fer.vision.personal import PERSONAL_SETTINGS

KEYS = {
    # the profile
    "profile": "this session's Profile (fer.profiles), opened once per session and login",
    "profile_kind": "the sentence that says where the profile is kept",
    "profile_email": "the account the profile was opened for (None: a visitor)",
    "profile_error": "one sentence to show above the list once (a busy database, a refused crop…)",
    "data_notice": "one sentence to show in \"My data\" once, opened (an import's count, a deletion)",
    "saved": "the profile's settings the widgets start from (read once per profile generation)",
    "generation": "bumped when the profile is restored, imported or deleted: profile widgets start anew",
    "imported": "the file id of the last imported document (an upload is imported once)",
    "confirm_delete": "\"Delete my data\" asked for its confirmation",
    # the visitor's browser copy (ui/browser.py)
    "browser_profile": "what the browser store component answered (stored text, failure)",
    "browser_read": "the browser's copy was taken into this session",
    "browser_taken": "the browser text last taken (another tab's change differs from it)",
    "browser_waited": "the first run waited for the browser's answer",
    "browser_erased": "the browser's copy was moved into an account: it is removed there",
    "browser_sent": "per store mount, the profile version it last sent",
    "browser_kept": "(text, reason) of a browser copy this app cannot read: kept there as it is, nothing written to "
                    "the browser until the visitor chooses (download, import what can be read, start fresh)",
    # the person
    "resting": "this person's resting-face reading (7 numbers)",
    "taught": "what their \"not sure\" answers taught (numbers only)",
    "session_recognizer": "(shared recogniser, person, recogniser adapted to this person)",
    "answers": "picture key -> their answer to its \"not sure\"",
    "calibrating": "a webcam resting-face calibration is running",
    "contribute": "widget: they opted in to give face crops with their answers",
    "contributed": "paths of the face crops they gave (to take them back)",
    "last_crop": "the grey face crop of the current photo (memory only; kept only with the opt-in)",
    "photo": "the latest photo or snapshot as the model read it (ui.inputs.Photo, by sha256; its faces, not its "
             "pixels; memory only): reruns show it without reading it again",
    # the list
    "shown": "(context, list shown, ranking it came from): marks change the list in place",
    "marks_shown": "mark control key -> (film, marks drawn, mood): record_marks writes the differences",
    "reranked": "clicks on \"Re-rank with my marks\" (a new ranking context)",
    "locked_mood": "the reading the webcam's list is locked on",
    # the webcam
    "live": "this session's LiveMood (its frame callback runs on a worker thread)",
    "webcam": "widget: streamlit-webrtc's context",
    "webcam_rendered": "the previous full run drew the webcam (see ui.inputs.keep_stream_alive)",
    # the training page (ui/evaluation.py)
    "evaluation": "the owner's last evaluation's figures (with predictions: this session only)",
    "eval_model": "widget: the model chosen to evaluate and promote",
}



def restore_person() -> None:
    """This session's resting face and taught answers from the profile's saved settings (none: none)."""
    for key in PERSONAL_SETTINGS:
        if st.session_state["saved"][key]:
            st.session_state[key] = st.session_state["saved"][key]
        else:
            st.session_state.pop(key, None)


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


def set_resting(resting: list[float] | None) -> None:
    """This person's resting-face reading (7 numbers) for this session and their profile; None resets it."""
    if resting is None:
        st.session_state.pop("resting", None)
    else:
        st.session_state["resting"] = resting
    save("resting", resting)
