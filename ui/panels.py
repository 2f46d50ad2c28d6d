"""The sidebar's panels under the list: my data, help improve the model, my resting face, the catalogue."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import streamlit as st

from fer.files import runs_dir
from fer.profiles.store import Profile, ProfileError
from fer.recommend.catalogue import ATTRIBUTION, refresh_flight, start_refresh
from fer.recommend.neighbours import ATTRIBUTION as LEARNT_FROM
from fer.server import access
from fer.server.jobs import Busy
from fer.training.contributions import contributed_dir, withdraw
from fer.vision.live import LiveMood
from fer.vision.recognizer import EmotionRecognizer
from ui.browser import browser_copy
from ui.loaders import catalogue, catalogue_file, imdb_source
from ui.profile import import_profile, login_configured, profile_kind
from ui.state import reload_profile, save, set_resting, wkey
from ui.text import literal


def data_panel(profile: Profile) -> None:
    """Whose profile this is, log in/out where login is set up, and the person's rights: download, delete."""
    notice = st.session_state.pop("data_notice", None)
    with st.expander("My data", expanded=notice is not None):
        if notice:
            st.success(literal(notice))
        st.caption(literal(profile_kind()) + " It holds your marks, filters, mapping, resting-face "
                   "numbers and \"not sure\" answers: never an image.")
        if access.account_id(st.user):
            st.button("Log out", on_click=st.logout)
        elif login_configured():
            st.button("Log in to keep my profile", on_click=st.login)
        try:
            data = json.dumps({"profile": st.session_state["profile_kind"], **profile.export()}, indent=1)
        except ProfileError as e:
            st.warning(literal(e))
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
    st.session_state["data_notice"] = "Your data was deleted."


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


def resting_panel(mode: str, live: LiveMood | None, rec: EmotionRecognizer) -> None:
    """Calibrate the reading to this person's resting face (numbers only, kept in this session)."""
    with st.expander("My resting face"):
        resting = st.session_state.get("resting")
        usable = rec.can_calibrate  # see ui.loaders.session_recognizer
        if not usable:  # said here only: where the person looks for their calibration, as when it works
            st.caption("This model has no neutral reference, so "
                       + ("your resting face is kept in your profile but not used." if resting
                          else "it cannot be calibrated to a resting face."))
        else:
            st.caption("Calibrated: readings are corrected for your resting face (7 numbers, kept in your profile)."
                       if resting else "A calm face that naturally looks stern can read as sad or angry. Calibrate: "
                       "relax and look at the camera (webcam), or use a relaxed photo or snapshot of yourself.")
        if usable and mode == "Webcam" and live is not None and st.button("Calibrate: look relaxed for 2 seconds"):
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
    job = refresh_flight(catalogue_file())
    if owner is not None and st.button("Refresh from IMDb", disabled=job.state.running,
                                       help="Downloads IMDb's public datasets (~250 MB) and rebuilds the list."):
        try:
            start_refresh(owner, imdb_source(), catalogue_file())
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
        _, meta = catalogue()
        st.caption(f"Catalogue: {meta['rows']:,} movies, IMDb snapshot {meta.get('snapshot') or '?'}, "
                   f"built {meta['built'][:10]}.")
    except ValueError:
        st.caption("No movie catalogue yet.")
    st.caption(f"{ATTRIBUTION} {LEARNT_FROM}")


@st.fragment(run_every=1.0)
def refresh_progress() -> None:
    """Polls the running refresh; when it ends, reruns the page so the list and caption use the new file."""
    state = refresh_flight(catalogue_file()).state
    if not state.running:
        st.rerun()
    st.progress(min(state.done / state.total, 1.0) if state.total else 0.0,
                text=f"Refreshing the catalogue: {state.stage or 'starting'}…")
