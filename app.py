"""Mood-to-movie: the main page. Webcam, photo or snapshot -> emotion -> genre -> top-50 IMDb movies.

    streamlit run app.py

This file only composes the page: its Streamlit pieces live in ui/, everything else in fer/. Environment
overrides (used by the tests): see fer/files.py, and FER_IMDB_SOURCE (refresh source).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from fer.server.uploads import bound_uploads
from fer.vision.images import MAX_UPLOAD_MB
from ui.browser import browser_sync, take_browser_copy
from ui.inputs import camera_note, live_recommendations, photo_recommendations, still_image, webcam
from ui.loaders import page_recognizer
from ui.mapping import mapping_editor
from ui.panels import catalogue_panel, contribution_panel, data_panel, resting_panel
from ui.profile import session_profile
from ui.training import current_owner

INPUT_MODES = ("Webcam", "Photo", "Snapshot")


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
        rec = page_recognizer()
    except (ValueError, RuntimeError) as e:
        st.error(f"The emotion model could not be loaded: {e}")
        st.stop()

    mode = st.radio("Input", INPUT_MODES, key="input_mode", horizontal=True)
    if mode != "Webcam":
        st.session_state["webcam_rendered"] = False
    reading, key, live, picture = None, "", None, None
    if mode != "Photo":
        camera_note()
    if mode == "Webcam":
        live = webcam(rec)
    else:
        picture = st.file_uploader("Upload a photo", type=["jpg", "jpeg", "png", "webp", "bmp"],
                                   max_upload_size=MAX_UPLOAD_MB) if mode == "Photo" \
            else st.camera_input("Take a snapshot")
        if picture is not None:
            reading, digest = still_image(picture.getvalue(), rec)
            key = digest[:16]
    if mode == "Webcam" or picture is None:
        st.session_state.pop("photo", None)  # a photo no longer on screen is not kept in this session's memory

    with st.sidebar:
        st.header("Your movies")
        if not ready:
            st.caption("Opening the profile kept in this browser…")
        elif mode == "Webcam" and live is not None:
            live_recommendations()
        else:
            photo_recommendations(reading, key)
        if ready:
            resting_panel(mode, live, rec)
            contribution_panel()
            mapping_editor()
            data_panel(profile)
        catalogue_panel(current_owner())
        browser_sync("browser_profile")


def main() -> None:
    """Bounds the uploads the server holds (if its start hook has not; says so to a visitor whose file it let go),
    names the pages in the sidebar (a file-named "app" entry otherwise) and runs the chosen one."""
    # A real server only: AppTest's runtime is a stand-in (passing isinstance) whose every answer is another one.
    if type(server := runtime.get_instance() if runtime.exists() else None) is runtime.Runtime and \
            (note := bound_uploads(server, getattr(get_script_run_ctx(), "session_id", None))):
        st.warning(note)
    page = st.navigation([st.Page(mood_page, title="Mood to movie", icon="🎬", default=True),
                          st.Page("pages/1_Train_and_evaluate.py", title="Train and evaluate", icon="🧪")])
    if page.title != "Mood to movie":
        st.session_state["webcam_rendered"] = False  # the webcam is not on screen (see keep_stream_alive)
    page.run()


@asynccontextmanager
async def _bounded_from_start(_app: st.App) -> AsyncIterator[None]:
    """The upload bounds from server start: a script may upload before anyone's page ever runs."""
    bound_uploads(runtime.get_instance())
    yield


if __name__ == "__main__":  # a page run: Streamlit (and AppTest) run this file as __main__
    main()
else:  # `streamlit run app.py` finds this st.App by reading the file, imports it once as a module and serves this
    # same file through it: Streamlit's routes and settings, plus the hook above at start. A plain script runs no app
    # code before some page runs: a script uploading to a fresh server first met no bound (issue 49).
    app = st.App(__file__, lifespan=_bounded_from_start)
