"""This person's profile for the page: which store keeps it, where it is said to be kept, and importing into it."""

from __future__ import annotations

import streamlit as st

from fer.profiles import open_profile
from fer.profiles.document import parse
from fer.profiles.store import Profile, ProfileError
from fer.server import access
from ui.browser import keeps_in_browser, own_machine
from ui.loaders import secrets_section
from ui.state import profile_settings, reload_profile, restore_person
from ui.text import literal


def session_profile() -> Profile:
    """This person's profile, opened once per session (and again when they log in or out); their saved
    resting face comes back with it."""
    email = access.account_id(st.user)
    if st.session_state.get("profile_email", "-") != email:
        try:
            profile, kind = open_profile(email, not own_machine(), profile_database())
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



def profile_kind() -> str:
    """The sentence that says where this person's profile is kept."""
    if keeps_in_browser() and (st.session_state.get("browser_profile") or {}).get("failed"):
        return "This browser does not keep data for this site (its storage is blocked or full): your marks " \
            "last for this tab only, and nothing is written on the server."
    if keeps_in_browser() and login_configured():
        return st.session_state["profile_kind"] + " Log in to keep it on other devices too."
    return st.session_state["profile_kind"]


def import_profile(profile: Profile, text: str | bytes, from_browser: bool = False) -> None:
    """"Import my data", or the browser's copy added to an account (then removed from the browser): validated
    first, then one transaction; a refused document changes nothing."""
    try:
        doc = parse(text)
        profile.restore(doc)
    except (ValueError, ProfileError) as e:
        st.error(literal(e))
        return
    st.session_state["browser_erased"] = st.session_state.get("browser_erased") or from_browser
    reload_profile(profile)
    st.session_state["data_notice"] = f"Imported {len(doc['marks'])} film mark(s) and your settings."
    st.rerun()


def profile_database() -> str | None:
    """`[profiles] database_url` in the secrets: logged-in people's profiles in that PostgreSQL database, shared
    by every replica of the app (fer/profiles/postgres.py); none: one SQLite file per account on this server."""
    return secrets_section("profiles").get("database_url")


def login_configured() -> bool:
    """Login is set up in the secrets (`[auth]`)."""
    return bool(secrets_section("auth"))
