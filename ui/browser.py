"""The visitor's profile kept in their own browser (anyone but the browser on the machine of an app not hosted
publicly, whose profile is on that machine's disk): a localStorage entry written and read by a small component
whose JavaScript is browser.js. The app never destroys a copy it cannot read (a newer version's, a damaged one):
it is kept as it is, and nothing is written there until the visitor chooses what to do with it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer.profiles.document import Refused, is_empty, parse, salvage, stored_text
from fer.profiles.store import Profile, ProfileError
from fer.server import access
from ui import client
from ui.state import reload_profile
from ui.text import literal

BROWSER_KEY = "mood-to-movie/profile"  # the browser's localStorage entry (one per site)
# NOTE: runs in the visitor's page, not on the server (browser.js says what it does). Streamlit's own component
# API (st.components.v2, no package); its answers are state values: one rerun when they change.
BROWSER_JS = (Path(__file__).parent / "browser.js").read_text(encoding="utf-8")
browser_store = st.components.v2.component("mood_to_movie.browser_profile", js=BROWSER_JS)


def own_machine() -> bool:
    """This session is a browser on the machine that runs an app not hosted publicly (fer/server/access.py
    `own_machine`): its anonymous profile is that machine's, on its disk. Everyone else's, from the network or a
    proxy as on a public deploy, lives in their own browser. The page asks only here (ui/profile.py too)."""
    return access.own_machine(access.hosted(), client.connection())


def keeps_in_browser() -> bool:
    """An anonymous visitor (not this machine's browser): their profile lives in their own browser, none on the
    server."""
    return not own_machine() and not access.account_id(st.user)


def browser_copy() -> str | None:
    """The profile text this browser holds ("" for none) once its storage answered; None until then."""
    if st.session_state.get("browser_erased"):
        return ""
    return (st.session_state.get("browser_profile") or {}).get("stored")


def take_browser_copy(profile: Profile) -> bool:
    """Brings the browser's copy into a visitor's session profile when its storage answers, and again whenever
    another tab of this browser changed it (that tab started from this copy, so its copy replaces this one).
    False on a visitor's first run while the storage has not answered (the profile's parts wait one run
    for it, so no widget is drawn at a default the copy then changes); a late answer still restores, with new
    widgets."""
    if own_machine():
        return True
    stored = browser_copy()
    if stored is None:
        first = not st.session_state.get("browser_waited")
        st.session_state["browser_waited"] = True
        return not first
    if st.session_state.get("browser_taken") != stored:
        changed_elsewhere = st.session_state.get("browser_read", False)
        st.session_state.update(browser_read=True, browser_taken=stored)
        if keeps_in_browser() and (stored or changed_elsewhere):
            _take(profile, stored, changed_elsewhere)
    if keeps_in_browser() and st.session_state.get("browser_kept"):
        _offer_choice(profile)
    return True


def _take(profile: Profile, stored: str, replace: bool) -> None:
    try:
        doc = parse(stored) if stored else None
    except Refused as e:  # kept as it is: browser_sync writes nothing there until the visitor chooses
        st.session_state["browser_kept"] = (stored, str(e))
        return
    st.session_state.pop("browser_kept", None)
    try:
        profile.restore(doc, replace=replace)
    except ProfileError as e:
        st.session_state["profile_error"] = str(e)
        return
    reload_profile(profile)


def _offer_choice(profile: Profile) -> None:
    """The copy this app could not read: one sentence, its reason, and the visitor's three ways on."""
    text, why = st.session_state["browser_kept"]
    readable = salvage(text)
    with st.container(border=True):
        st.warning("This browser keeps a profile this app cannot read, and it stays there as it is until you "
                   "choose below (until then your marks last for this tab only).")
        st.caption(literal(why))
        c1, c2, c3 = st.columns(3)
        c1.download_button("Download it as it is", text.encode("utf-8", "replace"), "mood-to-movie-kept-profile.json",
                           "application/json", key="browser_kept_download")
        c2.button("Import what can be read", key="browser_kept_import", on_click=_choose, args=(profile, readable),
                  disabled=readable is None or is_empty(readable),
                  help="Every mark, setting and answer of it that this app can read joins your profile here; "
                       "then your profile replaces the copy in this browser.")
        c3.button("Start fresh", key="browser_kept_fresh", on_click=_choose, args=(profile, None),
                  help="Your profile here (what you marked in this tab) replaces the copy in this browser.")


def _choose(profile: Profile, readable: dict | None) -> None:
    try:
        if readable is not None:
            profile.restore(readable)
    except ProfileError as e:
        st.session_state["profile_error"] = str(e)
        return
    st.session_state.pop("browser_kept", None)
    reload_profile(profile)


def browser_sync(key: str) -> None:
    """Mounts the browser's storage (for anyone but this machine's own browser). A visitor's session profile is
    written there whenever it changed (removed when empty); a logged-in account's profile never is (a shared
    computer keeps nothing)."""
    if own_machine():
        return
    read = bool(st.session_state.get("browser_read"))
    data = {"key": BROWSER_KEY, "read": not read and key == "browser_profile",
            "listen": key == "browser_profile" and keeps_in_browser(),
            "erase": bool(st.session_state.get("browser_erased"))}
    # NOTE: the document goes out only when the profile changed since this mount last sent it: the webcam's
    # list reruns every second, and a profile can be 1 MB.
    sent, version = st.session_state.setdefault("browser_sent", {}), None
    if read and keeps_in_browser() and not st.session_state.get("browser_kept"):
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
