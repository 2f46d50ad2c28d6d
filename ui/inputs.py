"""The three inputs (webcam, photo, snapshot): what the face reads as, and the list that follows the reading.

NOTE: the webcam's frames are read on streamlit-webrtc's worker thread by fer.vision.live.LiveMood, never with st.*:
the page reads LiveMood's thread-safe snapshot in a fragment that reruns every second."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import cv2
import numpy as np
import pandas as pd
import streamlit as st

from fer.emotions import EMOTIONS
from fer.server import access
from fer.vision import explain
from fer.vision.classifier import Classifier
from fer.vision.detect import HaarDetector, YuNetDetector
from fer.vision.draw import draw_faces
from fer.vision.images import load_image
from fer.vision.live import WEBRTC_RENDERED_RUN_COUNT, LiveMood
from fer.vision.mood import Reading, as_vector, read_mood
from fer.vision.recognizer import EmotionRecognizer, Face
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


@dataclass
class Photo:
    """A photo as the model read it (no person's correction), kept for the reruns that show it again: the latest
    photo only, in this session's memory (never written anywhere). Only what is small: not the decoded picture (up to
    1920x1920x3, ~11 MB a session beside the upload itself), which each rerun decodes again from the upload."""
    digest: str  # sha256 of its bytes
    classifier: Classifier  # what read it: a new model or detector reads it again
    detector: HaarDetector | YuNetDetector
    faces: list[Face]  # the model's own readings, largest first
    note: str | None  # "N faces found: reading the 12 largest."
    maps: list[np.ndarray] | None = None  # "Show why" of the first explain.MAX_WHY faces (48x48 each), made when asked


def read_photo(digest: str, image: np.ndarray, rec: EmotionRecognizer) -> Photo:
    """The reading of the photo whose bytes have this sha256 (decoded: `image`) from this session's memory when it
    is the one read last, by this model; else detected and classified once.

    Why: every full rerun of the page (a toggle, the mapping, the resting face) draws the photo again, and reading
    it costs a detection and a classification (with "Show why", the maps too). Only the decoding is done again: the
    picture is not kept (see Photo), a decoded photo (up to 11 MB a session) would sit outside the upload bound."""
    held = st.session_state.get("photo")
    if held is not None and held.digest == digest and held.classifier is rec.classifier \
            and held.detector is rec.detector:
        return held
    st.session_state.pop("photo", None)  # one photo at a time, also while the next one is read
    # The model's own reading (uncorrected): each run applies this person's correction to it, which costs nothing, so
    # a new resting face or answer needs no new reading.
    faces, note = rec.calibrated([]).read_photo(image)
    held = st.session_state["photo"] = Photo(digest, rec.classifier, rec.detector, faces, note)
    return held


def still_image(data: bytes, rec: EmotionRecognizer) -> tuple[Reading | None, str]:
    """Photo / snapshot: annotate, chart every face, and read the mood (largest face or the group); and the sha256
    of its bytes (what the page keys the photo's list and answers by)."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        image = load_image(data)
    except ValueError as e:
        st.error(str(e))
        st.session_state.pop("photo", None)  # the last photo is no longer the one on screen
        return None, digest
    photo = read_photo(digest, image, rec)
    return shown_photo(image, photo, rec), digest


def shown_photo(image: np.ndarray, photo: Photo, rec: EmotionRecognizer) -> Reading | None:
    """The photo drawn with its faces (and "Show why"), their charts, and the mood they read as (None: no face)."""
    faces = rec.corrected(photo.faces)
    numbered = len(faces) > 1  # a group's boxes carry the numbers of the charts' "Face 1", "Face 2"…
    if photo.note:
        st.info(photo.note)
    why = bool(faces) and st.toggle(
        "Show why", key="show_why", help=f"Colours the parts of the largest faces (up to {explain.MAX_WHY}) that "
        "moved the reading most (covering them changes it most).")
    explained = faces[:explain.MAX_WHY]
    if why and photo.maps is None:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)  # NOTE: ~0.4 s of server time per face, shared by every visitor
        photo.maps = [explain.occlusion_map(rec, gray, f) for f in explained]
    shown = draw_faces(image, faces, numbered)
    st.image(explain.overlay(shown, explained, photo.maps, rec) if why else shown, channels="BGR",
             width="content")  # at most its own size: a small photo is not blown up
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
    # Offered only where a resting face can correct the readings (see the "My resting face" panel).
    if rec.can_calibrate and st.button(
            "Use face 1 (the largest) as my resting face" if numbered else "Use this picture as my resting face",
            help="Look relaxed in it: later readings are corrected for how your calm face reads."):
        set_resting(as_vector(photo.faces[0].probs).tolist())  # the model's own reading: what a calibration records
        st.rerun()
    return read_mood([f.probs for f in faces], len(faces) > 1 and group_toggle(), rec.not_sure_below)


