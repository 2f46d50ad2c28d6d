"""The three inputs (webcam, photo, snapshot): what the face reads as, and the list that follows the reading.

NOTE: the webcam's frames are read on streamlit-webrtc's worker thread by fer.vision.live.LiveMood, never with st.*:
the page reads LiveMood's thread-safe snapshot in a fragment that reruns every second."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import cv2
import pandas as pd
import streamlit as st

from fer.emotions import EMOTIONS
from fer.vision import explain
from fer.vision.draw import draw_faces
from fer.vision.images import load_image
from fer.vision.live import WEBRTC_RENDERED_RUN_COUNT, LiveMood
from fer.vision.mood import Reading, read_mood
from fer.vision.recognizer import EmotionRecognizer
from ui.browser import browser_sync
from ui.film_list import recommendations
from ui.marks import marks_panel
from ui.profile import session_profile
from ui.state import set_resting

if TYPE_CHECKING:
    import altair as alt

NO_FACE_HINT = ("No face found. Try a brighter, front-facing photo in which the face is larger "
                "(at least about 60 pixels wide), without sunglasses or strong shadows.")


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
    numbered = len(faces) > 1  # a group's boxes carry the numbers of the charts' "Face 1", "Face 2"…
    if note:
        st.info(note)
    why = bool(faces) and st.toggle(
        "Show why", key="show_why", help=f"Colours the parts of the largest faces (up to {explain.MAX_WHY}) that "
        "moved the reading most (covering them changes it most).")
    if why:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        explained = faces[:explain.MAX_WHY]  # NOTE: ~0.4 s of server time per face, shared by every visitor
        shown = explain.overlay(draw_faces(image, faces, numbered), explained,
                                [explain.occlusion_map(rec, gray, f) for f in explained], rec)
    else:
        shown = draw_faces(image, faces, numbered)
    st.image(shown, channels="BGR", width="content")  # at most its own size: a small photo is not blown up
    if why:
        st.image(explain.legend(), channels="BGR",
                 caption="Heatmap: blue, covering this part changes the reading least · red, most")
    if not faces:
        st.warning(NO_FACE_HINT)
        return None
    face_charts(faces)
    # NOTE: the crop stays in memory, and is kept only if the person opts in and answers a "Not sure".
    st.session_state["last_crop"] = rec.crop(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), faces[0]) \
        if st.session_state.get("contribute") else None
    if st.button("Use face 1 (the largest) as my resting face" if numbered else "Use this picture as my resting face",
                 help="Look relaxed in it: later readings are corrected for how your calm face reads."):
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
    if ctx.state.playing:
        return live
    st.caption("Press START and allow the camera. If the video does not start within a few seconds, the "
               "network is blocking WebRTC: use the **Snapshot** mode instead.")
    return None


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
    marks_panel(session_profile())
    browser_sync("browser_profile_list")


@st.fragment
def photo_recommendations(reading: Reading | None, key: str) -> None:
    """The list for a photo or snapshot, and "My marks" (drawn with it, so each shows the other's latest change): a
    mark, a filter or an answer reruns only this, not the photo's reading."""
    recommendations(reading, key)
    marks_panel(session_profile())
    browser_sync("browser_profile_list")