# The webcam's ICE servers. A failed TURN lookup falls back to a public STUN server: enough on most home networks.
STUN = {"iceServers": [{"urls": ["stun:stun.l.google.com:19302"]}]}
TURN_TTL_S = 24 * 3600  # how long Twilio is asked to keep each set of TURN credentials valid
TURN_FRESH_S = 3600  # one lookup serves every session of this server this long (its credentials live 23 h more)
TURN_RETRY_S = 60  # after a failed lookup: STUN, and no new lookup (a network call per run) for this long
TURN_TIMEOUT_S = 10  # a lookup runs on a visitor's script thread: it may hold their page this long at most
# NOTE: every session's script thread reads and writes these, under _turn_lock: (credentials, until, configuration,
# failure) of the last lookup, and whether a lookup is in flight. One thread asks at a time, outside the lock; while it
# does, the others serve the last answer even past its `until`, or, with none for their credentials (a fresh server),
# wait for its answer (at most TURN_TIMEOUT_S, then STUN): an expiry costs one Twilio call, not one a session.
_turn: tuple[tuple[str, str], float, dict, str | None] | None = None
_turn_asking = False
_turn_lock = threading.Condition()


def rtc_configuration() -> dict:
    """ICE servers: [] on localhost (host candidates suffice); TURN from st.secrets when deployed (`[[ice_servers]]`
    as written, or `[twilio]` credentials, asked for once an hour per server). A failure is one sentence and STUN."""
    try:
        if "ice_servers" in st.secrets:
            return {"iceServers": [dict(s) for s in st.secrets["ice_servers"]]}
        if "twilio" not in st.secrets:
            return {"iceServers": []}
        tw = st.secrets["twilio"]
        configuration, failure = twilio_configuration(str(tw["account_sid"]), str(tw["auth_token"]))
    except FileNotFoundError:
        return {"iceServers": []}  # no secrets.toml: fine on localhost
    except Exception as e:  # noqa: BLE001 (unreadable TURN settings must not take the page down)
        configuration, failure = STUN, f"The TURN settings in the secrets could not be read ({type(e).__name__})"
    if failure:
        st.warning(f"{failure}: using a public STUN server, so the webcam may not connect (Snapshot always works).")
    return configuration


def twilio_configuration(sid: str, token: str) -> tuple[dict, str | None]:
    """Twilio's TURN servers as an RTC configuration, and None; or STUN and what failed. Asked for once per
    TURN_FRESH_S by this server (after a failure, once per TURN_RETRY_S), not on every run of every session."""
    global _turn, _turn_asking
    with _turn_lock:
        while True:
            held = _turn if _turn is not None and _turn[0] == (sid, token) else None
            if held is not None and (time.monotonic() < held[1] or _turn_asking):
                return held[2], held[3]
            if not _turn_asking:
                break
            # None to serve: the lookup in flight answers (or, for other credentials, ends); a lookup stuck
            # beyond its own timeout (name resolution is not covered by it) holds nobody else's page longer.
            if not _turn_lock.wait_for(lambda: not _turn_asking, timeout=TURN_TIMEOUT_S):
                return STUN, "Twilio did not answer in time"
        _turn_asking = True
    held = None
    try:
        held = ((sid, token), time.monotonic() + TURN_FRESH_S, {"iceServers": twilio_servers(sid, token)}, None)
    except Exception as e:  # noqa: BLE001 (a TURN provider outage must not take the page down)
        held = ((sid, token), time.monotonic() + TURN_RETRY_S, STUN,
                f"Could not get TURN servers from Twilio ({type(e).__name__})")
    finally:
        with _turn_lock:
            _turn, _turn_asking = held or _turn, False
            _turn_lock.notify_all()
    return held[2], held[3]


def twilio_servers(sid: str, token: str) -> list[dict]:
    """A new set of Twilio TURN credentials (network: up to TURN_TIMEOUT_S)."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    client = Client(sid, token, http_client=TwilioHttpClient(timeout=TURN_TIMEOUT_S))
    return client.tokens.create(ttl=TURN_TTL_S).ice_servers


def camera_allowed(url: str | None) -> bool:
    """Whether a browser offers the camera to a page at `url`: only to https pages and to this machine's own
    names (a "secure context": localhost, *.localhost, loopback addresses). Unknown: assume it does, say nothing."""
    parts = urlsplit(url or "")
    return not parts.scheme or parts.scheme == "https" or access.names_this_machine(parts.netloc) \
        or (parts.hostname or "").endswith(".localhost")


def camera_note() -> None:
    """One sentence where the browser will refuse the camera (the app opened over plain http from another
    machine): the webcam and snapshot widgets would only show a browser error or a disabled button."""
    if not camera_allowed(st.context.url):
        st.warning("Browsers offer the camera only to https:// pages or to the computer running the app, and this "
                   "page is plain http: use **Photo** (upload a picture) instead.")


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
